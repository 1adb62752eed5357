"""Long polling: claims that wait for work, woken through the listener (LISTEN/NOTIFY).

Synchronisation polls observable state (registered and sleeping waiters, claim
counts, pg_stat_activity) with a deadline; nothing sleeps a fixed time and
nothing asserts a duration.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import tempfile
from typing import Any

import aiohttp
import pgserver
import psycopg2
import pytest

from durable_queue.api.keys import LISTENER
from durable_queue.app import create_app
from durable_queue.config import Settings
from durable_queue.db import LISTENER_APPLICATION_NAME
from durable_queue.migrate import apply_migrations
from durable_queue.store import Store
from tests.helpers import API, call, claim, eventually, make_queue, make_task


def store_of(app) -> Store:
    from durable_queue.api.keys import STORE

    return app[STORE]


def poll(client, queue: str = "q", *, limit: int = 1, seconds: int = 30) -> asyncio.Task:
    """Start a long-polling claim in the background; the task's result is the claimed list."""

    async def go() -> list[dict[str, Any]]:
        body = await call(
            client,
            "POST",
            f"/queues/{queue}/tasks/claim",
            200,
            json={"limit": limit, "claim_timeout": 60, "long_poll_seconds": seconds},
        )
        return body["tasks"]

    return asyncio.create_task(go())


async def sleeping_waiters(app, count: int) -> None:
    """Wait until exactly `count` long polls are registered and all of them sleep."""
    waiters = app[LISTENER].waiters

    def settled() -> bool:
        return len(waiters) == count and waiters.idle_count() == count

    await eventually(settled, what=f"{count} sleeping waiters")


# -- waking ---------------------------------------------------------------


async def test_long_poll_is_woken_by_a_new_task(client, app):
    await make_queue(client)
    waiting = poll(client)
    await sleeping_waiters(app, 1)
    created = await make_task(client, params={"n": 1})
    tasks = await waiting
    assert [t["task_id"] for t in tasks] == [created["task_id"]]
    assert tasks[0]["params"] == {"n": 1}
    assert len(app[LISTENER].waiters) == 0


async def test_zero_or_absent_long_poll_answers_at_once(client, app):
    await make_queue(client)
    for extra in ({}, {"long_poll_seconds": 0}):
        body = await call(
            client,
            "POST",
            "/queues/q/tasks/claim",
            200,
            json={"limit": 1, "claim_timeout": 60, **extra},
        )
        assert body == {"tasks": []}
    assert len(app[LISTENER].waiters) == 0


async def test_long_poll_times_out_with_an_empty_list(client, app):
    await make_queue(client)
    assert await poll(client, seconds=1) == []
    assert len(app[LISTENER].waiters) == 0


async def test_long_poll_on_a_missing_queue_is_404(client, app):
    resp = await client.post(
        f"{API}/queues/nope/tasks/claim",
        json={"limit": 1, "claim_timeout": 60, "long_poll_seconds": 5},
    )
    assert resp.status == 404
    assert len(app[LISTENER].waiters) == 0


async def test_long_poll_returns_a_retry_when_its_backoff_passes(client, app):
    await make_queue(client)
    created = await make_task(
        client, max_attempts=2, retry_strategy={"kind": "fixed", "base_seconds": 1}
    )
    [first] = await claim(client)
    waiting = poll(client)
    await sleeping_waiters(app, 1)
    failed = await call(client, "POST", f"/runs/{first['run_id']}/fail", 200, json={"error": "x"})
    assert failed["next_run_id"]
    tasks = await waiting  # the retry is not claimable for a second: only a due wake finds it
    assert [(t["task_id"], t["run_id"], t["attempt"]) for t in tasks] == [
        (created["task_id"], failed["next_run_id"], 2)
    ]


async def test_long_poll_started_after_a_retry_returns_it_when_due(client, app):
    await make_queue(client)
    await make_task(client, max_attempts=2, retry_strategy={"kind": "fixed", "base_seconds": 1})
    [first] = await claim(client)
    failed = await call(client, "POST", f"/runs/{first['run_id']}/fail", 200, json={"error": "x"})
    tasks = await poll(client)
    assert [t["run_id"] for t in tasks] == [failed["next_run_id"]]


async def test_long_poll_returns_a_scheduled_run_when_it_comes_due(client, app):
    await make_queue(client)
    waiting = poll(client)
    await sleeping_waiters(app, 1)
    run_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    created = await make_task(client, run_at=run_at.isoformat())
    tasks = await waiting
    assert [t["task_id"] for t in tasks] == [created["task_id"]]


async def test_long_poll_is_woken_when_an_event_wakes_a_sleeping_run(client, app):
    await make_queue(client)
    created = await make_task(client)
    [task] = await claim(client)
    body = await call(
        client,
        "POST",
        f"/runs/{task['run_id']}/wait-for-event",
        202,
        json={
            "event_name": "paid",
            "timeout_seconds": 600,
            "task_id": created["task_id"],
            "step_name": "wait-paid",
        },
    )
    assert body["status"] == "sleeping"
    waiting = poll(client)
    await sleeping_waiters(app, 1)
    await call(client, "POST", "/events", 201, json={"event_name": "paid", "payload": {"ok": 1}})
    tasks = await waiting
    assert [t["run_id"] for t in tasks] == [task["run_id"]]


