"""Store operations per second, straight to PostgreSQL (no HTTP): the cost of each state change.

    python bench/store_ops.py [--database-url URL] [--tasks 5000] [--concurrency 8]

Each figure runs on a fresh database of its own: create one by one (`--concurrency`
creates in flight), claim in batches of 100 and complete one by one, and, where
the store has them, batch create (1,000 per call) and batch complete (100 per
call). Prints operations per second. Timings belong here, never in the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from urllib.parse import urlsplit, urlunsplit

import aiopg
from database import run_on_database

from durable_queue.commands import NewTask
from durable_queue.db import create_pool
from durable_queue.migrate import apply_migrations
from durable_queue.store import Store


async def fresh_store(database_url: str, name: str) -> tuple[aiopg.Pool, Store]:
    """A migrated database `name` of its own on the same server (dropped first if it exists)."""
    async with aiopg.connect(database_url) as conn, conn.cursor() as cur:
        await cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await cur.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(database_url)._replace(path=f"/{name}"))
    await apply_migrations(url)
    pool = await create_pool(url, maxsize=12)
    store = Store(pool)
    await store.create_queue("q", None, None)
    return pool, store


async def in_flight(concurrency: int, jobs: list) -> None:
    """Run the zero-argument coroutine functions `jobs`, `concurrency` at a time."""
    queue = list(reversed(jobs))

    async def worker() -> None:
        while queue:
            await queue.pop()()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def measure(database_url: str, tasks: int, concurrency: int) -> dict[str, float]:
    results: dict[str, float] = {}
    pool, store = await fresh_store(database_url, "bench_single")
    try:
        started = time.perf_counter()
        await in_flight(
            concurrency,
            [lambda i=i: store.create_task("q", NewTask("t", params=i)) for i in range(tasks)],
        )
        results["create, one by one"] = tasks / (time.perf_counter() - started)
        claimed = []
        while batch := await store.claim("q", 100, 600):
            claimed.extend(batch)
        started = time.perf_counter()
        await in_flight(
            concurrency, [lambda t=t: store.complete_run(t.run_id, t.params) for t in claimed]
        )
        results["complete, one by one"] = len(claimed) / (time.perf_counter() - started)
    finally:
        pool.close()
        await pool.wait_closed()
    if not hasattr(store, "create_tasks"):
        return results
    pool, store = await fresh_store(database_url, "bench_batch")
    try:
        started = time.perf_counter()
        for start in range(0, tasks, 1000):
            await store.create_tasks(
                "q", [NewTask("t", params=i) for i in range(start, min(start + 1000, tasks))]
            )
        results["create, batches of 1,000"] = tasks / (time.perf_counter() - started)
        started = time.perf_counter()
        done = 0
        while batch := await store.claim("q", 100, 600):
            await store.complete_runs([(t.run_id, t.params) for t in batch])
            done += len(batch)
        results["claim 100 + batch complete"] = done / (time.perf_counter() - started)
    finally:
        pool.close()
        await pool.wait_closed()
    return results


async def run(database_url: str, tasks: int, concurrency: int) -> None:
    results = await measure(database_url, tasks, concurrency)
    for label, rate in results.items():
        print(f"{label:<30} {rate:>10,.0f} /s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url", help="PostgreSQL URI (default: an embedded, throw-away one)"
    )
    parser.add_argument("--tasks", type=int, default=5000, help="tasks per figure")
    parser.add_argument("--concurrency", type=int, default=8, help="single calls in flight")
    args = parser.parse_args()
    run_on_database(args.database_url, lambda url: run(url, args.tasks, args.concurrency))


if __name__ == "__main__":
    main()
