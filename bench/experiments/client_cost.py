"""What the client side of a create costs: the SDK, aiohttp's client, and a minimal one.

    python bench/experiments/client_cost.py [--database-url URL] [--creates 3000] [--rounds 3]

One durable-queue server (as bench/peers.py starts it); one task at a time, each
awaited before the next, from this process, three ways in turn, `--rounds` times:

  sdk       DurableClient.create_task, as bench/peers.py's one-by-one figure
  aiohttp   an aiohttp ClientSession posting the same JSON body
  minimal   a keep-alive HTTP/1.1 connection on an asyncio protocol: the request's
            bytes built by hand, the answer read by its Content-Length. A measuring
            device, not a client: what the hop costs without a client library

For each: creates/s and this process's CPU per create (user + system). The server's
and PostgreSQL's work is the same in all three, so the differences are the client's.

An experiment: the leaner client was measured, not adopted. It starts the server with
bench/peers_procs.py, which it imports from bench/ (put on the path below).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yarl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, for its helpers

from database import run_on_database
from peers_procs import durable_queue_server, fresh_database

QUEUE = "bench"
WARMUP = 200


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def body(seq: int) -> bytes:
    return orjson.dumps({"task_name": "noop", "params": {"seq": seq}})


class MinimalConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time; answers with a
    Content-Length body only (what the server sends for a create)."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.answer: asyncio.Future[tuple[int, bytes]] | None = None
        self.transport: Any = None  # uvloop's transports are not asyncio.Transport subclasses

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.answer is None:
            return
        head = bytes(self.buffer[:end]).split(b"\r\n")
        length = next(
            int(value)
            for name, _, value in (line.partition(b":") for line in head[1:])
            if name.strip().lower() == b"content-length"
        )
        if len(self.buffer) < end + 4 + length:
            return
        payload = bytes(self.buffer[end + 4 : end + 4 + length])
        del self.buffer[: end + 4 + length]
        answer, self.answer = self.answer, None
        answer.set_result((int(head[0].split()[1]), payload))

    async def post(self, path: str, payload: bytes) -> tuple[int, bytes]:
        assert self.transport is not None
        self.answer = asyncio.get_running_loop().create_future()
        self.transport.write(
            b"POST %s HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (path.encode(), len(payload), payload)
        )
        return await self.answer


async def measured(create: Callable[[int], Awaitable[None]], creates: int) -> tuple[float, float]:
    """(creates/s, CPU µs per create) over `creates` after a warm-up."""
    for seq in range(WARMUP):
        await create(seq)
    cpu, started = cpu_seconds(), time.perf_counter()
    for seq in range(creates):
        await create(seq)
    elapsed = time.perf_counter() - started
    return creates / elapsed, (cpu_seconds() - cpu) / creates * 1e6


async def run(admin_url: str, args: argparse.Namespace) -> None:
    from durable_queue_client import DurableClient

    async with (
        fresh_database(admin_url, "client_cost") as url,
        durable_queue_server(url) as (base, _),
        DurableClient(base) as sdk,
        aiohttp.ClientSession() as session,
    ):
        await sdk.create_queue(QUEUE)
        path = f"/api/v1/queues/{QUEUE}/tasks"
        host, port = base.removeprefix("http://").split(":")
        _, minimal = await asyncio.get_running_loop().create_connection(
            MinimalConnection, host, int(port)
        )
        url = yarl.URL(base + path, encoded=True)
        json_body = {"Content-Type": "application/json"}

        async def with_sdk(seq: int) -> None:
            await sdk.create_task(QUEUE, "noop", params={"seq": seq})

        async def with_aiohttp(seq: int) -> None:
            async with session.post(url, data=body(seq), headers=json_body) as resp:
                assert resp.status == 201, resp.status
                await resp.read()

        async def with_minimal(seq: int) -> None:
            status, _ = await minimal.post(path, body(seq))
            assert status == 201, status

        ways = {"sdk": with_sdk, "aiohttp": with_aiohttp, "minimal": with_minimal}
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
        for round_ in range(args.rounds):
            for name, create in ways.items():
                rate, cpu = await measured(create, args.creates)
                results[name].append((rate, cpu))
                print(f"round {round_ + 1}: {name:8} {rate:7,.0f} creates/s  {cpu:5,.0f} µs CPU")
    print("\n| client | creates/s (each round) | client CPU per create, µs (each round) |")
    print("|---|---|---|")
    for name, runs in results.items():
        rates = " / ".join(f"{rate:,.0f}" for rate, _ in runs)
        cpus = " / ".join(f"{cpu:,.0f}" for _, cpu in runs)
        print(f"| {name} | {rates} | {cpus} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="a URI whose user may create databases")
    parser.add_argument("--creates", type=int, default=3000, help="per way and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    run_on_database(args.database_url, lambda url: run(url, args), uvloop=True)


if __name__ == "__main__":
    main()
