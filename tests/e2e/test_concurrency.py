"""Concurrency claims proven with concurrency: many clients at once, then counts in the database."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys

import aiohttp
import psycopg2
import pytest

from tests.helpers import API, call, claim, eventually, make_queue, make_task, query_one


async def test_each_task_is_delivered_exactly_once_to_concurrent_claimers(client, database_url):
    await make_queue(client, "q")
    created = await asyncio.gather(*(make_task(client, params=i) for i in range(1000)))
    rng = random.Random(7)
    delivered: list[dict] = []

    async def claimer():
        while True:
            batch = await claim(client, limit=rng.randint(1, 10), claim_timeout=600)
            if not batch:
                return
            delivered.extend(batch)
            for task in batch[::2]:
                await call(client, "POST", f"/runs/{task['run_id']}/complete", 200)

    await asyncio.gather(*(claimer() for _ in range(8)))
    assert len(delivered) == 1000
    assert len({t["run_id"] for t in delivered}) == 1000
    assert {t["task_id"] for t in delivered} == {c["task_id"] for c in created}

    stats = await call(client, "GET", "/queues/q/stats", 200)
    claimed, completed, pending = query_one(
        database_url,
        "SELECT count(*) FILTER (WHERE status = 'claimed'), count(*) FILTER (WHERE status = 'completed'),"
        " count(*) FILTER (WHERE status = 'pending') FROM runs",
    )
    assert (stats["claimed_runs"], stats["completed_runs"], stats["pending_runs"]) == (
        claimed,
        completed,
        pending,
    )
    assert claimed + completed == 1000 and pending == 0
    assert stats["tasks_by_status"] == {"pending": claimed, "completed": completed}


async def test_emit_racing_wait_never_leaves_a_run_asleep(client, database_url):
    await make_queue(client, "q")
    await asyncio.gather(*(make_task(client) for _ in range(300)))
    tasks = await claim(client, limit=300, claim_timeout=600)
    assert len(tasks) == 300

    async def wait(task, i):
        body = {
            "event_name": f"e{i}",
            "timeout_seconds": 600,
            "task_id": task["task_id"],
            "step_name": "s",
        }
        resp = await client.post(f"{API}/runs/{task['run_id']}/wait-for-event", json=body)
        return resp.status

    async def emit(i):
        resp = await client.post(f"{API}/events", json={"event_name": f"e{i}", "payload": i})
        return resp.status

    jobs = []
    for i, task in enumerate(tasks):
        pair = [wait(task, i), emit(i)]
        random.Random(i).shuffle(pair)
        jobs += pair
    statuses = await asyncio.gather(*jobs)
    assert set(statuses) <= {200, 201, 202}
    stranded = query_one(
        database_url,
        "SELECT count(*) FROM runs r JOIN event_waits w ON w.run_id = r.id"
        " WHERE r.status = 'sleeping' AND EXISTS (SELECT 1 FROM events e WHERE e.event_name = w.event_name)",
    )[0]
    assert stranded == 0
    # every run either resolved at once (still claimed) or was woken (pending again)
    claimed, pending = query_one(
        database_url,
        "SELECT count(*) FILTER (WHERE status = 'claimed'), count(*) FILTER (WHERE status = 'pending') FROM runs",
    )
    assert claimed + pending == 300
    assert claimed == statuses.count(200)


async def test_concurrent_creates_with_one_idempotency_key_make_one_task(client, database_url):
    await make_queue(client, "q")

    async def create():
        resp = await client.post(
            f"{API}/queues/q/tasks", json={"task_name": "t", "idempotency_key": "once"}
        )
        return resp.status, await resp.json()

    results = await asyncio.gather(*(create() for _ in range(25)))
    assert sorted(status for status, _ in results) == [200] * 24 + [201]
    assert len({body["task_id"] for _, body in results}) == 1
    assert len({body["run_id"] for _, body in results}) == 1
    assert query_one(database_url, "SELECT count(*) FROM tasks")[0] == 1
    assert query_one(database_url, "SELECT count(*) FROM runs")[0] == 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def two_servers(database_url):
    procs = []
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DURABLE_MAINTENANCE_INTERVAL": "0.2",
        "DURABLE_LOG_LEVEL": "WARNING",
    }
    for _ in range(2):
        port = free_port()
        proc = subprocess.Popen(
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
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append((proc, f"http://127.0.0.1:{port}"))
    yield procs
    for proc, _ in procs:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=20)


async def readiness(session, url):
    try:
        async with session.get(f"{url}/readyz") as resp:
            return (await resp.json())["maintenance"] if resp.status == 200 else None
    except aiohttp.ClientError:
        return None


async def test_one_sweeper_at_a_time_and_takeover_when_it_dies(two_servers):
    async with aiohttp.ClientSession() as session:

        async def exactly_one_active():
            states = [await readiness(session, url) for _, url in two_servers]
            return states if sorted(map(str, states)) == ["active", "standby"] else None

        states = await eventually(exactly_one_active, deadline_seconds=60)
        # it stays that way: still exactly one after several more intervals
        for _ in range(10):
            assert await exactly_one_active()
        active = states.index("active")
        proc, _ = two_servers[active]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=20)
        _, survivor_url = two_servers[1 - active]

        async def survivor_took_over():
            return await readiness(session, survivor_url) == "active"

        await eventually(survivor_took_over, deadline_seconds=30)


async def test_create_task_racing_queue_delete_is_404_not_500(client, database_url):
    await make_queue(client, "doomed")
    deleter = psycopg2.connect(database_url)
    try:
        with deleter.cursor() as cur:
            cur.execute("DELETE FROM queues WHERE name = 'doomed'")  # uncommitted: holds the row
        create = asyncio.create_task(
            client.post(f"{API}/queues/doomed/tasks", json={"task_name": "t"})
        )

        async def create_is_blocked():
            waiting = query_one(
                database_url,
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND application_name = 'durable-queue'",
            )[0]
            return waiting > 0

        await eventually(create_is_blocked)
        deleter.commit()
        resp = await create
        assert resp.status == 404, await resp.text()
        assert (await resp.json())["code"] == "NOT_FOUND"
    finally:
        deleter.close()
    assert query_one(database_url, "SELECT count(*) FROM tasks")[0] == 0
