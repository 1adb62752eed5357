"""Faults under load, with real processes: the server killed with -9 and restarted, PostgreSQL
restarted, the server's database sessions terminated, a worker killed holding 50 claims.
After each, nothing acknowledged is lost, every task completes exactly once, and the
client's retries after a 503 or a lost connection converged: no task made twice, and every
complete that committed answered 200 to the worker holding the claim (harness.py). Each
test prints its counts (`pytest -s tests/faults` shows them)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import aiohttp
import pgserver
import pytest

from durable_queue.db import LISTENER_APPLICATION_NAME, POOL_APPLICATION_NAME
from durable_queue.migrate import apply_migrations
from tests.faults.harness import (
    API,
    Load,
    ServerProcess,
    assert_invariants,
    check,
)
from tests.helpers import eventually

TASKS = 2000
HOLDER = Path(__file__).with_name("holder.py")


@pytest.fixture
def server(database_url: str, tmp_path: Path):
    process = ServerProcess(database_url, tmp_path)
    process.start()
    yield process
    process.stop()


async def make_queue(session: aiohttp.ClientSession, base: str, name: str) -> None:
    async with session.post(f"{base}{API}/queues", json={"name": name}) as resp:
        assert resp.status == 201, await resp.text()


async def test_server_killed_mid_load_loses_nothing(server, database_url):
    async with aiohttp.ClientSession() as session:
        await server.wait_ready(session)
        await make_queue(session, server.base, "kill")
        async with Load(server.base, "kill", TASKS) as load:
            for share in (3, 1.5):  # kill -9 at a third and at two thirds of the creates
                await eventually(
                    lambda share=share: load.created(TASKS / share),
                    deadline_seconds=60,
                    what=f"{TASKS / share:.0f} acknowledged creates",
                )
                server.kill()
                load.counts["server kills"] += 1
                server.start()
                await server.wait_ready(session)
            await eventually(
                lambda: load.finished(database_url),
                deadline_seconds=60,
                what="every task completed",
            )
    assert_invariants(database_url, load, "server kill -9 x2")


@pytest.fixture
def own_postgres():
    """A PostgreSQL of this test's own, which the test stops and starts again."""
    data_dir = tempfile.mkdtemp(prefix="durable-queue-faults-pg-")
    handle = {"server": pgserver.get_server(data_dir, cleanup_mode="stop"), "dir": data_dir}
    yield handle
    handle["server"].cleanup()


async def test_postgres_restarted_mid_load(own_postgres, tmp_path):
    url = own_postgres["server"].get_uri()
    await apply_migrations(url)
    server = ServerProcess(url, tmp_path)
    server.start()
    try:
        async with aiohttp.ClientSession() as session:
            await server.wait_ready(session)
            await make_queue(session, server.base, "pg")
            async with Load(server.base, "pg", TASKS // 2) as load:
                await eventually(
                    lambda: load.created(TASKS / 2 / 3),
                    deadline_seconds=60,
                    what="a third of the creates",
                )
                await asyncio.to_thread(own_postgres["server"].cleanup)  # PostgreSQL stops
                await eventually(
                    lambda: _answers(server, session, f"{API}/queues", 503),
                    what="503 while the database is down",
                )
                assert await server.status(session, "/readyz") == 503
                own_postgres["server"] = await asyncio.to_thread(
                    pgserver.get_server, own_postgres["dir"], cleanup_mode="stop"
                )
                await server.wait_ready(session)
                load.counts["database restarts"] += 1
                await eventually(
                    lambda: load.finished(url),
                    deadline_seconds=60,
                    what="every task completed",
                )
            await _long_poll_is_woken(server, session, "pg-after")
        assert_invariants(url, load, "PostgreSQL restart")
    finally:
        server.stop()


async def _answers(server: ServerProcess, session: aiohttp.ClientSession, path: str, status: int):
    return await server.status(session, path) == status


async def _long_poll_is_woken(server, session, queue: str) -> None:
    """A long poll waiting on a queue returns the task created after it started (a wake from
    the listener; without one it would answer [] after its 30 s). Each round starts the poll,
    lets the server answer another database query (so the poll has most likely made its first,
    empty claim and sleeps), then creates the task."""
    await make_queue(session, server.base, queue)
    claim = {"limit": 1, "claim_timeout": 30, "long_poll_seconds": 30}
    for round_ in range(3):
        poll = asyncio.create_task(
            session.post(f"{server.base}{API}/queues/{queue}/tasks/claim", json=claim)
        )
        assert await server.status(session, f"{API}/queues/{queue}/stats") == 200
        async with session.post(
            f"{server.base}{API}/queues/{queue}/tasks", json={"task_name": f"after-{round_}"}
        ) as resp:
            created = await resp.json()
        async with await poll as resp:
            tasks = (await resp.json())["tasks"]
        assert [t["task_id"] for t in tasks] == [created["task_id"]]


async def test_pool_sessions_terminated_by_the_database(server, database_url):
    async with aiohttp.ClientSession() as session:
        await server.wait_ready(session)
        pid = server.pid
        await make_queue(session, server.base, "term")
        async with Load(server.base, "term", TASKS // 2) as load:
            for share in (4, 2, 4 / 3):
                await eventually(
                    lambda share=share: load.created(TASKS / 2 / share),
                    deadline_seconds=60,
                    what="creates to progress",
                )
                ended = 0
                for name in (POOL_APPLICATION_NAME, LISTENER_APPLICATION_NAME):
                    ended += await asyncio.to_thread(
                        check, database_url, "terminate_backends", application_name=name
                    )
                assert ended > 0
                load.counts["sessions terminated"] += ended
            await eventually(
                lambda: load.finished(database_url),
                deadline_seconds=60,
                what="every task completed",
            )
        await _long_poll_is_woken(server, session, "term-after")
        assert server.pid == pid and server.proc.poll() is None  # recovered without a restart
    counts = assert_invariants(database_url, load, "pg_terminate_backend x3")
    # the sessions died under requests: 503s came, and the retries after them converged
    # (assert_invariants: no task made twice, no 409 for a complete that committed)
    assert counts.get("client retries after Unavailable", 0) > 0, counts


async def test_worker_killed_holding_50_claims(server, database_url):
    async with aiohttp.ClientSession() as session:
        await server.wait_ready(session)
        await make_queue(session, server.base, "held")
        for number in range(50):
            body = {
                "task_name": "held",
                "params": {"n": number},
                "idempotency_key": f"task-{number}",
            }
            async with session.post(f"{server.base}{API}/queues/held/tasks", json=body) as resp:
                assert resp.status == 201
        holder = await asyncio.create_subprocess_exec(
            sys.executable,
            str(HOLDER),
            server.base,
            "held",
            "50",
            "2",
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        try:
            held = json.loads(await holder.stdout.readline())
        finally:
            holder.kill()  # kill -9 while it holds every claim
            await holder.wait()
        assert len(held) == 50
        claimed = check(database_url, "run_counts", queue_name="held")[0]
        assert claimed == 50

        async with Load(server.base, "held", 50, producers=1, workers=2, keys=True) as load:
            await eventually(
                lambda: load.finished(database_url),
                deadline_seconds=60,
                what="the 50 held tasks to be completed by others",
            )
        load.counts["claims held by the killed worker"] = len(held)
    counts = assert_invariants(database_url, load, "worker killed holding 50 claims")
    assert counts["runs expired (claim expired)"] == 50
    assert not set(held) & load.completed  # the held runs expired; new runs completed
