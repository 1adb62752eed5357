"""Schedules (issue 24): lateness of a 1-second schedule, and 10,000 schedules at scale.

    python bench/schedules.py [--database-url URL] [--only lateness|scale]
                              [--seconds 300] [--servers 1]
                              [--schedules 10000] [--due 1000] [--idle-seconds 40]

Starts an embedded PostgreSQL in a temporary directory unless --database-url is given
(each part then makes a database of its own there, `bench_schedules_lateness` and
`bench_schedules_scale`, dropped first when they exist), and real server processes
(`python -m durable_queue serve`, i.e. `durable-queue serve`) on free loopback ports.
Everything is created over the HTTP API; every figure is read from what the database
recorded.

- **lateness**: an interval schedule of 1 second whose slots are exactly --seconds
  whole seconds (start_at on a whole second of the database's clock a few seconds
  ahead, end_at half a second after the last slot), fired by --servers server
  processes (the elected one fires, the others stand by). Lateness of a slot is its
  task's `created_at - scheduled_for` as the database recorded them. Prints p50, p95,
  p99 and max, and the slots against the tasks and their distinct `scheduled_for`
  (all three must be equal), with the schedule's `missed` and `skipped`.
- **scale**: --schedules interval schedules (a day apart) of which --due have their
  first slot on the same whole second T, the others spread over a day later. The
  far ones are created first, then T is chosen after them (twice the time the due
  ones take to create at the far ones' rate, plus 5 s), then the due ones. From T, the bench's own
  connection counts the due tasks every 10 ms (by `clock_timestamp()`): the time
  from T until all of them are visible (committed), beside their lateness as
  recorded. Then, with nothing due for a day, it reads `pg_stat_user_tables` of the
  `schedules` table over --idle-seconds (after 12 s of settling: PostgreSQL flushes
  a backend's table counters about once a second, an idle one within 10 s): rows
  read by sequential scans (`seq_tup_read`) and fetched by index (`idx_tup_fetch`)
  by everyone meanwhile. Twice: with the table's statistics as they are after the
  creates (autovacuum may not have analyzed it yet, as on a real server right after
  a bulk create), then after an `ANALYZE schedules`. The bench itself reads nothing
  of that table in a window, and scrapes no /metrics (a scrape sums the schedules
  rows once, grouped by queue). The default window is longer than the 30 s the
  scheduler's timer sleeps at most, so it holds at least one of its passes.

Timings belong here, never in the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import aiopg
from database import run_on_database
from latency import percentiles
from server_process import wait_until_ready

API = "/api/v1"
QUEUE = "bench-schedules"
SETTLE_SECONDS = 12  # > PostgreSQL's 10-s flush of an idle backend's table counters
CREATE_CONCURRENCY = 32  # schedule creates in flight


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def fresh_database(url: str, name: str) -> str:
    async with aiopg.connect(url) as conn, conn.cursor() as cur:
        await cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await cur.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@contextlib.asynccontextmanager
async def servers(database_url: str, count: int) -> AsyncIterator[list[str]]:
    """`count` server processes on the database, each on a free loopback port, ready;
    their base URLs. Their stderr goes to a temporary file, printed when one fails."""
    env = {**os.environ, "DATABASE_URL": database_url, "DURABLE_LOG_LEVEL": "WARNING"}
    procs: list[tuple[asyncio.subprocess.Process, str, str]] = []
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(count):
                port = free_port()
                fd, log = tempfile.mkstemp(prefix="bench-schedules-server-", suffix=".log")
                proc = await asyncio.create_subprocess_exec(
                    sys.executable,
                    *("-m", "durable_queue", "serve", "--host", "127.0.0.1", "--port", str(port)),
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=fd,
                    stderr=fd,
                )
                os.close(fd)
                base = f"http://127.0.0.1:{port}"
                procs.append((proc, base, log))
                try:
                    await wait_until_ready(session, base, proc, poll=0.1)
                except AssertionError:
                    tail = await asyncio.to_thread(Path(log).read_text)
                    print(tail[-4000:], file=sys.stderr)
                    raise
        yield [base for _, base, _ in procs]
    finally:
        for proc, _, log in procs:
            if proc.returncode is None:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), 30)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
            os.unlink(log)


async def call(
    session: aiohttp.ClientSession, method: str, url: str, body: Any = None, ok: int = 200
) -> Any:
    async with session.request(method, url, json=body) as resp:
        text = await resp.text()
        assert resp.status == ok, f"{method} {url}: {resp.status} {text}"
        return await resp.json() if text else None


async def db_now(conn: aiopg.Connection) -> dt.datetime:
    async with conn.cursor() as cur:
        await cur.execute("SELECT now()")
        return (await cur.fetchone())[0]


def stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def spread(label: str, samples: list[float]) -> str:
    p50, p95, p99 = percentiles(samples)
    return (
        f"{label}: p50 {ms(p50)}, p95 {ms(p95)}, p99 {ms(p99)}, max {ms(max(samples))} "
        f"({len(samples):,} tasks)"
    )


# -- lateness -------------------------------------------------------------------------


async def lateness(admin_url: str, seconds: int, server_count: int) -> None:
    url = await fresh_database(admin_url, "bench_schedules_lateness")
    async with (
        servers(url, server_count) as bases,
        aiohttp.ClientSession() as session,
        aiopg.connect(url) as conn,
    ):
        api = f"{bases[0]}{API}"
        await call(session, "POST", f"{api}/queues", {"name": QUEUE}, ok=201)
        first = (await db_now(conn)).replace(microsecond=0) + dt.timedelta(seconds=3)
        end = first + dt.timedelta(seconds=seconds - 1, milliseconds=500)
        body = {
            "name": "every-second",
            "queue": QUEUE,
            "task_name": "tick",
            "interval_seconds": 1,
            "start_at": stamp(first),
            "end_at": stamp(end),
        }
        await call(session, "POST", f"{api}/schedules", body, ok=201)
        shown = await call(session, "GET", f"{api}/schedules/every-second?preview=2")
        print(
            f"lateness: {seconds} slots from {stamp(first)}, {server_count} server "
            f"process(es); upcoming {shown.get('upcoming')}",
            flush=True,
        )
        assert dt.datetime.fromisoformat(shown["upcoming"][0]) == first, shown["upcoming"]
        report_at = time.monotonic() + 60
        while True:
            await asyncio.sleep(1)
            now = await db_now(conn)
            if now > end + dt.timedelta(seconds=3):
                break
            if time.monotonic() >= report_at:
                report_at += 60
                print(f"  ... {(now - first).total_seconds():.0f} s of {seconds}", flush=True)
        state = await call(session, "GET", f"{api}/schedules/every-second")
        async with conn.cursor() as cur:
            await cur.execute(
                """SELECT count(*), count(DISTINCT scheduled_for),
                          coalesce(array_agg(extract(epoch FROM created_at - scheduled_for)
                                             ORDER BY scheduled_for), '{}'),
                          count(*) FILTER (WHERE scheduled_for < %(first)s
                                              OR scheduled_for > %(end)s)
                   FROM tasks WHERE schedule_name = 'every-second'""",
                {"first": first, "end": end},
            )
            tasks, distinct, late, outside = await cur.fetchone()
    samples = [float(x) for x in late]
    print()
    print(f"lateness of a 1-second schedule over {seconds} s ({server_count} server process(es))")
    if samples:
        print("  " + spread("created_at - scheduled_for", samples))
    print(
        f"  slots {seconds}, tasks {tasks}, distinct scheduled_for {distinct}, "
        f"outside [start_at, end_at] {outside}; schedule: fires {state['fires']}, "
        f"missed {state['missed']}, skipped {state['skipped']}"
    )
    ok = tasks == distinct == seconds and not outside
    print(f"  exactly one task per slot: {'yes' if ok else 'NO'}")


# -- scale ----------------------------------------------------------------------------


async def create_many(
    session: aiohttp.ClientSession, api: str, bodies: list[dict[str, Any]]
) -> float:
    """Create the schedules `bodies`, CREATE_CONCURRENCY at a time; the seconds it took."""
    gate = asyncio.Semaphore(CREATE_CONCURRENCY)

    async def one(body: dict[str, Any]) -> None:
        async with gate:
            await call(session, "POST", f"{api}/schedules", body, ok=201)

    started = time.perf_counter()
    await asyncio.gather(*(one(body) for body in bodies))
    return time.perf_counter() - started


READS = ("seq_scan", "seq_tup_read", "idx_scan", "idx_tup_fetch")


async def table_reads(conn: aiopg.Connection) -> dict[str, Any]:
    """The schedules table's read counters, its live rows, and whether it was analyzed."""
    async with conn.cursor() as cur:
        await cur.execute(
            """SELECT seq_scan, seq_tup_read, coalesce(idx_scan, 0), coalesce(idx_tup_fetch, 0),
                      n_live_tup, coalesce(last_analyze, last_autoanalyze) IS NOT NULL
               FROM pg_stat_user_tables WHERE relname = 'schedules'"""
        )
        row = await cur.fetchone()
    return dict(zip((*READS, "n_live_tup", "analyzed"), row, strict=True))


