"""Firing schedules against PostgreSQL (issue 24): the scheduler's pass, catch-up after an
outage, each overlap policy with a worker holding the last task, exactly one task per
slot under concurrent firing, a delete while a slot is firing, and the cost of a pass
when nothing is due (10,000 schedules).

An outage is made by moving a schedule's next slot into the past (the scheduler did not
run then); every count is read from what the database recorded.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import select
from collections.abc import AsyncIterator
from typing import Any

import pytest

from durable_queue import schedule_store
from durable_queue.commands import Backfill, NewSchedule, QueueFlow, ScheduleDefinition
from durable_queue.db import connection, create_pool
from durable_queue.schedule_store import ScheduleStore
from durable_queue.scheduler import Scheduler
from durable_queue.store import Store
from tests.db.test_maintenance_reads import Measured
from tests.helpers import connect_autocommit, run_sql

MINUTE = dt.timedelta(minutes=1)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[Any]:
    pool = await create_pool(database_url, minsize=1, maxsize=10)
    yield pool
    pool.close()
    await pool.wait_closed()


@pytest.fixture
def store(pool, db) -> ScheduleStore:
    run_sql(db, "INSERT INTO queues (name) VALUES ('q')")
    return ScheduleStore(pool)


def scheduler(pool: Any, database_url: str, grace_seconds: float = 2.0) -> Scheduler:
    return Scheduler(pool, database_url, standby_interval=1.0, grace_seconds=grace_seconds)


async def minutely(store: ScheduleStore, name: str, **given: Any) -> dict[str, Any]:
    """A schedule with a slot every minute, none due: the latest slot (`anchor` here) was
    30 s ago, the next (`next_fire_at`) is 30 s ahead."""
    definition = ScheduleDefinition(queue="q", task_name="t", interval_seconds=60, **given)
    await store.create(NewSchedule(name, definition))
    return await anchor_30s_ago(store, name)


async def anchor_30s_ago(store: ScheduleStore, name: str) -> dict[str, Any]:
    async with connection(store.pool) as conn, conn.cursor() as cur:
        await cur.execute(
            "UPDATE schedules SET anchor = date_trunc('second', now()) - interval '1 day 30 s', "
            "next_fire_at = date_trunc('second', now()) + interval '30 s' "
            "WHERE name = %s RETURNING next_fire_at",
            (name,),
        )
        [next_fire_at] = await cur.fetchone()
    return {"anchor": next_fire_at - MINUTE, "next_fire_at": next_fire_at}


def outage(db: Any, name: str, slots: int) -> None:
    """The scheduler was away for `slots` slots: the next slot is that many back."""
    run_sql(
        db,
        "UPDATE schedules SET next_fire_at = next_fire_at - %s * interval '60 s' WHERE name = %s",
        slots,
        name,
    )


def tasks_of(db: Any, name: str) -> list[dict[str, Any]]:
    return run_sql(
        db,
        "SELECT id, status, scheduled_for FROM tasks WHERE schedule_name = %s "
        "ORDER BY scheduled_for",
        name,
    )


def state(db: Any, name: str) -> dict[str, Any]:
    [row] = run_sql(db, "SELECT * FROM schedules WHERE name = %s", name)
    return row


# -- catch-up ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("catchup", "fired_back"),
    [("skip", []), ("latest", [0]), ("all", [4, 3, 2, 1, 0])],
)
async def test_catch_up_after_ten_missed_slots(pool, store, db, database_url, catchup, fired_back):
    """Ten slots passed while no scheduler ran (the latest 30 s ago, so none on time);
    the window (300 s) holds the latest five. skip fires none, latest the latest, all
    the five inside the window; the rest are counted as missed."""
    times = await minutely(store, "s", catchup=catchup, catchup_window_seconds=300)
    outage(db, "s", 10)
    made = await scheduler(pool, database_url).fire_due()
    slots = [task["scheduled_for"] for task in tasks_of(db, "s")]
    assert slots == [times["anchor"] - back * MINUTE for back in fired_back]
    assert made == len(fired_back)
    row = state(db, "s")
    assert (row["fires"], row["missed"]) == (len(fired_back), 10 - len(fired_back))
    assert row["next_fire_at"] == times["next_fire_at"]
    # a second pass finds nothing due
    assert await scheduler(pool, database_url).fire_due() == 0


async def test_a_slot_within_the_grace_is_on_time_whatever_the_policy(
    pool, store, db, database_url
):
    times = await minutely(store, "s")  # catchup skip
    outage(db, "s", 3)
    made = await scheduler(pool, database_url, grace_seconds=45).fire_due()
    assert made == 1
    assert [t["scheduled_for"] for t in tasks_of(db, "s")] == [times["anchor"]]
    assert state(db, "s")["missed"] == 2


# -- overlap, with a worker holding the last task ----------------------------------------


async def fire_slot(store: ScheduleStore, back: int, anchor: dt.datetime) -> Any:
    """Fire one slot (`back` slots before the anchor) under the overlap policy."""
    slot = anchor - back * MINUTE
    return await store.backfill("s", Backfill(slot, slot + dt.timedelta(seconds=1)))


def claim_all(db: Any) -> list[dict[str, Any]]:
    return run_sql(db, "SELECT * FROM dq_claim_v3('q', 100, 600, false)")


async def test_overlap_allow_fires_beside_a_held_task(store, db):
    times = await minutely(store, "s", overlap="allow")
    await fire_slot(store, 2, times["anchor"])
    assert len(claim_all(db)) == 1  # the worker holds it
    result = await fire_slot(store, 1, times["anchor"])
    assert (result.fired, result.skipped) == (1, 0)
    assert [t["status"] for t in tasks_of(db, "s")] == ["pending", "pending"]


async def test_overlap_skip_fires_nothing_while_the_last_task_is_held(store, db):
    times = await minutely(store, "s", overlap="skip")
    await fire_slot(store, 3, times["anchor"])
    [held] = claim_all(db)
    assert (await fire_slot(store, 2, times["anchor"])).skipped == 1
    run_sql(
        db,
        "SELECT * FROM dq_complete_run(%s, NULL, CAST(%s AS text))",
        held["run_id"],
        held["claim_token"],
    )
    assert (await fire_slot(store, 1, times["anchor"])).fired == 1
    assert [t["scheduled_for"] for t in tasks_of(db, "s")] == [
        times["anchor"] - 3 * MINUTE,
        times["anchor"] - MINUTE,
    ]
    assert state(db, "s")["skipped"] == 1


async def test_overlap_buffer_one_keeps_one_slot_until_the_held_task_ends(
    pool, store, db, database_url
):
    times = await minutely(store, "s", overlap="buffer_one")
    await fire_slot(store, 3, times["anchor"])
    [held] = claim_all(db)
    assert (await fire_slot(store, 2, times["anchor"])).buffered == 1
    assert (await fire_slot(store, 1, times["anchor"])).skipped == 1  # the buffer is full
    assert state(db, "s")["buffered_slot"] == times["anchor"] - 2 * MINUTE
    listener = connect_autocommit(database_url)
    run_sql(listener, "LISTEN durable_queue_schedules")
    run_sql(
        db,
        "SELECT * FROM dq_complete_run(%s, NULL, CAST(%s AS text))",
        held["run_id"],
        held["claim_token"],
    )
    assert select.select([listener], [], [], 10) != ([], [], [])  # the scheduler is woken
    listener.poll()
    assert [n.channel for n in listener.notifies] == ["durable_queue_schedules"]
    listener.close()
    await scheduler(pool, database_url).one_pass()
    tasks = tasks_of(db, "s")
    assert [t["scheduled_for"] for t in tasks] == [
        times["anchor"] - 3 * MINUTE,
        times["anchor"] - 2 * MINUTE,
    ]
    assert state(db, "s")["buffered_slot"] is None
    assert state(db, "s")["last_task_id"] == tasks[-1]["id"]


async def test_overlap_cancel_previous_cancels_the_held_task(store, db):
    times = await minutely(store, "s", overlap="cancel_previous")
    await fire_slot(store, 2, times["anchor"])
    [held] = claim_all(db)
    assert (await fire_slot(store, 1, times["anchor"])).fired == 1
    assert [t["status"] for t in tasks_of(db, "s")] == ["canceled", "pending"]
    [answer] = run_sql(
        db,
        "SELECT * FROM dq_complete_run(%s, NULL, CAST(%s AS text))",
        held["run_id"],
        held["claim_token"],
    )
    assert answer["outcome"] != "ok"  # the worker's late completion is refused


async def test_the_scheduler_applies_the_overlap_policy_too(pool, store, db, database_url):
    times = await minutely(store, "s", overlap="skip", catchup="all")
    await fire_slot(store, 5, times["anchor"])
    claim_all(db)
    outage(db, "s", 3)
    assert await scheduler(pool, database_url).fire_due() == 0
    row = state(db, "s")
    assert (row["fires"], row["skipped"], row["missed"]) == (1, 3, 0)


# -- exactly once --------------------------------------------------------------------------


async def test_concurrent_fires_of_the_same_slots_make_one_task_each(store, db):
    """Eight backfills of the same 50 slots at once (overlap allow): each slot once."""
    times = await minutely(store, "s")
    first = times["anchor"] - 49 * MINUTE
    results = await asyncio.gather(
        *(store.backfill("s", Backfill(first, times["anchor"])) for _ in range(8))
    )
    assert sum(r.fired for r in results) == 50
    assert all(r.fired + r.already_fired == 50 for r in results)
    slots = [t["scheduled_for"] for t in tasks_of(db, "s")]
    assert len(slots) == len(set(slots)) == 50
    assert state(db, "s")["fires"] == 50


async def test_two_schedulers_firing_at_once_make_one_task_per_slot(pool, store, db, database_url):
    for n in range(20):
        await minutely(store, f"s{n}", catchup="all", catchup_window_seconds=3600)
        outage(db, f"s{n}", 10)
    made = await asyncio.gather(*(scheduler(pool, database_url).fire_due() for _ in range(2)))
    assert sum(made) == 200
    [row] = run_sql(
        db,
        "SELECT count(*) AS tasks, count(DISTINCT (schedule_id, scheduled_for)) AS slots "
        "FROM tasks WHERE schedule_id IS NOT NULL",
    )
    assert (row["tasks"], row["slots"]) == (200, 200)


async def test_a_slot_cannot_have_two_tasks(store, db):
    """The guarantee itself: a second task for a slot violates tasks_schedule_slot."""
    times = await minutely(store, "s")
    await fire_slot(store, 1, times["anchor"])
    [task] = tasks_of(db, "s")
    with pytest.raises(Exception, match="tasks_schedule_slot"):
        run_sql(
            db,
            "INSERT INTO tasks (queue_id, task_name, schedule_id, schedule_name, scheduled_for) "
            "SELECT queue_id, task_name, schedule_id, schedule_name, scheduled_for "
            "FROM tasks WHERE id = %s",
            task["id"],
        )


# -- lifecycle ---------------------------------------------------------------------------


async def test_delete_while_a_slot_is_firing(pool, store, db, database_url):
    """The fire holds the schedule's lock while it creates the task (held here on the
    queue's row); the delete waits for it, then goes. One task, which stays; no more."""
    times = await minutely(store, "s")
    outage(db, "s", 1)
    blocker = connect_autocommit(database_url)
    run_sql(blocker, "BEGIN")
    run_sql(blocker, "SELECT 1 FROM queues WHERE name = 'q' FOR UPDATE")
    firing = asyncio.create_task(scheduler(pool, database_url, grace_seconds=3600).fire_due())

    def waiting_on_locks() -> int:
        [row] = run_sql(
            db,
            "SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()",
        )
        return row["n"]

    async def lock_waiters(count: int) -> None:
        for _ in range(2000):
            if waiting_on_locks() >= count:
                return
            await asyncio.sleep(0.025)

    await lock_waiters(1)  # the fire, on the queue's row, holding the schedule's
    deleting = asyncio.create_task(store.delete("s"))
    await lock_waiters(2)
    assert waiting_on_locks() == 2  # and the delete, on the schedule's row
    run_sql(blocker, "COMMIT")
    blocker.close()
    assert await firing == 1
    await deleting
    [task] = tasks_of(db, "s")
    assert task["scheduled_for"] == times["anchor"]
    assert run_sql(db, "SELECT * FROM schedules") == []
    assert await scheduler(pool, database_url).fire_due() == 0


