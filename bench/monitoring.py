"""Scrape and dashboard cost with a large history: GET /metrics and GET /ui at 1M finished
tasks, idle and under a claim+complete load.

    python bench/monitoring.py [--database-url URL] [--finished 1000000] [--queues 5]
                               [--pending 100000] [--idle-queues 200] [--requests 100]
                               [--load-workers 8] [--load-scrapes 300]

Starts an embedded PostgreSQL unless --database-url is given, seeds finished tasks
(each with its completed run) spread over the queues, a backlog of pending runs, and a
full day of history samples per queue, plus --idle-queues queues without tasks (a
shared server gathers queues: one per tenant, test or experiment), then times, over
HTTP on a loopback port: GET /metrics and GET /ui with the 1-second snapshot cache
turned off (every request runs the aggregate statement), GET /ui/tasks (first page),
and one history sample (dq_monitoring_sample) in steady state.

Then, while a second process runs --load-workers claim+complete loops against the
server (claim 10 from one of the seeded queues in turn, complete each run one by one),
it times --load-scrapes GET /metrics, one every 100 ms, each followed by a GET /healthz
(no database: what the load alone adds to any request of this process). The app runs
its maintenance (every second) and its sampler, as a server does. Prints p50/p95/p99
in milliseconds, and the runs completed per second meanwhile.

The embedded PostgreSQL is built without JIT (pg_jit_available() is false): give
--database-url of a server with JIT to see what JIT costs.
Timings belong here, never in the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
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


async def claim_complete(base: str, queues: list[str], workers: int, stop, completed) -> None:
    """`workers` loops, each claiming up to 10 runs of a queue (the queues in turn) and
    completing them one by one, until `stop` is set; counts completions in `completed`."""

    async def loop(session: aiohttp.ClientSession, first: int) -> None:
        body = {"limit": 10, "claim_timeout": 60}
        turn = first
        while not stop.is_set():
            queue = queues[turn % len(queues)]
            turn += 1
            async with session.post(f"{base}/api/v1/queues/{queue}/tasks/claim", json=body) as r:
                assert r.status == 200, await r.text()
                tasks = (await r.json())["tasks"]
            for task in tasks:
                url = f"{base}/api/v1/runs/{task['run_id']}/complete"
                done = {"result": 1, "claim_token": task["claim_token"]}
                async with session.post(url, json=done) as r:
                    assert r.status == 200, await r.text()
            with completed.get_lock():
                completed.value += len(tasks)

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(loop(session, i) for i in range(workers)))


def load_process(base: str, queues: list[str], workers: int, stop, completed) -> None:
    asyncio.run(claim_complete(base, queues, workers, stop, completed))


async def scrape_and_control(
    session: aiohttp.ClientSession, base: str, count: int, gap: float
) -> tuple[list[float], list[float]]:
    """`count` GET /metrics, each followed by a GET /healthz, `gap` seconds apart."""
    scrapes, controls = [], []
    for _ in range(count):
        scrapes += await time_gets(session, f"{base}/metrics", 1)
        controls += await time_gets(session, f"{base}/healthz", 1)
        await asyncio.sleep(gap)
    return scrapes, controls


async def under_load(
    session: aiohttp.ClientSession, base: str, queues: list[str], workers: int, scrapes: int
) -> tuple[list[float], list[float], float]:
    """GET /metrics and GET /healthz latencies while another process runs claim+complete
    loops, and the runs completed per second meanwhile."""
    spawn = multiprocessing.get_context("spawn")
    stop, completed = spawn.Event(), spawn.Value("q", 0)
    loader = spawn.Process(target=load_process, args=(base, queues, workers, stop, completed))
    loader.start()
    try:
        await asyncio.sleep(5)  # let the load settle (and the pool grow)
        before, started = completed.value, time.perf_counter()
        samples, controls = await scrape_and_control(session, base, scrapes, 0.1)
        rate = (completed.value - before) / (time.perf_counter() - started)
    finally:
        stop.set()
        await asyncio.get_running_loop().run_in_executor(None, loader.join, 60)
    assert loader.exitcode == 0, f"the load process failed ({loader.exitcode})"
    return samples, controls, rate


async def run(
    database_url: str,
    finished: int,
    queues: int,
    pending: int,
    idle_queues: int,
    requests: int,
    load_workers: int,
    load_scrapes: int,
) -> None:
    await apply_migrations(database_url)
    app = create_app(Settings(database_url=database_url))  # maintenance every second
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
            for i in range(idle_queues):
                body = {"name": f"idle-{i}"}
                async with session.post(f"{base}/api/v1/queues", json=body) as resp:
                    assert resp.status == 201, await resp.text()
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
            if load_workers:
                names = [f"queue-{i}" for i in range(queues)]
                scrapes, controls, rate = await under_load(
                    session, base, names, load_workers, load_scrapes
                )
                load = f"{load_workers} claim+complete loops"
                rows.append((f"GET /metrics, {load}", *percentiles(scrapes)))
                rows.append((f"GET /healthz, {load}", *percentiles(controls)))
                print(f"load: {rate:,.0f} runs completed/s while scraping", flush=True)
    finally:
        await runner.cleanup()
    print()
    print(
        f"{finished:,} finished tasks, {pending:,} pending, {queues} queues, a day of history, "
        f"{idle_queues} queues without tasks"
    )
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
    parser.add_argument(
        "--idle-queues", type=int, default=200, help="queues without tasks, besides those"
    )
    parser.add_argument("--requests", type=int, default=100, help="timed requests per page")
    parser.add_argument(
        "--load-workers", type=int, default=8, help="claim+complete loops (0: no load phase)"
    )
    parser.add_argument(
        "--load-scrapes", type=int, default=300, help="timed GET /metrics under the load"
    )
    args = parser.parse_args()
    run_on_database(
        args.database_url,
        lambda url: run(
            url,
            args.finished,
            args.queues,
            args.pending,
            args.idle_queues,
            args.requests,
            args.load_workers,
            args.load_scrapes,
        ),
    )


if __name__ == "__main__":
    main()