# -- many waiters ---------------------------------------------------------


async def test_a_long_poll_right_after_a_short_claim_sleeps_without_claiming(client, app):
    await make_queue(client)
    listener = app[LISTENER]
    await eventually(lambda: listener.waiters.listening, what="the listener listening")
    await make_task(client, params={"n": 1})
    # its notification is in: one arriving during the claim below would make it unsure
    await eventually(lambda: listener.waiters.seen("q") == 1, what="the notification")
    first = await call(
        client,
        "POST",
        "/queues/q/tasks/claim",
        200,
        json={"limit": 10, "claim_timeout": 60, "long_poll_seconds": 30},
    )
    assert len(first["tasks"]) == 1  # fewer than asked: the queue is drained
    store = store_of(app)
    before = store.claim_queries
    waiting = poll(client, limit=10)
    await sleeping_waiters(app, 1)
    assert store.claim_queries == before  # it went to sleep without a claim statement
    created = await make_task(client, params={"n": 2})
    assert [t["task_id"] for t in await waiting] == [created["task_id"]]
    assert store.claim_queries == before + 1


async def test_a_scheduled_run_is_delivered_when_due_past_a_drained_queue(client, app):
    await make_queue(client)
    listener = app[LISTENER]
    await eventually(lambda: listener.waiters.listening, what="the listener listening")
    run_at = dt.datetime.now(dt.UTC) + dt.timedelta(milliseconds=300)
    created = await make_task(client, run_at=run_at.isoformat())
    await eventually(lambda: listener.waiters.seen("q") == 1, what="the notification")
    store = store_of(app)
    first = poll(client, limit=10)  # claims nothing, learns when the run is due, sleeps
    await sleeping_waiters(app, 1)
    before = store.claim_queries
    second = poll(client, limit=10, seconds=1)  # the queue is known drained: sleeps at once
    await sleeping_waiters(app, 2)
    assert store.claim_queries == before
    # the due timer wakes the first in line, which claims the run; the other times out
    assert [t["task_id"] for t in await first] == [created["task_id"]]
    assert await second == []


async def test_many_waiters_each_get_distinct_tasks_exactly_once(client, app):
    await make_queue(client)
    waiters = [poll(client, limit=1) for _ in range(40)]
    await sleeping_waiters(app, 40)
    created = await asyncio.gather(*(make_task(client, params={"i": i}) for i in range(40)))
    results = await asyncio.gather(*waiters)
    delivered = [t["task_id"] for tasks in results for t in tasks]
    assert all(len(tasks) == 1 for tasks in results)
    assert sorted(delivered) == sorted(c["task_id"] for c in created)
    assert await claim(client, limit=100) == []


async def test_one_folded_notification_reaches_every_waiter_it_concerns(client, app):
    """An event wakes 20 sleeping runs in one transaction: PostgreSQL folds their notifications
    into one, and full batches hand the wake on until every run is delivered."""
    await make_queue(client)
    created = [await make_task(client) for _ in range(20)]
    claimed = await claim(client, limit=20)
    for task in claimed:
        await call(
            client,
            "POST",
            f"/runs/{task['run_id']}/wait-for-event",
            202,
            json={
                "event_name": "go",
                "timeout_seconds": 600,
                "task_id": task["task_id"],
                "step_name": "s",
            },
        )
    waiters = [poll(client, limit=2) for _ in range(10)]
    await sleeping_waiters(app, 10)
    await call(client, "POST", "/events", 201, json={"event_name": "go"})
    results = await asyncio.gather(*waiters)
    delivered = [t["task_id"] for tasks in results for t in tasks]
    assert sorted(delivered) == sorted(c["task_id"] for c in created)


async def test_one_new_task_does_not_send_500_waiters_to_the_database(aiohttp_server, app):
    server = await aiohttp_server(app)
    base = str(server.make_url("")).rstrip("/")
    store = store_of(app)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        async with session.post(f"{base}{API}/queues", json={"name": "q"}) as resp:
            assert resp.status == 201

        async def long_poll() -> list[dict[str, Any]]:
            async with session.post(
                f"{base}{API}/queues/q/tasks/claim",
                json={"limit": 1, "claim_timeout": 60, "long_poll_seconds": 30},
            ) as resp:
                assert resp.status == 200
                return (await resp.json())["tasks"]

        polls = [asyncio.create_task(long_poll()) for _ in range(500)]
        await sleeping_waiters(app, 500)
        before = store.claim_queries
        async with session.post(f"{base}{API}/queues/q/tasks", json={"task_name": "w"}) as resp:
            assert resp.status == 201
            created = await resp.json()
        done, _ = await asyncio.wait(polls, return_when=asyncio.FIRST_COMPLETED)
        [winner] = done
        assert [t["task_id"] for t in winner.result()] == [created["task_id"]]
        await sleeping_waiters(app, 499)
        assert store.claim_queries - before <= 3

        await server.close()  # shutdown answers the others at once, with nothing
        results = await asyncio.gather(*polls)
        assert sum(len(r) for r in results) == 1


