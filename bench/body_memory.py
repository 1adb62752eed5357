"""Server memory under a burst of large creates: 200 concurrent 1 MiB `POST .../tasks`.

    python bench/body_memory.py [--database-url URL] [--creates 200] [--budget BYTES] [--rounds 1]

Starts an embedded PostgreSQL in a temporary directory unless --database-url is given,
then a real server process (`python -m durable_queue serve` on a free loopback port) with
DURABLE_MAX_INFLIGHT_BODY_BYTES set to --budget when given (else its default, 64 MiB; a
very large value emulates no bound). Each round fires --creates concurrent creates whose
bodies are just under DURABLE_MAX_BODY_BYTES (1 MiB); a create answered 503 is sent again
after its Retry-After, as the SDK does, until every one is created.

Reports the server's RSS before the first burst, its peak during the bursts (sampled
every 5 ms), and after them (once its CPU has been idle for half a second), with the
count of 503s and the time each round took. Timings belong here, never in the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import uuid

import aiohttp
import psutil
from database import run_on_database
from server_process import wait_until_ready

API = "/api/v1"
MiB = 1024 * 1024
BODY_BYTES = MiB - 1024  # under the default DURABLE_MAX_BODY_BYTES of 1 MiB


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def create_body(size: int) -> bytes:
    base = json.dumps({"task_name": "big", "params": {"pad": ""}}).encode()
    return json.dumps({"task_name": "big", "params": {"pad": "x" * (size - len(base))}}).encode()


class PeakRss:
    """The highest RSS of a process, sampled every `interval` seconds while running."""

    def __init__(self, proc: psutil.Process, interval: float = 0.005) -> None:
        self.proc = proc
        self.interval = interval
        self.peak = proc.memory_info().rss
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, self.proc.memory_info().rss)
            await asyncio.sleep(self.interval)

    def __enter__(self) -> PeakRss:
        self._task = asyncio.create_task(self._sample())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        self.peak = max(self.peak, self.proc.memory_info().rss)


async def idle(proc: psutil.Process, windows: int = 5) -> None:
    """Until the process's CPU has been idle for `windows` tenths of a second in a row."""
    quiet, last = 0, sum(proc.cpu_times()[:2])
    deadline = time.monotonic() + 60
    while quiet < windows and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        cpu = sum(proc.cpu_times()[:2])
        quiet = quiet + 1 if cpu - last < 0.005 else 0
        last = cpu


async def create(
    session: aiohttp.ClientSession, url: str, body: bytes, refusals: list[int]
) -> None:
    """One create, sent again after Retry-After while it is answered 503."""
    while True:
        async with session.post(url, data=body) as resp:
            await resp.read()
            if resp.status == 201:
                return
            if resp.status != 503:
                raise RuntimeError(f"create answered {resp.status}: {await resp.text()}")
            refusals.append(1)
            await asyncio.sleep(float(resp.headers.get("Retry-After", "1")))


async def run(database_url: str, creates: int, budget: int | None, rounds: int) -> None:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "DURABLE_LOG_LEVEL": "WARNING"}
    env.pop("DURABLE_MAX_INFLIGHT_BODY_BYTES", None)
    if budget is not None:
        env["DURABLE_MAX_INFLIGHT_BODY_BYTES"] = str(budget)
    command = [sys.executable, "-m", "durable_queue", "serve", "--host", "127.0.0.1"]
    server = await asyncio.create_subprocess_exec(
        *command, "--port", str(port), env=env, stdout=subprocess.DEVNULL
    )
    proc = psutil.Process(server.pid)
    base = f"http://127.0.0.1:{port}"
    queue = f"bench-body-{uuid.uuid4().hex[:8]}"
    body = create_body(BODY_BYTES)
    try:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            await wait_until_ready(session, base, server)
            async with session.post(f"{base}{API}/queues", json={"name": queue}) as resp:
                assert resp.status == 201, await resp.text()
            await idle(proc)
            before = proc.memory_info().rss
            url = f"{base}{API}/queues/{queue}/tasks"
            lines = []
            with PeakRss(proc) as peak:
                for number in range(1, rounds + 1):
                    refusals: list[int] = []
                    started = time.perf_counter()
                    await asyncio.gather(
                        *(create(session, url, body, refusals) for _ in range(creates))
                    )
                    took = time.perf_counter() - started
                    lines.append(
                        f"round {number}: {creates} creates of {len(body):,} bytes in "
                        f"{took:.2f} s, {len(refusals)} answered 503 first"
                    )
            await idle(proc)
            after = proc.memory_info().rss
            async with session.delete(f"{base}{API}/queues/{queue}?force=true") as resp:
                assert resp.status in (200, 204), await resp.text()
    finally:
        with contextlib.suppress(ProcessLookupError):
            server.terminate()
        await server.wait()
    shown = "default (64 MiB)" if budget is None else f"{budget:,} bytes"
    print(f"DURABLE_MAX_INFLIGHT_BODY_BYTES: {shown}")
    for line in lines:
        print(line)
    print(f"server RSS before {before / MiB:.0f} MiB, peak {peak.peak / MiB:.0f} MiB, ", end="")
    print(f"after {after / MiB:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="PostgreSQL to use (default: an embedded one)")
    parser.add_argument("--creates", type=int, default=200, help="concurrent creates per round")
    parser.add_argument(
        "--budget", type=int, default=None, help="DURABLE_MAX_INFLIGHT_BODY_BYTES for the server"
    )
    parser.add_argument("--rounds", type=int, default=1, help="bursts, one after the other")
    args = parser.parse_args()
    run_on_database(args.database_url, lambda url: run(url, args.creates, args.budget, args.rounds))


if __name__ == "__main__":
    main()
