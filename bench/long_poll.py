"""Long polling: wake latency, idle cost of waiters, and claim queries per delivered task.

    python bench/long_poll.py [--database-url URL] [--waiters 1,100,1000] [--samples 200]

Starts an embedded PostgreSQL in a temporary directory unless --database-url
is given (queues get unique names and are deleted at the end), then a real
server process (`python -m durable_queue serve`, i.e. `durable-queue serve`)
on a free loopback port, and measures:

- wake latency: a task is created (timed from sending the create request) while
  N long polls wait on its queue; the latency ends when a long poll returns it.
  Each poll that returns is replaced, so N stay waiting;
- server RSS with the largest number of idle waiters, and /healthz latency
  while they wait;
- shutdown: SIGTERM with those waiters open, until the process exits (every
  poll must be answered, with an empty list);
- claim queries per delivered task, read from `Store.claim_queries` of an app
  served in-process (the only place that counter is visible), 100 waiters,
  tasks created one by one and in a burst.

The server runs with DURABLE_MAX_WAITERS set to the largest count, so no poll is
refused; the RSS and latency figures are what its default was sized from.
The server's waiters are not visible from outside, so "N waiters are
registered" is judged from the server process: N established connections on
its port and its CPU idle for a few tenths of a second. Timings belong here,
never in the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import aiohttp
import aiopg
import psutil
from aiohttp import web
from database import run_on_database
from latency import percentiles
from server_process import wait_until_ready

from durable_queue.api.keys import LISTENER, STORE
from durable_queue.app import create_app
from durable_queue.config import Settings
from durable_queue.db import queries

API = "/api/v1"
LONG_POLL_SECONDS = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Pollers:
    """N long-polling clients on one queue; each that returns is replaced at once."""

    def __init__(self, session: aiohttp.ClientSession, base: str, queue: str) -> None:
        self.session = session
        self.url = f"{base}{API}/queues/{queue}/tasks/claim"
        self.delivered: dict[str, float] = {}  # task_id -> perf_counter() when it arrived
        self.arrived = asyncio.Event()
        self.polls_started = 0
        self.answered_empty = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._stop = False

    def start(self, count: int) -> None:
        self._tasks += [asyncio.create_task(self._loop()) for _ in range(count)]

    async def _loop(self) -> None:
        body = {"limit": 1, "claim_timeout": 600, "long_poll_seconds": LONG_POLL_SECONDS}
        while not self._stop:
            self.polls_started += 1
            async with self.session.post(self.url, json=body) as resp:
                tasks = (await resp.json())["tasks"] if resp.status == 200 else []
            now = time.perf_counter()
            if not tasks:
                self.answered_empty += 1
            for task in tasks:
                self.delivered[task["task_id"]] = now
            self.arrived.set()

    async def wait_for(self, task_id: str) -> float:
        while task_id not in self.delivered:
            self.arrived.clear()
            await self.arrived.wait()
        return self.delivered[task_id]

    def stop_replacing(self) -> None:
        self._stop = True

    async def stop(self) -> None:
        self._stop = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def finish(self) -> list[BaseException | None]:
        """Wait (no cancelling) for every poll to end, e.g. after the server was told to stop."""
        self._stop = True
        results = await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        return results


async def settle(proc: psutil.Process, port: int, connections: int, windows: int = 4) -> None:
    """Wait until the server holds `connections` client connections and its CPU has been idle
    for `windows` tenths of a second in a row."""
    deadline = time.monotonic() + 120
    quiet = 0
    last = sum(proc.cpu_times()[:2])
    while quiet < windows:
        assert time.monotonic() < deadline, "the server did not settle"
        await asyncio.sleep(0.1)
        established = sum(
            1
            for c in proc.net_connections(kind="tcp")
            if c.laddr and c.laddr.port == port and c.status == psutil.CONN_ESTABLISHED
        )
        cpu = sum(proc.cpu_times()[:2])
        quiet = quiet + 1 if established >= connections and cpu - last < 0.005 else 0
        last = cpu


class Commits:
    """When each queue's latest "run claimable" notification reached the bench: the moment its
    create committed, as seen by a LISTEN connection of the bench's own."""

    def __init__(self, conn: aiopg.Connection) -> None:
        self.conn = conn
        self.seen: dict[str, float] = {}
        self.changed = asyncio.Event()

    async def run(self) -> None:
        await queries.listen_claimable(self.conn)
        while True:
            notify = await self.conn.notifies.get()
            self.seen[notify.payload] = time.perf_counter()
            self.changed.set()

    async def after(self, queue: str, moment: float) -> float:
        while self.seen.get(queue, 0.0) < moment:
            self.changed.clear()
            await self.changed.wait()
        return self.seen[queue]