async def scale(admin_url: str, total: int, due: int, idle_seconds: float) -> None:
    assert 0 < due <= total
    url = await fresh_database(admin_url, "bench_schedules_scale")
    async with (
        servers(url, 1) as bases,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session,
        aiopg.connect(url) as conn,
    ):
        api = f"{bases[0]}{API}"
        await call(session, "POST", f"{api}/queues", {"name": QUEUE}, ok=201)
        later = (await db_now(conn)).replace(microsecond=0) + dt.timedelta(days=1)
        far = [
            {
                "name": f"far-{i:06d}",
                "queue": QUEUE,
                "task_name": "far",
                "interval_seconds": 86400,
                "start_at": stamp(later + dt.timedelta(seconds=i % 43200)),
            }
            for i in range(total - due)
        ]
        took = await create_many(session, api, far)
        rate = len(far) / took if far else 500.0
        print(f"scale: created {len(far):,} far schedules in {took:.1f} s", flush=True)
        lead = math.ceil(2 * due / rate) + 5
        moment = (await db_now(conn)).replace(microsecond=0) + dt.timedelta(seconds=lead)
        near = [
            {
                "name": f"due-{i:06d}",
                "queue": QUEUE,
                "task_name": "due",
                "interval_seconds": 86400,
                "start_at": stamp(moment),
            }
            for i in range(due)
        ]
        took = await create_many(session, api, near)
        left = (moment - await db_now(conn)).total_seconds()
        print(
            f"scale: created {due:,} schedules due at {stamp(moment)} in {took:.1f} s "
            f"({left:.1f} s before it)",
            flush=True,
        )
        assert left > 0.5, "the due schedules were not all created before their slot"

        first_seen = all_seen = None
        deadline = moment + dt.timedelta(seconds=60)
        async with conn.cursor() as cur:
            while True:
                await cur.execute(
                    "SELECT count(*), clock_timestamp() FROM tasks WHERE task_name = 'due'"
                )
                seen, at = await cur.fetchone()
                if seen and first_seen is None:
                    first_seen = at
                if seen >= due:
                    all_seen = at
                    break
                assert at < deadline, f"only {seen} of {due} due tasks after 60 s"
                await asyncio.sleep(0.01)
            await cur.execute(
                """SELECT array_agg(extract(epoch FROM created_at - scheduled_for)),
                          count(DISTINCT schedule_id), count(DISTINCT scheduled_for),
                          (SELECT count(*) FROM tasks WHERE task_name = 'far')
                   FROM tasks WHERE task_name = 'due'"""
            )
            late, schedules_fired, slots, far_tasks = await cur.fetchone()
        samples = [float(x) for x in late]

        windows = []
        for analyzed in (False, True):
            if analyzed:
                async with conn.cursor() as cur:
                    await cur.execute("ANALYZE schedules")
            await asyncio.sleep(SETTLE_SECONDS)
            before = await table_reads(conn)
            await asyncio.sleep(idle_seconds)
            after = await table_reads(conn)
            windows.append((before, after))

    print()
    print(f"{total:,} schedules, {due:,} due at the same second")
    print(
        f"  all {due:,} tasks visible {ms((all_seen - moment).total_seconds())} after the slot "
        f"(first one at {ms((first_seen - moment).total_seconds())}; polled every 10 ms)"
    )
    print("  " + spread("created_at - scheduled_for", samples))
    print(
        f"  tasks from {schedules_fired:,} distinct schedules, {slots} distinct slot(s); "
        f"tasks of the far schedules: {far_tasks}"
    )
    for (before, after), label in zip(windows, ("as created", "after ANALYZE"), strict=True):
        delta = {key: after[key] - before[key] for key in READS}
        stats = (
            "analyzed"
            if before["analyzed"]
            else "analyzed during the window"
            if after["analyzed"]
            else "never analyzed"
        )
        print(
            f"  nothing due, {idle_seconds:g} s, {label} ({stats}): schedules table "
            f"({after['n_live_tup']:,} rows) seq scans {delta['seq_scan']}, rows read by seq "
            f"scans {delta['seq_tup_read']:,}, index scans {delta['idx_scan']}, rows fetched "
            f"by index {delta['idx_tup_fetch']:,}"
        )


async def run(args: argparse.Namespace, url: str) -> None:
    if args.only in (None, "lateness"):
        await lateness(url, args.seconds, args.servers)
    if args.only in (None, "scale"):
        await scale(url, args.schedules, args.due, args.idle_seconds)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url", help="PostgreSQL URI (default: an embedded, throw-away one)"
    )
    parser.add_argument("--only", choices=("lateness", "scale"), help="run one part")
    parser.add_argument("--seconds", type=int, default=300, help="slots of the 1-s schedule")
    parser.add_argument("--servers", type=int, default=1, help="server processes (lateness)")
    parser.add_argument("--schedules", type=int, default=10_000, help="schedules in all (scale)")
    parser.add_argument("--due", type=int, default=1000, help="of them due at one second")
    parser.add_argument(
        "--idle-seconds",
        type=float,
        default=40,
        help="window of the idle table reads (over 30 s: the timer wakes at least that often)",
    )
    args = parser.parse_args()
    assert args.seconds >= 1 and args.servers >= 1
    run_on_database(args.database_url, lambda url: run(args, url))


if __name__ == "__main__":
    main()
