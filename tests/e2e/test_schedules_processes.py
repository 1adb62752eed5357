"""Schedules fired by real server processes (issue 24).

- Exactly once under a kill: two `durable-queue serve` processes and a 1-second schedule
  for 30 s; the process holding the scheduler's lock is SIGKILLed half way and the other
  takes over. Every slot from the first to the last has exactly one task.
- Catch-up: the servers stop for ten slots, then start again, with a schedule per
  catch-up policy; what fired is checked against the instant of the first pass after
  the restart, as the database recorded it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
import subprocess
import sys
from collections.abc import Iterator

import aiohttp
import pytest

from tests.e2e.test_flow_concurrency import post, ready
from tests.e2e.test_server_cli import clean_env
from tests.e2e.test_server_workers import free_port
from tests.helpers import eventually, query_all, query_one

API = "/api/v1"
SECOND = dt.timedelta(seconds=1)
GRACE_SECONDS = 0.5


class Servers:
    """Server processes on one database, started and stopped by the test."""

    def __init__(self, database_url: str) -> None:
        self.env = clean_env(
            DATABASE_URL=database_url,
            DURABLE_LOG_LEVEL="WARNING",
            DURABLE_MAINTENANCE_INTERVAL="0.5",
            DURABLE_SCHEDULE_GRACE_SECONDS=str(GRACE_SECONDS),
        )
        self.procs: list[subprocess.Popen] = []

    async def start(self) -> tuple[subprocess.Popen, str]:
        proc, url = self._spawn()
        async with aiohttp.ClientSession() as session:
            await eventually(lambda: ready(session, url), what=f"{url} ready")
        return proc, url

    def _spawn(self) -> tuple[subprocess.Popen, str]:
        port = free_port()
        command = [sys.executable, "-m", "durable_queue", "serve"]
        proc = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(port)],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.procs.append(proc)
        return proc, f"http://127.0.0.1:{port}"

    def stop(self, proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def stop_all(self) -> None:
        for proc in self.procs:
            self.stop(proc)


@pytest.fixture
def servers(database_url: str) -> Iterator[Servers]:
    running = Servers(database_url)
    try:
        yield running
    finally:
        running.stop_all()


def scheduler_held(database_url: str) -> bool:
    """Whether some process holds the scheduler's advisory lock (7300, 4)."""
    row = query_one(
        database_url,
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 7300 "
        "AND objid = 4 AND granted",
    )
    return bool(row and row[0])


def slots_of(database_url: str, name: str) -> list[tuple[dt.datetime, dt.datetime]]:
    """(scheduled_for, created_at) of the schedule's tasks, in slot order."""
    return [
        (row[0], row[1])
        for row in query_all(
            database_url,
            "SELECT scheduled_for, created_at FROM tasks WHERE schedule_name = %s "
            "ORDER BY scheduled_for",
            (name,),
        )
    ]


async def test_one_task_per_slot_while_the_scheduler_is_killed(servers, database_url):
    first, first_url = await servers.start()
    await eventually(lambda: scheduler_held(database_url), what="a scheduler")
    _, second_url = await servers.start()  # the first process holds the lock
    async with aiohttp.ClientSession() as session:
        await post(session, f"{first_url}{API}/queues", {"name": "q"}, 201)
        body = {
            "name": "tick", "queue": "q", "task_name": "t", "interval_seconds": 1,
            "catchup": "all", "catchup_window_seconds": 60,
        }  # fmt: skip
        await post(session, f"{second_url}{API}/schedules", body, 201)
        await asyncio.sleep(15)  # the schedule runs: half of its 30 s
        servers.stop(first, signal.SIGKILL)
        await asyncio.sleep(15)
        async with session.patch(
            f"{second_url}{API}/schedules/tick", json={"paused": True}
        ) as resp:
            assert resp.status == 200
    slots = [slot for slot, _ in slots_of(database_url, "tick")]
    assert len(slots) >= 25  # 30 s of a 1-second schedule, less start and failover
    assert len(set(slots)) == len(slots)  # exactly one task per slot
    span = int((slots[-1] - slots[0]) / SECOND) + 1
    assert len(slots) == span  # and every slot has one, across the kill
    [(fires, missed)] = query_all(
        database_url, "SELECT fires, missed FROM schedules WHERE name = 'tick'"
    )
    assert (fires, missed) == (len(slots), 0)


@pytest.mark.parametrize("outage_slots", [10])
async def test_catch_up_after_the_servers_were_stopped(servers, database_url, outage_slots):
    proc, url = await servers.start()
    policies = ("skip", "latest", "all")
    async with aiohttp.ClientSession() as session:
        await post(session, f"{url}{API}/queues", {"name": "q"}, 201)
        for policy in policies:
            body = {
                "name": policy, "queue": "q", "task_name": "t", "interval_seconds": 1,
                "catchup": policy, "catchup_window_seconds": 60,
            }  # fmt: skip
            await post(session, f"{url}{API}/schedules", body, 201)
        await eventually(
            lambda: all(len(slots_of(database_url, p)) >= 2 for p in policies),
            what="each schedule fired",
        )
    servers.stop(proc)
    [(stopped_at,)] = query_all(database_url, "SELECT now()")
    await asyncio.sleep(outage_slots)  # the outage itself
    before = {p: slots_of(database_url, p) for p in policies}
    proc, url = await servers.start()
    await eventually(
        lambda: all(len(slots_of(database_url, p)) > len(before[p]) for p in policies),
        what="each schedule fired again",
    )
    servers.stop(proc)
    # The first pass after the restart: the all-schedule's catch-up tasks were made in it.
    restart_pass = min(
        created for _, created in slots_of(database_url, "all") if created > stopped_at
    )
    for policy in policies:
        last_before = before[policy][-1][0]
        due = []
        slot = last_before + SECOND
        while slot <= restart_pass:
            due.append(slot)
            slot += SECOND
        assert len(due) >= outage_slots
        fired = [s for s, _ in slots_of(database_url, policy) if s in due]
        [(missed,)] = query_all(
            database_url, "SELECT missed FROM schedules WHERE name = %s", (policy,)
        )
        # The pass read its clock (for the grace) a moment before the fire's statement
        # recorded created_at: a slot at the grace's edge may have counted either way.
        expectations = [expected_fires(policy, due, restart_pass, grace) for grace in GRACES]
        assert fired in expectations, (policy, fired, expectations)
        assert missed == len(due) - len(fired), policy


GRACES = (GRACE_SECONDS, GRACE_SECONDS + 0.1)


def expected_fires(
    policy: str, due: list[dt.datetime], now: dt.datetime, grace: float
) -> list[dt.datetime]:
    """What a pass at `now` fires of the `due` slots (docs/schedules.md, "Catch-up")."""
    on_time = [s for s in due if now - s <= dt.timedelta(seconds=grace)]
    late = [s for s in due if s not in on_time]
    return {"skip": on_time, "latest": on_time or late[-1:], "all": due}[policy]
