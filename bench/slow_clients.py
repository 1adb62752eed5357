"""Slow clients: connections that send their request head one byte per second.

    python bench/slow_clients.py [--database-url URL] [--connections 1000] [--read-timeout 30]

Starts an embedded PostgreSQL unless --database-url is given, then a real server process
with DURABLE_READ_TIMEOUT set, opens N connections that each send a request head one byte
per second (the head is long enough never to finish), and reports: the server's open file
descriptors while they trickle, when the server closed them (seconds after they opened),
whether a normal client was served meanwhile, and the server's descriptors afterwards.
Timings belong here, never in the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time

import aiohttp
import psutil
from database import run_on_database
from long_poll import free_port

HEAD = b"POST /api/v1/queues HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 10_000


async def trickle(host: str, port: int, opened: float, closed_after: list[float]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for byte in HEAD:
            writer.write(bytes([byte]))
            try:
                data = await asyncio.wait_for(reader.read(1), timeout=1.0)  # one byte a second
            except TimeoutError:
                continue
            if data == b"":
                break  # the server closed the connection
    except ConnectionError:
        pass
    finally:
        closed_after.append(time.monotonic() - opened)
        writer.close()


async def run(database_url: str, connections: int, read_timeout: float) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DURABLE_LOG_LEVEL": "WARNING",
        "DURABLE_READ_TIMEOUT": str(read_timeout),
    }
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        *["-m", "durable_queue", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    proc = psutil.Process(server.pid)
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            deadline = time.monotonic() + 120
            while True:
                try:
                    async with session.get(f"{base}/readyz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                assert time.monotonic() < deadline, "the server never became ready"
                await asyncio.sleep(0.2)
            fds_idle = proc.num_fds()
            closed_after: list[float] = []
            opened = time.monotonic()
            tasks = [
                asyncio.create_task(trickle("127.0.0.1", port, opened, closed_after))
                for _ in range(connections)
            ]
            await asyncio.sleep(min(read_timeout / 2, 5))
            fds_during = proc.num_fds()
            started = time.perf_counter()
            async with session.get(f"{base}/api/v1/queues") as resp:
                served = resp.status
            normal_ms = (time.perf_counter() - started) * 1000
            await asyncio.gather(*tasks)
            fds_after = proc.num_fds()
    finally:
        server.kill()
        await server.wait()
    print(f"{connections:,} connections sending one header byte per second")
    print(f"DURABLE_READ_TIMEOUT {read_timeout:g} s")
    print(f"server fds: idle {fds_idle}, while trickling {fds_during}, after {fds_after}")
    print(
        "closed by the server after: "
        f"min {min(closed_after):.1f} s, median {statistics.median(closed_after):.1f} s, "
        f"max {max(closed_after):.1f} s (head would need {len(HEAD):,} s)"
    )
    print(f"a normal GET /api/v1/queues meanwhile: {served} in {normal_ms:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="PostgreSQL URI (default: an embedded one)")
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--read-timeout", type=float, default=30.0)
    args = parser.parse_args()
    run_on_database(args.database_url, lambda url: run(url, args.connections, args.read_timeout))


if __name__ == "__main__":
    main()
