"""Result waits (issue 25): N concurrent `GET /tasks/{id}/result?wait_seconds=60` on N
different tasks: the server's memory while they wait, and how fast a completion wakes one.

    python bench/result_waits.py [--database-url URL] [--waits 1000] [--samples 1000]

Starts an embedded PostgreSQL in a temporary directory unless --database-url is given
(queues get unique names and are deleted at the end), then a real server process
(`python -m durable_queue serve`, i.e. `durable-queue serve`) on a free loopback port
with DURABLE_MAX_WAITERS above --waits, and measures:

- server RSS with no wait, with --waits idle result waits (each on its own pending
  task), and after every wait was answered; `/healthz` latency while they wait. "The
  waits are registered" is judged from the server process, as bench/long_poll.py does:
  that many established connections on its port and its CPU idle for a few tenths of a
  second;
- wake latency, one by one: the waited tasks are claimed, then completed one at a time
  (`POST /runs/{id}/complete`), each after the previous one's wait answered, so every
  completion happens with the other waits still open. The latency runs from the
  completion's commit, seen by the bench's own LISTEN connection on
  `durable_queue_task_done` (the channel the server's waits are woken by), to the
  answer of that task's wait; the last column times from sending the complete instead;
- wake latency, a burst: --waits fresh tasks and waits, every task completed by one
  batch complete (`POST /runs/complete`, one commit): from that commit to each answer,
  i.e. how long the last of the woken waits takes to be answered.

A wait that ends before its task does ("pending" after 60 s) is sent again, as
`TaskHandle.result()` does; the bench keeps each round well under 60 s. Timings belong
here, never in the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from typing import Any

import aiohttp
import aiopg
import psutil
from database import run_on_database
from latency import percentiles
from long_poll import free_port, settle
from server_process import wait_until_ready

API = "/api/v1"
CHANNEL = "durable_queue_task_done"  # dq_task_settled notifies it with the task's id
WAIT_SECONDS = 60


class Commits:
    """When each task's "done" notification reached the bench: its finishing commit."""

    def __init__(self, conn: aiopg.Connection) -> None:
        self.conn = conn
        self.seen: dict[str, float] = {}
        self.changed = asyncio.Event()

    async def run(self) -> None:
        async with self.conn.cursor() as cur:
            await cur.execute(f"LISTEN {CHANNEL}")
        while True:
            notify = await self.conn.notifies.get()
            self.seen.setdefault(notify.payload, time.perf_counter())
            self.changed.set()

    async def of(self, task_id: str) -> float:
        while task_id not in self.seen:
            self.changed.clear()
            await self.changed.wait()
        return self.seen[task_id]


