"""Claim latency against backlogs of 1 thousand to 1 million pending runs.

    python bench/claim.py [--database-url URL] [--sizes 1000,100000,1000000] [--claims 200]
                          [--limit 1]

Starts an embedded PostgreSQL unless --database-url is given (its database
gets a fresh schema), serves the app in-process on a loopback port and times
HTTP claims (limit 1, or --limit; a backlog smaller than limit * claims
runs dry) with aiohttp. It also times claims from an empty queue
while another queue holds the largest backlog. Prints a table of p50/p95/p99
in milliseconds. Timings belong here, never in the test suite.
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

SEED = aiosql.from_path(Path(__file__).with_name("seed.sql"), "aiopg")


async def time_claims(
    session: aiohttp.ClientSession, base: str, queue: str, count: int, limit: int = 1
) -> list[float]:
    body = {"limit": limit, "claim_timeout": 600}
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        async with session.post(f"{base}/api/v1/queues/{queue}/tasks/claim", json=body) as resp:
            assert resp.status == 200, await resp.text()
            await resp.read()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def run(database_url: str, sizes: list[int], claims: int, limit: int) -> None:
    await apply_migrations(database_url)
    app = create_app(Settings(database_url=database_url, maintenance_interval=3600))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    rows = []
    try:
        async with (
            aiohttp.ClientSession() as session,
            aiopg.connect(database_url, timeout=900) as conn,
        ):
            await session.post(f"{base}/api/v1/queues", json={"name": "empty"})
            for size in sizes:
                name = f"backlog-{size}"
                async with session.post(f"{base}/api/v1/queues", json={"name": name}) as resp:
                    assert resp.status == 201, await resp.text()
                queue_id = (await queries.get_queue_by_name(conn, name=name))["id"]
                started = time.perf_counter()
                await SEED.bench_seed_backlog(conn, queue_id=queue_id, count=size)
                await SEED.bench_analyze(conn)
                seeded = time.perf_counter() - started
                await time_claims(session, base, name, 20)  # warm-up
                rows.append(
                    (
                        f"{size:>9,} pending",
                        *percentiles(await time_claims(session, base, name, claims, limit)),
                    )
                )
                print(f"seeded {size:,} runs in {seeded:.1f}s", flush=True)
            empty = await time_claims(session, base, "empty", claims, limit)
            rows.append((f"empty queue beside {sizes[-1]:,}", *percentiles(empty)))
    finally:
        await runner.cleanup()
    print()
    print(f"claim limit {limit}")
    print_table("backlog", rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url", help="PostgreSQL URI (default: an embedded, throw-away one)"
    )
    parser.add_argument(
        "--sizes", default="1000,100000,1000000", help="backlog sizes, comma-separated"
    )
    parser.add_argument("--claims", type=int, default=200, help="timed claims per backlog")
    parser.add_argument("--limit", type=int, default=1, help="runs asked for per claim")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    run_on_database(args.database_url, lambda url: run(url, sizes, args.claims, args.limit))


if __name__ == "__main__":
    main()