async def test_a_fire_into_a_deleted_queue_pauses_the_schedule(pool, store, db, database_url):
    await minutely(store, "s")
    outage(db, "s", 1)
    run_sql(db, "DELETE FROM queues WHERE name = 'q'")
    assert await scheduler(pool, database_url, grace_seconds=3600).fire_due() == 0
    row = state(db, "s")
    assert row["paused"] and row["note"] == "queue q was deleted"
    await Store(pool).create_queue("q", None, None, QueueFlow())  # made again: still paused
    assert await scheduler(pool, database_url, grace_seconds=3600).fire_due() == 0


# -- the cost of waiting ---------------------------------------------------------------------


async def test_a_pass_with_nothing_due_reads_one_row_of_ten_thousand_schedules(
    pool, store, db, database_url, monkeypatch
):
    """10,000 schedules, none due: the pass reads the earliest next slot from the index,
    not the schedules row by row (PostgreSQL's per-transaction counters)."""
    run_sql(
        db,
        "INSERT INTO schedules (name, queue_name, task_name, interval_seconds, next_fire_at) "
        "SELECT 's' || n, 'q', 't', 3600, now() + n * interval '1 s' "
        "FROM generate_series(1, 10000) n",
    )
    run_sql(db, "ANALYZE schedules")
    measured = Measured()
    monkeypatch.setattr(schedule_store, "queries", measured)
    assert await scheduler(pool, database_url).one_pass() > 0
    reads = {s.query: s.read.get("schedules", 0) for s in measured.statements}
    assert set(reads) == {"due_schedules", "buffered_schedules", "seconds_until_next_slot"}
    assert sum(reads.values()) <= 2, measured.statements
    assert all(not s.changed for s in measured.statements)
