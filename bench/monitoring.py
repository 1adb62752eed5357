"""Scrape and dashboard cost with a large history: GET /metrics and GET /ui at 1M finished tasks.

    python bench/monitoring.py [--database-url URL] [--finished 1000000] [--queues 5]
                               [--pending 100000] [--requests 100]

Starts an embedded PostgreSQL unless --database-url is given, seeds finished tasks
(each with its completed run) spread over the queues, a backlog of pending runs, and a
full day of history samples per queue, then times, over HTTP on a loopback port:
GET /metrics and GET /ui with the 1-second snapshot cache turned off (every request
runs the aggregate statement), GET /ui/tasks (first page), and one history sample
(dq_monitoring_sample) in steady state. Prints p50/p95/p99 in milliseconds.
Timings belong here, never in the test suite.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import aiohttp
import aiopg
import aiosql
from aiohttp import web
from database import run_on_database
from latency import percentiles, print_table

from durable_queue.app import create_app
from durable_queue.config import Settings
from durable_queue.db import queries
from durable_queue.migrate import apply_migrations
from durable_queue.monitoring.keys import METRICS, SAMPLER

SEED = aiosql.from_path(Path(__file__).with_name("seed.sql"), "aiopg")
MONITORING_SEED = aiosql.from_path(Path(__file__).with_name("monitoring.sql"), "aiopg")


async def time_gets(session: aiohttp.ClientSession, url: str, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        async with session.get(url) as resp:
            assert resp.status == 200, await resp.text()
            await resp.read()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def run(database_url: str, finished: int, queues: int, pending: int, requests: int) -> None:
    await apply_migrations(database_url)
    app = create_app(Settings(database_url=database_url, maintenance_interval=3600))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    app[METRICS].snapshot.max_age = 0  # every request runs the aggregate statement
    rows = []
    try:
        async with (
            aiohttp.ClientSession() as session,
            aiopg.connect(database_url, timeout=1800) as conn,
        ):
            started = time.perf_counter()
            for i in range(queues):
                name = f"queue-{i}"
                async with session.post(f"{base}/api/v1/queues", json={"name": name}) as resp:
                    assert resp.status == 201, await resp.text()
                queue_id = (await queries.get_queue_by_name(conn, name=name))["id"]
                await MONITORING_SEED.bench_seed_finished(
                    conn, queue_id=queue_id, count=finished // queues
                )
                await SEED.bench_seed_backlog(conn, queue_id=queue_id, count=pending // queues)
                await MONITORING_SEED.bench_seed_history(conn, queue_id=queue_id)
            await SEED.bench_analyze(conn)
            print(f"seeded in {time.perf_counter() - started:.1f}s", flush=True)
            sampler = app[SAMPLER]
            await sampler.sample_once(settle_seconds=0)  # counts what the seeding created
            samples = []
            for _ in range(20):
                started = time.perf_counter()
                await sampler.sample_once(settle_seconds=0)
                samples.append((time.perf_counter() - started) * 1000)
            for label, path in (
                ("GET /metrics", "/metrics"),
                ("GET /ui", "/ui"),
                ("GET /ui/tasks", "/ui/tasks"),
                ("GET /ui/tasks?status=completed", "/ui/tasks?status=completed"),
            ):
                await time_gets(session, base + path, 10)  # warm-up
                rows.append((label, *percentiles(await time_gets(session, base + path, requests))))
            rows.append(("history sample (steady)", *percentiles(samples)))
    finally:
        await runner.cleanup()
    print()
    print(f"{finished:,} finished tasks, {pending:,} pending, {queues} queues, a day of history")
    print_table("request", rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url", help="PostgreSQL URI (default: an embedded, throw-away one)"
    )
    parser.add_argument("--finished", type=int, default=1_000_000, help="finished tasks")
    parser.add_argument("--queues", type=int, default=5, help="queues they are spread over")
    parser.add_argument("--pending", type=int, default=100_000, help="pending tasks")
    parser.add_argument("--requests", type=int, default=100, help="timed requests per page")
    args = parser.parse_args()
    run_on_database(
        args.database_url,
        lambda url: run(url, args.finished, args.queues, args.pending, args.requests),
    )


if __name__ == "__main__":
    main()
