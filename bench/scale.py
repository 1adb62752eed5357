"""Read and maintenance latency against a queue that keeps a million tasks of history.

    python bench/scale.py [--database-url URL] [--finished 10000,1000000] [--samples 200]

For each size N of --finished, on a fresh database: seeds (SQL, generate_series) a
queue of N finished + N/10 pending tasks with their runs, 1 in 16 with a checkpoint
and a resolved wait, 10k events, and a second queue of min(100k, N/10) tasks; serves
the app in-process and times over HTTP: stats, task list pages (no filter, each
filter, first page and a deep cursor), runs by status, a workflow run, task detail;
then a retention pass with nothing due and with 10k due (N/2 when smaller) (straight to the database,
the maintenance statement), and the force-delete of the second queue while claims on
the first are timed. Prints p50/p99 in milliseconds and the rows each touched.
Timings belong here, never in the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import aiopg
import aiosql
from aiohttp import web
from database import run_on_database
from latency import percentiles

from durable_queue.api.keys import MAINTENANCE
from durable_queue.app import create_app
from durable_queue.config import Settings
from durable_queue.db import queries
from durable_queue.migrate import apply_migrations

SEED = aiosql.from_path(Path(__file__).with_name("scale.sql"), "aiopg")
CHUNK = 100_000  # tasks per seeding statement
RETENTION_BATCH = 500  # the maintenance loop's default batch size


class Report:
    def __init__(self, size: int) -> None:
        self.size = size
        self.rows: list[tuple[str, float, float, str]] = []

    def add(self, label: str, samples: list[float], touched: str) -> None:
        p50, _, p99 = percentiles(samples)
        self.rows.append((label, p50, p99, touched))

    def print(self) -> None:
        print(f"\n{self.size:,} finished tasks")
        print(f"{'':<52} {'p50 ms':>9} {'p99 ms':>9}  rows")
        for label, p50, p99, touched in self.rows:
            print(f"{label:<52} {p50:>9.2f} {p99:>9.2f}  {touched}")


async def fresh_database(url: str, name: str) -> str:
    async with aiopg.connect(url) as conn, conn.cursor() as cur:
        await cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await cur.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def seed_queue(conn, queue_id, total: int, finished: int, workflow_run_id) -> None:
    for first in range(1, total + 1, CHUNK):
        await SEED.scale_seed_tasks(
            conn,
            queue_id=queue_id,
            first=first,
            count=min(CHUNK, total - first + 1),
            finished=finished,
            workflow_run_id=workflow_run_id,
        )


async def timed_get(
    session: aiohttp.ClientSession, url: str, count: int, params: dict | None = None
) -> tuple[list[float], int]:
    """Latencies of `count` GETs, and the items the last one listed."""
    samples, items = [], 0
    for _ in range(count):
        started = time.perf_counter()
        async with session.get(url, params=params) as resp:
            assert resp.status == 200, await resp.text()
            body = await resp.json()
        samples.append((time.perf_counter() - started) * 1000)
        items = next((len(v) for v in body.values() if isinstance(v, list)), 1)
    return samples, items


async def measure(admin_url: str, finished: int, samples: int) -> Report:
    pending = finished // 10
    doomed = min(100_000, finished // 10)
    url = await fresh_database(admin_url, f"bench_scale_{finished}")
    await apply_migrations(url)
    app = create_app(Settings(database_url=url, maintenance_interval=3600))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/api/v1"
    report = Report(finished)
    try:
        async with aiohttp.ClientSession() as session, aiopg.connect(url, timeout=3600) as conn:
            for name in ("main", "doomed"):
                body = {"name": name, "cleanup": {"task_ttl_seconds": 0}}
                async with session.post(f"{base}/queues", json=body) as resp:
                    assert resp.status == 201, await resp.text()
            async with session.post(f"{base}/workflow-runs", json={"workflow_name": "wf"}) as resp:
                workflow_run_id = (await resp.json())["workflow_run_id"]
            main_id = (await queries.get_queue_by_name(conn, name="main"))["id"]
            doomed_id = (await queries.get_queue_by_name(conn, name="doomed"))["id"]
            started = time.perf_counter()
            await seed_queue(conn, main_id, finished + pending, finished, workflow_run_id)
            await seed_queue(conn, doomed_id, doomed, doomed * 9 // 10, None)
            await SEED.scale_seed_events(conn, count=10_000)
            await SEED.scale_analyze(conn)
            await app[MAINTENANCE].sweep_once()  # fold the seeding's count deltas
            print(
                f"seeded {finished + pending + doomed:,} tasks in "
                f"{time.perf_counter() - started:.0f}s",
                flush=True,
            )
            ids = [
                row["id"]
                async for row in SEED.scale_task_ids(conn, queue_id=main_id, count=samples)
            ]
            middle = str(ids[len(ids) // 2])

            await timed_get(session, f"{base}/queues/main/stats", 20)  # warm-up
            report.add(
                "stats", (await timed_get(session, f"{base}/queues/main/stats", samples))[0], "-"
            )
            filters = {
                "tasks, no filter": {},
                "tasks, status=failed": {"status": "failed"},
                "tasks, queue_name=main": {"queue_name": "main"},
                "tasks, queue_name=main&status=failed": {"queue_name": "main", "status": "failed"},
                "tasks, task_name=rare": {"task_name": "rare"},
            }
            for label, params in filters.items():
                for page, extra in (("first page", {}), ("deep cursor", {"cursor": middle})):
                    lat, items = await timed_get(
                        session, f"{base}/tasks", samples, {**params, **extra, "limit": 50}
                    )
                    report.add(f"{label}, {page}", lat, f"{items} listed")
            lat, items = await timed_get(
                session, f"{base}/runs", samples, {"status": "failed", "limit": 50}
            )
            report.add("runs, status=failed, first page", lat, f"{items} listed")
            lat, _ = await timed_get(session, f"{base}/workflow-runs/{workflow_run_id}", samples)
            report.add("workflow run with its tasks", lat, f"{(finished + pending) // 1000} tasks")
            detail = []
            for task_id in ids[:samples]:
                detail += (await timed_get(session, f"{base}/tasks/{task_id}", 1))[0]
            report.add("task detail", detail, "1 task, its runs")

            await SEED.scale_set_ttl(conn, queue_id=main_id, seconds=10 * finished + 86400)
            idle = []
            for _ in range(samples):
                started = time.perf_counter()
                await queries.delete_expired_tasks(conn, batch_size=RETENTION_BATCH)
                idle.append((time.perf_counter() - started) * 1000)
            report.add("retention pass, nothing due", idle, "0 deleted")
            due = min(10_000, finished // 2)
            ttl = await SEED.scale_ttl_for_due(conn, queue_id=main_id, due=due)
            await SEED.scale_set_ttl(conn, queue_id=main_id, seconds=ttl)
            batches, deleted = [], 0
            started = time.perf_counter()
            while True:
                batch_started = time.perf_counter()
                count = await queries.delete_expired_tasks(conn, batch_size=RETENTION_BATCH)
                batches.append((time.perf_counter() - batch_started) * 1000)
                deleted += count
                if count < RETENTION_BATCH:
                    break
            seconds = time.perf_counter() - started
            report.add(
                f"retention, {RETENTION_BATCH}-task batch ({due:,} due)",
                batches,
                f"{deleted:,} deleted, {deleted / seconds:,.0f} tasks/s",
            )

            claims: list[float] = []
            deleting = asyncio.Event()

            async def claim_meanwhile() -> None:
                body = {"limit": 1, "claim_timeout": 600}
                while not deleting.is_set():
                    started = time.perf_counter()
                    async with session.post(f"{base}/queues/main/tasks/claim", json=body) as resp:
                        assert resp.status == 200, await resp.text()
                        await resp.read()
                    claims.append((time.perf_counter() - started) * 1000)

            claimer = asyncio.create_task(claim_meanwhile())
            started = time.perf_counter()
            async with session.delete(f"{base}/queues/doomed", params={"force": "true"}) as resp:
                assert resp.status == 204, await resp.text()
            elapsed = (time.perf_counter() - started) * 1000
            deleting.set()
            await claimer
            report.add("force-delete of the second queue", [elapsed], f"{doomed:,} tasks")
            report.add(
                "claims on main during that delete",
                claims,
                f"{len(claims)} claims, max {max(claims):.1f} ms",
            )
    finally:
        await runner.cleanup()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url", help="PostgreSQL URI (default: an embedded, throw-away one)"
    )
    parser.add_argument(
        "--finished", default="10000,1000000", help="finished tasks per run, comma-separated"
    )
    parser.add_argument("--samples", type=int, default=200, help="timed requests per figure")
    args = parser.parse_args()
    sizes = [int(s) for s in args.finished.split(",")]

    async def run(url: str) -> None:
        reports = [await measure(url, size, args.samples) for size in sizes]
        for report in reports:
            report.print()

    run_on_database(args.database_url, run)


if __name__ == "__main__":
    main()
