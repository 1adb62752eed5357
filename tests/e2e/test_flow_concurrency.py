"""Concurrency limits exact across server processes (issue 23, the headline test).

Two `durable-queue serve` processes on one database; 16 claimers (8 per process, long
polling, claiming 1 to 4 runs at a time) drain 5,000 tasks over 20 concurrency keys from
a queue with key_concurrency 2 and max_concurrency 25, each holding what it claimed for a
moment before completing it. Then, from the database's own record of every run's claim
and finish times (runs.claimed_at, read by the claim under the queue's lock, and
runs.completed_at), a sweep over the claim and finish events finds the most runs held at
any instant, per key and for the queue: never over the limits, and the limits were
reached (else the test proved nothing). Every task completed exactly once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

import aiohttp
import pytest

from tests.e2e.test_server_cli import clean_env
from tests.e2e.test_server_workers import free_port
from tests.helpers import eventually, query_all

API = "/api/v1"
QUEUE = "flow"
TASKS, KEYS = 5_000, 20
KEY_LIMIT, QUEUE_LIMIT = 2, 25
SERVERS, CLAIMERS_PER_SERVER = 2, 8
HOLD_SECONDS = 0.02  # the most a claimer holds its runs before completing them (random)
LONG_POLL_SECONDS = 2  # short: the claimers' last long polls end soon after the drain
# Evidence the limits were reached: the queue's most runs at once at least this.
REACHED = 20
DRAIN_SECONDS = 90  # a bound on the drain, not a performance figure


@pytest.fixture
def servers(database_url: str) -> Iterator[list[str]]:
    """SERVERS server processes on this test's database: their base URLs."""
    env = clean_env(
        DATABASE_URL=database_url, DURABLE_LOG_LEVEL="WARNING", DURABLE_MAINTENANCE_INTERVAL="0.5"
    )
    procs, urls = [], []
    for _ in range(SERVERS):
        port = free_port()
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "durable_queue",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                ],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        urls.append(f"http://127.0.0.1:{port}")
    try:
        yield urls
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def post(session: aiohttp.ClientSession, url: str, body: Any, expect: int) -> Any:
    async with session.post(url, json=body) as resp:
        text = await resp.text()
        assert resp.status == expect, f"POST {url}: {resp.status} {text}"
        return await resp.json()


async def ready(session: aiohttp.ClientSession, base: str) -> bool:
    try:
        async with session.get(f"{base}/readyz") as resp:
            return resp.status == 200
    except aiohttp.ClientError:
        return False


def most_at_once(intervals: Iterable[tuple[dt.datetime, dt.datetime | None]]) -> int:
    """The most intervals open at any instant: a sweep over their starts and ends in time
    order, an end at time t before a start at t (a slot freed, then taken). An interval
    with no end (a run still claimed) is open to the end."""
    events = []
    for start, end in intervals:
        events.append((start, 1))
        if end is not None:
            events.append((end, -1))
    events.sort()  # (t, -1) sorts before (t, +1)
    most = current = 0
    for _, step in events:
        current += step
        most = max(most, current)
    return most


async def test_limits_hold_at_every_instant_across_two_server_processes(servers, database_url):
    rng = random.Random(23)
    completed = 0
    delivered: list[str] = []
    empty_polls = 0
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        for base in servers:
            await eventually(lambda base=base: ready(session, base), deadline_seconds=120)
        await post(
            session,
            f"{servers[0]}{API}/queues",
            {"name": QUEUE, "key_concurrency": KEY_LIMIT, "max_concurrency": QUEUE_LIMIT},
            201,
        )
        items = [
            {"task_name": "t", "params": i, "concurrency_key": f"key-{i % KEYS}"}
            for i in range(TASKS)
        ]
        for start in range(0, TASKS, 1000):
            await post(
                session,
                f"{servers[start // 1000 % SERVERS]}{API}/queues/{QUEUE}/tasks/batch",
                {"tasks": items[start : start + 1000]},
                200,
            )

        async def claimer(base: str, seed: int) -> None:
            nonlocal completed, empty_polls
            own = random.Random(seed)
            while completed < TASKS:
                body = await post(
                    session,
                    f"{base}{API}/queues/{QUEUE}/tasks/claim",
                    {
                        "limit": own.randint(1, 4),
                        "claim_timeout": 300,
                        "long_poll_seconds": LONG_POLL_SECONDS,
                    },
                    200,
                )
                tasks = body["tasks"]
                if not tasks:
                    empty_polls += 1
                    continue
                delivered.extend(t["run_id"] for t in tasks)
                await asyncio.sleep(own.uniform(0, HOLD_SECONDS))  # holding the slots
                for task in tasks:
                    await post(
                        session,
                        f"{base}{API}/runs/{task['run_id']}/complete",
                        {"result": None, "claim_token": task["claim_token"]},
                        200,
                    )
                completed += len(tasks)

        began = time.monotonic()
        async with asyncio.timeout(DRAIN_SECONDS):
            await asyncio.gather(
                *(
                    claimer(base, rng.randrange(1 << 30))
                    for base in servers
                    for _ in range(CLAIMERS_PER_SERVER)
                )
            )
        drained_in = time.monotonic() - began

    assert completed == TASKS
    assert len(delivered) == len(set(delivered)) == TASKS

    rows = query_all(
        database_url,
        "SELECT r.task_id, r.concurrency_key, r.status, r.claimed_at, r.completed_at"
        " FROM runs r JOIN queues q ON q.id = r.queue_id WHERE q.name = %s",
        (QUEUE,),
    )
    assert len(rows) == TASKS  # one run per task: none failed, expired or retried
    by_status = defaultdict(int)
    completions = defaultdict(int)
    per_key: dict[str, list[tuple[dt.datetime, dt.datetime | None]]] = defaultdict(list)
    everything = []
    for task_id, key, status, claimed_at, completed_at in rows:
        by_status[status] += 1
        if status == "completed":
            completions[task_id] += 1
        assert claimed_at is not None
        per_key[key].append((claimed_at, completed_at))
        everything.append((claimed_at, completed_at))
    assert dict(by_status) == {"completed": TASKS}
    assert len(completions) == TASKS and set(completions.values()) == {1}
    [(tasks_completed,)] = query_all(
        database_url,
        "SELECT count(*) FROM tasks t JOIN queues q ON q.id = t.queue_id"
        " WHERE q.name = %s AND t.status = 'completed'",
        (QUEUE,),
    )
    assert tasks_completed == TASKS

    key_most = {key: most_at_once(intervals) for key, intervals in per_key.items()}
    queue_most = most_at_once(everything)
    summary = (
        f"drained in {drained_in:.1f} s, {empty_polls} empty long polls; most at once:"
        f" queue {queue_most}, keys {sorted(key_most.values())}"
    )
    print(summary)
    assert len(key_most) == KEYS
    assert max(key_most.values()) <= KEY_LIMIT, summary
    assert queue_most <= QUEUE_LIMIT, summary
    # the limits were reached: the invariant was under pressure, not trivially true
    assert queue_most >= REACHED, summary
    assert max(key_most.values()) == KEY_LIMIT, summary