async def wake_latencies(
    session: aiohttp.ClientSession,
    base: str,
    queue: str,
    pollers: Pollers,
    commits: Commits,
    samples: int,
    wait_until_settled: Callable[[], Any],
) -> tuple[list[float], list[float]]:
    """Latencies (ms) from the commit of a new task to the long poll that returns it, and
    from sending its create request to that poll's answer."""
    from_commit, from_request = [], []
    for i in range(samples + 10):
        await wait_until_settled()
        started = time.perf_counter()
        async with session.post(f"{base}{API}/queues/{queue}/tasks", json={"task_name": "b"}) as r:
            assert r.status == 201, await r.text()
            task_id = (await r.json())["task_id"]
        arrived = await pollers.wait_for(task_id)
        committed = await commits.after(queue, started)
        if i >= 10:  # the first ones warm up connections and caches
            from_commit.append((arrived - committed) * 1000)
            from_request.append((arrived - started) * 1000)
    return from_commit, from_request


async def server_measurements(
    database_url: str, waiter_counts: list[int], samples: int, tag: str
) -> tuple[list[tuple[str, str]], list[tuple[int, float, float, float, float]]]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DURABLE_LOG_LEVEL": "WARNING",
        # room for every measured waiter (the control connection is no long poll)
        "DURABLE_MAX_WAITERS": str(max(waiter_counts)),
    }
    command = ["-m", "durable_queue", "serve", "--host", "127.0.0.1", "--port", str(port)]
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        *command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    proc = psutil.Process(server.pid)
    base = f"http://127.0.0.1:{port}"
    facts: list[tuple[str, str]] = []
    latency_rows = []
    try:
        async with (
            aiohttp.ClientSession() as control,
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as polls,
            aiopg.connect(database_url, application_name="durable-queue-bench") as conn,
        ):
            commits = Commits(conn)
            commit_watch = asyncio.create_task(commits.run())
            try:
                await wait_until_ready(control, base, server, poll=0.2)
                await settle(proc, port, 0)
                rss_before = proc.memory_info().rss

                for count in waiter_counts:
                    queue = f"bench-lp-{tag}-{count}"
                    async with control.post(f"{base}{API}/queues", json={"name": queue}) as resp:
                        assert resp.status == 201, await resp.text()
                    pollers = Pollers(polls, base, queue)
                    pollers.start(count)
                    # control keeps one connection (keep-alive) to the server as well
                    from_commit, from_request = await wake_latencies(
                        control,
                        base,
                        queue,
                        pollers,
                        commits,
                        samples,
                        lambda count=count: settle(proc, port, count, windows=1),
                    )
                    latency_rows.append(
                        (count, *percentiles(from_commit), percentiles(from_request)[2])
                    )
                    print(f"measured wake latency with {count:,} waiters", flush=True)
                    if count != max(waiter_counts):
                        await pollers.stop()
                        continue

                    await settle(proc, port, count)
                    rss = proc.memory_info().rss
                    health = []
                    for _ in range(samples):
                        started = time.perf_counter()
                        async with control.get(f"{base}/healthz") as resp:
                            await resp.read()
                        health.append((time.perf_counter() - started) * 1000)
                    h50, _, h99 = percentiles(health)
                    facts.append(("server RSS, no waiters", f"{rss_before / 2**20:.1f} MB"))
                    facts.append((f"server RSS, {count:,} idle waiters", f"{rss / 2**20:.1f} MB"))
                    facts.append(
                        (
                            f"/healthz with {count:,} idle waiters",
                            f"p50 {h50:.2f} ms, p99 {h99:.2f} ms",
                        )
                    )

                    await settle(proc, port, count)
                    pollers.stop_replacing()
                    answered_before = pollers.answered_empty
                    started = time.perf_counter()
                    server.send_signal(signal.SIGTERM)
                    await asyncio.wait_for(server.wait(), 60)
                    exited = time.perf_counter() - started
                    results = await pollers.finish()
                    answered = pollers.answered_empty - answered_before
                    errors = sum(isinstance(r, BaseException) for r in results)
                    facts.append(
                        (
                            f"SIGTERM to exit, {count:,} waiters",
                            f"{exited * 1000:.0f} ms ({answered:,} answered [], {errors} errors)",
                        )
                    )
            finally:
                commit_watch.cancel()
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()
    return facts, latency_rows


