"""Batch creates with and without an idempotency key on every item: what the key costs.

    python bench/batch_keys.py [--database-url URL] [--tasks 20000] [--rounds 3]

peers.py's "enqueue, batches of 1,000" sends `DurableClient.create_tasks`, which gives
every item without one a new random idempotency key (so a retried batch is not created
twice); dq_create_tasks then takes its keyed path (tasks inserted with ON CONFLICT, each
item answered by a lookup) instead of the one-statement bulk path. This bench times the
same batches of 1,000 three ways, each round on a fresh database and server process
(`python -m durable_queue serve`, as peers.py starts it), the ways in turn:

  client        `create_tasks` of the Python client (keys added by the client)
  raw, keyed    POST /queues/{q}/tasks/batch, every item with a uuid4 key
  raw, no keys  the same bodies without the keys

The raw bodies are encoded before the clock starts. Prints tasks/s (median of the
rounds, and each round) and CPU ms per task of the bench process, the server and
PostgreSQL (all its processes). Timings belong here, never in the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import uuid

import aiohttp
from cpu import CpuMeter
from database import run_on_database
from peers_procs import durable_queue_server, fresh_database

QUEUE = "bench"
BATCH = 1000
WAYS = ("client", "raw, keyed", "raw, no keys")


def bodies(tasks: int, keyed: bool) -> list[bytes]:
    out = []
    for start in range(0, tasks, BATCH):
        items = []
        for i in range(start, min(start + BATCH, tasks)):
            item: dict[str, object] = {"task_name": "noop", "params": {"seq": i}}
            if keyed:
                item["idempotency_key"] = str(uuid.uuid4())
            items.append(item)
        out.append(json.dumps({"tasks": items}).encode())
    return out


async def one(admin_url: str, way: str, tasks: int, label: str) -> tuple[float, dict[str, float]]:
    from durable_queue_client import DurableClient
    from durable_queue_client.models import CreateTaskRequest

    async with (
        fresh_database(admin_url, label) as url,
        durable_queue_server(url) as (base, server_pid),
        DurableClient(base, timeout=300) as client,
        aiohttp.ClientSession() as session,
    ):
        await client.create_queue(QUEUE)
        prepared = bodies(tasks, keyed=way == "raw, keyed") if way != "client" else []
        meter = CpuMeter()
        meter.add_process("bench", os.getpid(), tree=False)
        meter.add_process("server", server_pid)
        meter.add_postgres()
        cpu: dict[str, float] = {}
        with meter.measure(cpu, lambda: tasks):
            started = time.perf_counter()
            if way == "client":
                for start in range(0, tasks, BATCH):
                    await client.create_tasks(
                        QUEUE,
                        [
                            CreateTaskRequest(task_name="noop", params={"seq": i})
                            for i in range(start, min(start + BATCH, tasks))
                        ],
                    )
            else:
                for body in prepared:
                    async with session.post(
                        f"{base}/api/v1/queues/{QUEUE}/tasks/batch",
                        data=body,
                        headers={"Content-Type": "application/json"},
                    ) as resp:
                        assert resp.status in (200, 201), await resp.text()
                        await resp.read()
            rate = tasks / (time.perf_counter() - started)
        stats = await client.get_queue_stats(QUEUE)
        assert stats.pending_runs == tasks, stats
    return rate, cpu


async def run(admin_url: str, tasks: int, rounds: int) -> None:
    rates: dict[str, list[float]] = {way: [] for way in WAYS}
    cpus: dict[str, list[dict[str, float]]] = {way: [] for way in WAYS}
    for index in range(rounds):
        order = WAYS if index % 2 == 0 else tuple(reversed(WAYS))
        for way in order:
            rate, cpu = await one(admin_url, way, tasks, f"batch_keys_{index}")
            rates[way].append(rate)
            cpus[way].append(cpu)
            print(f"round {index + 1}: {way:<13} {rate:>9,.0f} tasks/s  " + "  ".join(
                f"{role} {ms:.4f}" for role, ms in cpu.items()
            ), flush=True)  # fmt: skip
    print()
    print(f"batches of {BATCH:,}, {tasks:,} tasks, median of {rounds} round(s)")
    print("| way           |  tasks/s | rounds                   | bench ms | server ms | pg ms  |")
    print("|---------------|---------:|--------------------------|---------:|----------:|-------:|")
    for way in WAYS:
        each = " / ".join(f"{r:,.0f}" for r in rates[way])
        med = {role: statistics.median(c[role] for c in cpus[way]) for role in cpus[way][0]}
        print(
            f"| {way:<13} | {statistics.median(rates[way]):>8,.0f} | {each:<24} "
            f"| {med['bench']:>8.4f} | {med['server']:>9.4f} | {med['postgres']:>6.4f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url",
        help="PostgreSQL URI whose user may create databases (default: an embedded one)",
    )
    parser.add_argument("--tasks", type=int, default=20000, help="tasks per way and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the table shows medians")
    args = parser.parse_args()
    run_on_database(args.database_url, lambda url: run(url, args.tasks, args.rounds), uvloop=True)


if __name__ == "__main__":
    main()