class Waits:
    """One result wait per task, each sent again while its answer is "pending"."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base
        self.answered: dict[str, float] = {}  # task_id -> perf_counter() of its final answer
        self.statuses: dict[str, str] = {}
        self.repeated = 0
        self.arrived = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, task_ids: list[str]) -> None:
        self._tasks += [asyncio.create_task(self._wait(task_id)) for task_id in task_ids]

    async def _wait(self, task_id: str) -> None:
        url = f"{self.base}{API}/tasks/{task_id}/result"
        while True:
            async with self.session.get(url, params={"wait_seconds": WAIT_SECONDS}) as resp:
                body = await resp.json() if resp.status == 200 else {"status": "error"}
            if resp.status == 503:  # the server holds its limit of waits: as the client does
                await asyncio.sleep(1)
                continue
            if body["status"] != "pending":
                break
            self.repeated += 1
        self.answered[task_id] = time.perf_counter()
        self.statuses[task_id] = body["status"]
        self.arrived.set()

    async def of(self, task_id: str) -> float:
        while task_id not in self.answered:
            self.arrived.clear()
            await self.arrived.wait()
        return self.answered[task_id]

    async def all_answered(self) -> None:
        await asyncio.gather(*self._tasks)
        self._tasks = []

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []


async def call(
    session: aiohttp.ClientSession, method: str, url: str, expect: int, **kw: Any
) -> Any:
    async with session.request(method, url, **kw) as resp:
        assert resp.status == expect, f"{method} {url}: {resp.status} {await resp.text()}"
        return await resp.json() if resp.content_length != 0 else None


async def pending_tasks(
    session: aiohttp.ClientSession, base: str, queue: str, count: int
) -> list[str]:
    ids: list[str] = []
    for start in range(0, count, 1000):
        items = [{"task_name": "wait-on-me"} for _ in range(min(1000, count - start))]
        answer = await call(
            session, "POST", f"{base}{API}/queues/{queue}/tasks/batch", 200, json={"tasks": items}
        )
        ids += [item["task_id"] for item in answer["tasks"]]
    return ids


async def claim_all(
    session: aiohttp.ClientSession, base: str, queue: str, count: int
) -> dict[str, str]:
    """task_id -> run_id, every pending run of the queue claimed (for 10 minutes)."""
    runs: dict[str, str] = {}
    while len(runs) < count:
        answer = await call(
            session,
            "POST",
            f"{base}{API}/queues/{queue}/tasks/claim",
            200,
            json={"limit": 100, "claim_timeout": 600},
        )
        assert answer["tasks"], f"only {len(runs)} of {count} runs to claim"
        runs.update({task["task_id"]: task["run_id"] for task in answer["tasks"]})
    return runs


async def run(database_url: str, count: int, samples: int) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DURABLE_LOG_LEVEL": "WARNING",
        "DURABLE_MAX_WAITERS": str(count + 100),
    }
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "durable_queue", "serve", "--host", "127.0.0.1", "--port", str(port)),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    proc = psutil.Process(server.pid)
    base = f"http://127.0.0.1:{port}"
    tag = uuid.uuid4().hex[:8]
    facts: list[tuple[str, str]] = []
    latency_rows: list[tuple[str, float, float, float, float]] = []
    repeated = 0
    try:
        async with (
            aiohttp.ClientSession() as control,
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as waits_session,
            aiopg.connect(database_url, application_name="durable-queue-bench") as conn,
        ):
            commits = Commits(conn)
            watch = asyncio.create_task(commits.run())
            try:
                await wait_until_ready(control, base, server, poll=0.2)
                await settle(proc, port, 0)
                rss_none = proc.memory_info().rss

                # one by one, with the other waits open
                queue = f"bench-rw-{tag}-one"
                await call(control, "POST", f"{base}{API}/queues", 201, json={"name": queue})
                task_ids = await pending_tasks(control, base, queue, count)
                waits = Waits(waits_session, base)
                waits.start(task_ids)
                await settle(proc, port, count)
                rss_waiting = proc.memory_info().rss
                health = []
                for _ in range(200):
                    started = time.perf_counter()
                    async with control.get(f"{base}/healthz") as resp:
                        await resp.read()
                    health.append((time.perf_counter() - started) * 1000)
                h50, _, h99 = percentiles(health)
                runs = await claim_all(control, base, queue, count)
                from_commit, from_request = [], []
                for task_id in task_ids[:samples]:
                    sent = time.perf_counter()
                    await call(
                        control, "POST", f"{base}{API}/runs/{runs[task_id]}/complete", 200, json={}
                    )
                    answered = await waits.of(task_id)
                    committed = await commits.of(task_id)
                    from_commit.append((answered - committed) * 1000)
                    from_request.append((answered - sent) * 1000)
                rest = [runs[t] for t in task_ids[samples:]]
                for start in range(0, len(rest), 1000):
                    items = [{"run_id": run_id} for run_id in rest[start : start + 1000]]
                    await call(
                        control, "POST", f"{base}{API}/runs/complete", 200, json={"runs": items}
                    )
                await waits.all_answered()
                assert set(waits.statuses.values()) == {"completed"}, Counter(
                    waits.statuses.values()
                )
                repeated += waits.repeated
                p50, p95, p99 = percentiles(from_commit)
                latency_rows.append(
                    (
                        f"one by one ({len(from_commit):,})",
                        p50,
                        p95,
                        p99,
                        percentiles(from_request)[2],
                    )
                )
                await settle(proc, port, 0)
                rss_after = proc.memory_info().rss

                # a burst: every task completed by one statement
                queue = f"bench-rw-{tag}-burst"
                await call(control, "POST", f"{base}{API}/queues", 201, json={"name": queue})
                task_ids = await pending_tasks(control, base, queue, count)
                waits = Waits(waits_session, base)
                waits.start(task_ids)
                await settle(proc, port, count)
                runs = await claim_all(control, base, queue, count)
                items = [{"run_id": runs[t]} for t in task_ids]
                sent = time.perf_counter()
                for start in range(0, len(items), 1000):
                    await call(
                        control,
                        "POST",
                        f"{base}{API}/runs/complete",
                        200,
                        json={"runs": items[start : start + 1000]},
                    )
                await waits.all_answered()
                assert set(waits.statuses.values()) == {"completed"}, Counter(
                    waits.statuses.values()
                )
                repeated += waits.repeated
                burst = [(waits.answered[t] - await commits.of(t)) * 1000 for t in task_ids]
                p50, p95, p99 = percentiles(burst)
                last = (max(waits.answered.values()) - sent) * 1000
                latency_rows.append((f"burst of {count:,}, one commit", p50, p95, p99, last))
                await settle(proc, port, 0)
                rss_burst = proc.memory_info().rss

                facts += [
                    ("server RSS, no wait", f"{rss_none / 2**20:.1f} MB"),
                    (f"server RSS, {count:,} idle result waits", f"{rss_waiting / 2**20:.1f} MB"),
                    ("server RSS, after they were answered", f"{rss_after / 2**20:.1f} MB"),
                    ("server RSS, after the burst round", f"{rss_burst / 2**20:.1f} MB"),
                    (
                        f"/healthz with {count:,} idle result waits",
                        f"p50 {h50:.2f} ms, p99 {h99:.2f} ms",
                    ),
                    ("waits sent again after a 'pending' answer", str(repeated)),
                ]
                for name in (f"bench-rw-{tag}-one", f"bench-rw-{tag}-burst"):
                    async with control.delete(f"{base}{API}/queues/{name}?force=true") as resp:
                        await resp.read()
            finally:
                watch.cancel()
    finally:
        if server.returncode is None:
            server.terminate()
            try:
                await asyncio.wait_for(server.wait(), 30)
            except TimeoutError:
                server.kill()
                await server.wait()

    print()
    print(
        "wake latency: completion committed -> its result wait answered (server process, loopback)"
    )
    print(f"{'completions':<28} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'last column':>12}")
    for label, p50, p95, p99, last in latency_rows:
        print(f"{label:<28} {p50:>8.2f} {p95:>8.2f} {p99:>8.2f} {last:>12.2f}")
    print(
        "(last column: one by one, p99 from sending the complete; burst, ms from sending the "
        "batch complete to the last answer)"
    )
    print()
    for label, value in facts:
        print(f"{label:<44} {value}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url", help="PostgreSQL URI (default: an embedded, throw-away one)"
    )
    parser.add_argument("--waits", type=int, default=1000, help="result waits at once")
    parser.add_argument(
        "--samples", type=int, default=1000, help="completions timed one by one (<= --waits)"
    )
    args = parser.parse_args()
    run_on_database(
        args.database_url, lambda url: run(url, args.waits, min(args.samples, args.waits))
    )


if __name__ == "__main__":
    main()