async def claims_per_task(database_url: str, tag: str, waiters: int, tasks: int) -> list[tuple]:
    """Serve the app in-process to read its claim counter."""
    app = create_app(Settings(database_url=database_url))
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    store = app[STORE]
    registry = app[LISTENER].waiters
    rows = []
    try:
        async with (
            aiohttp.ClientSession() as control,
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as polls,
        ):

            async def idle(count: int) -> None:
                while not (len(registry) == count and registry.idle_count() == count):  # noqa: ASYNC110
                    await asyncio.sleep(0.005)

            for mode in ("one by one", "burst"):
                queue = f"bench-lp-{tag}-claims-{mode.replace(' ', '-')}"
                async with control.post(f"{base}{API}/queues", json={"name": queue}) as resp:
                    assert resp.status == 201, await resp.text()
                pollers = Pollers(polls, base, queue)
                pollers.start(waiters)
                await idle(waiters)
                claims_before, polls_before = store.claim_queries, pollers.polls_started
                url = f"{base}{API}/queues/{queue}/tasks"
                if mode == "one by one":
                    for _ in range(tasks):
                        async with control.post(url, json={"task_name": "b"}) as resp:
                            task_id = (await resp.json())["task_id"]
                        await pollers.wait_for(task_id)
                        await idle(waiters)
                else:

                    async def create(url: str = url) -> str:
                        async with control.post(url, json={"task_name": "b"}) as resp:
                            return (await resp.json())["task_id"]

                    ids = await asyncio.gather(*(create() for _ in range(tasks)))
                    for task_id in ids:
                        await pollers.wait_for(task_id)
                    await idle(waiters)
                claims = store.claim_queries - claims_before
                repolls = pollers.polls_started - polls_before  # each starts with one claim
                rows.append((mode, waiters, tasks, claims / tasks, (claims - repolls) / tasks))
                await pollers.stop()
                await idle(0)
    finally:
        await runner.cleanup()
    return rows


async def cleanup_queues(database_url: str, tag: str) -> None:
    """Delete this run's queues (they matter only with --database-url)."""
    app = create_app(Settings(database_url=database_url))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}{API}/queues") as resp:
                names = [q["name"] for q in (await resp.json())["queues"]]
            for name in names:
                if name.startswith(f"bench-lp-{tag}-"):
                    url = f"http://127.0.0.1:{port}{API}/queues/{name}?force=true"
                    async with session.delete(url) as resp:
                        await resp.read()
    finally:
        await runner.cleanup()


async def run(database_url: str, waiter_counts: list[int], samples: int) -> None:
    tag = uuid.uuid4().hex[:8]
    try:
        facts, latency_rows = await server_measurements(database_url, waiter_counts, samples, tag)
        claim_rows = await claims_per_task(database_url, tag, waiters=100, tasks=samples)
    finally:
        await cleanup_queues(database_url, tag)

    print()
    print("wake latency: task committed -> long poll returns it (server process, loopback)")
    print(f"{'waiters':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'p99 from create sent':>22}")
    for count, p50, p95, p99, p99_request in latency_rows:
        print(f"{count:>8,} {p50:>8.2f} {p95:>8.2f} {p99:>8.2f} {p99_request:>22.2f}")
    print()
    for label, value in facts:
        print(f"{label:<36} {value}")
    print()
    print("claim queries per delivered task (in-process app, Store.claim_queries)")
    print(
        f"{'tasks created':<14} {'waiters':>8} {'tasks':>6} {'all claims':>11} {'wake claims':>12}"
    )
    for mode, waiters, tasks, per_task, per_task_wake in claim_rows:
        print(f"{mode:<14} {waiters:>8} {tasks:>6} {per_task:>11.2f} {per_task_wake:>12.2f}")
    print("(all claims include the first claim of every replacement poll; wake claims do not)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url", help="PostgreSQL URI (default: an embedded, throw-away one)"
    )
    parser.add_argument("--waiters", default="1,100,1000", help="waiter counts, comma-separated")
    parser.add_argument("--samples", type=int, default=200, help="timed wakes per waiter count")
    args = parser.parse_args()
    counts = [int(n) for n in args.waiters.split(",")]
    run_on_database(args.database_url, lambda url: run(url, counts, args.samples))


if __name__ == "__main__":
    main()