# -- lifecycle --------------------------------------------------------------


async def test_a_client_that_disconnects_leaves_no_waiter(server_url, app):
    # aiohttp's test server runs with handler_cancellation=True, like `durable-queue serve`:
    # the handler is cancelled when its client goes away, and unregisters its waiter.
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{server_url}{API}/queues", json={"name": "q"}) as resp:
            assert resp.status == 201

        async def long_poll() -> None:
            async with session.post(
                f"{server_url}{API}/queues/q/tasks/claim",
                json={"limit": 1, "claim_timeout": 60, "long_poll_seconds": 30},
            ) as resp:
                await resp.read()

        pending = asyncio.create_task(long_poll())
        await sleeping_waiters(app, 1)
        pending.cancel()  # the client goes away mid-poll: its connection closes
        with pytest.raises(asyncio.CancelledError):
            await pending
    await eventually(lambda: len(app[LISTENER].waiters) == 0, what="the waiter to leave")


async def test_shutdown_answers_every_waiter_with_an_empty_list(aiohttp_client, app):
    client = await aiohttp_client(app)
    await make_queue(client)
    waiters = [poll(client) for _ in range(5)]
    await sleeping_waiters(app, 5)
    await client.server.close()
    assert await asyncio.gather(*waiters) == [[]] * 5


def _listener_backends(database_url: str) -> list[int]:
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT pid FROM pg_stat_activity"
                " WHERE application_name = %s AND datname = current_database()",
                (LISTENER_APPLICATION_NAME,),
            )
            return [row[0] for row in cur.fetchall()]
    finally:
        conn.close()


def _terminate(database_url: str, pid: int) -> None:
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(%s)", (pid,))
    finally:
        conn.close()


async def test_listener_reconnects_after_its_connection_is_killed(client, app, database_url):
    await make_queue(client)
    [old_pid] = _listener_backends(database_url)
    waiters = [poll(client) for _ in range(3)]
    await sleeping_waiters(app, 3)
    store = store_of(app)
    before = store.claim_queries

    await asyncio.to_thread(_terminate, database_url, old_pid)

    def reconnected() -> bool:
        pids = _listener_backends(database_url)
        return len(pids) == 1 and pids[0] != old_pid

    await eventually(reconnected, what="a new listener connection")
    # Notifications of the gap are lost, so every waiter looked once for itself.
    await eventually(lambda: store.claim_queries - before >= 3, what="each waiter to claim once")
    await sleeping_waiters(app, 3)
    body = await eventually(lambda: _ready(client), what="/readyz to recover")
    assert body["listener"] == "ok" and body["database"] == "ok"

    created = [await make_task(client, params={"i": i}) for i in range(3)]
    results = await asyncio.gather(*waiters)
    assert sorted(t["task_id"] for r in results for t in r) == sorted(c["task_id"] for c in created)


async def _ready(client) -> dict[str, Any] | None:
    resp = await client.get("/readyz")
    return await resp.json() if resp.status == 200 else None


@pytest.fixture
def stoppable_postgres():
    """A PostgreSQL of this test's own, which the test may stop and start again."""
    data_dir = tempfile.mkdtemp(prefix="durable-queue-lp-stoppable-")
    handle = {"server": pgserver.get_server(data_dir, cleanup_mode="stop"), "dir": data_dir}
    yield handle
    handle["server"].cleanup()


async def test_readyz_reports_the_listener_down_while_the_database_is_gone(
    aiohttp_client, stoppable_postgres
):
    url = stoppable_postgres["server"].get_uri()
    await apply_migrations(url)
    app = create_app(Settings(database_url=url))
    client = await aiohttp_client(app)
    await make_queue(client)
    assert (await client.get("/readyz")).status == 200

    stoppable_postgres["server"].cleanup()  # the database goes away, and the listener with it

    async def down() -> dict[str, Any] | None:
        resp = await client.get("/readyz")
        body = await resp.json()
        return body if resp.status == 503 and body["listener"] == "down" else None

    body = await eventually(down, what="/readyz 503 with the listener down")
    assert body["status"] == "unavailable"

    stoppable_postgres["server"] = pgserver.get_server(
        stoppable_postgres["dir"], cleanup_mode="stop"
    )
    body = await eventually(lambda: _ready(client), deadline_seconds=60, what="/readyz 200")
    assert body["listener"] == "ok"


async def test_a_waiter_on_one_server_is_woken_by_a_task_created_on_another(
    aiohttp_client, database_url
):
    app_a = create_app(Settings(database_url=database_url))
    app_b = create_app(Settings(database_url=database_url))
    client_a = await aiohttp_client(app_a)
    client_b = await aiohttp_client(app_b)
    assert app_a[LISTENER] is not app_b[LISTENER]
    await make_queue(client_a)
    waiting = poll(client_a)
    await sleeping_waiters(app_a, 1)
    created = await make_task(client_b)
    tasks = await waiting
    assert [t["task_id"] for t in tasks] == [created["task_id"]]
    assert len(app_b[LISTENER].waiters) == 0
