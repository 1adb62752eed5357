"""Schedules through the async client against the real server: create with every field,
get with a preview, list and iterate by queue, PATCH (set, clear, restore a default,
keep), pause and resume, trigger (the task carries its schedule and slot, on the task
and on its claim), bounded backfill (each slot once), delete, the server's refusals,
and `upsert_schedule` (many at once leave one schedule; a dropped field is cleared; an
operator's pause stays)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import pytest
from durable_queue_client import (
    Conflict,
    CreateScheduleRequest,
    DurableClient,
    NotFound,
    RetryStrategy,
    Schedule,
    ValidationError,
)

UTC = dt.UTC
YEARLY = "0 0 1 1 *"  # far from now, so no slot fires by itself during a test
PAST = dt.datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
async def dq(server_url: str) -> AsyncIterator[DurableClient]:
    async with DurableClient(server_url, retries=0) as client:
        await client.create_queue("reports")
        yield client


async def test_create_with_every_field_get_and_preview(dq: DurableClient) -> None:
    start = dt.datetime(2026, 1, 1, tzinfo=UTC)
    end = dt.datetime(2036, 1, 1, tzinfo=UTC)
    created = await dq.create_schedule(
        "nightly-report",
        queue="reports",
        task_name="report",
        cron="0 7 * * *",
        timezone="Europe/Amsterdam",
        params={"kind": "daily", "n": [1, 2]},
        headers={"team": "bi"},
        max_attempts=3,
        retry_strategy=RetryStrategy(kind="fixed", base_seconds=5),
        priority=10,
        concurrency_key="tenant/1",
        start_at=start,
        end_at=end,
        catchup="latest",
        catchup_window_seconds=7200,
        overlap="buffer_one",
        note="for the board",
    )
    assert (created.name, created.queue, created.task_name) == (
        "nightly-report",
        "reports",
        "report",
    )
    assert created.params == {"kind": "daily", "n": [1, 2]}
    assert created.headers == {"team": "bi"}
    assert (created.max_attempts, created.priority, created.concurrency_key) == (3, 10, "tenant/1")
    assert created.retry_strategy == RetryStrategy(kind="fixed", base_seconds=5.0)
    assert (created.cron, created.interval_seconds, created.timezone) == (
        "0 7 * * *",
        None,
        "Europe/Amsterdam",
    )
    assert (created.start_at, created.end_at) == (start, end)
    assert (created.catchup, created.catchup_window_seconds, created.overlap) == (
        "latest",
        7200,
        "buffer_one",
    )
    assert (created.paused, created.note) == (False, "for the board")
    assert (created.fires, created.skipped, created.missed) == (0, 0, 0)
    assert created.last_task_id is None and created.upcoming is None
    # 07:00 in Amsterdam is 06:00 UTC in winter, 05:00 in summer
    assert created.next_fire_at is not None
    assert created.next_fire_at.astimezone(dt.UTC).hour in (5, 6)
    assert created.next_fire_at > dt.datetime.now(UTC)

    got = await dq.get_schedule("nightly-report")
    assert got == created
    shown = await dq.get_schedule("nightly-report", preview=3)
    assert shown.upcoming is not None and len(shown.upcoming) == 3
    assert shown.upcoming[0] == created.next_fire_at
    assert shown.upcoming == sorted(shown.upcoming)
    assert all(t.tzinfo is not None for t in shown.upcoming)

    with pytest.raises(NotFound):
        await dq.get_schedule("nope")


async def test_interval_schedule_with_defaults(dq: DurableClient) -> None:
    created = await dq.create_schedule(
        "tick", queue="reports", task_name="tick", interval_seconds=3600
    )
    assert (created.cron, created.interval_seconds) == (None, 3600)
    assert (created.timezone, created.catchup, created.catchup_window_seconds) == (
        "UTC",
        "skip",
        3600,
    )
    assert (created.overlap, created.paused, created.max_attempts, created.priority) == (
        "allow",
        False,
        1,
        0,
    )
    assert (created.params, created.headers, created.note, created.concurrency_key) == (
        None,
        None,
        None,
        None,
    )
    paused = await dq.create_schedule(
        "idle", queue="reports", task_name="tick", interval_seconds=60, paused=True
    )
    assert paused.paused is True and paused.next_fire_at is None


async def test_list_and_iterate_by_queue(dq: DurableClient) -> None:
    await dq.create_queue("other")
    for name in ("c", "a", "b"):
        await dq.create_schedule(name, queue="reports", task_name="t", cron=YEARLY)
    await dq.create_schedule("elsewhere", queue="other", task_name="t", cron=YEARLY)
    everything = await dq.list_schedules()
    assert [s.name for s in everything.schedules] == ["a", "b", "c", "elsewhere"]
    assert everything.next_cursor is None
    first = await dq.list_schedules(queue="reports", limit=2)
    assert [s.name for s in first.schedules] == ["a", "b"]
    assert first.next_cursor == "b"
    rest = await dq.list_schedules(queue="reports", cursor=first.next_cursor, limit=2)
    assert [s.name for s in rest.schedules] == ["c"]
    assert rest.next_cursor is None
    names = [s.name async for s in dq.iter_schedules(queue="reports", page_size=1)]
    assert names == ["a", "b", "c"]
    assert [s.name async for s in dq.iter_schedules(queue="other")] == ["elsewhere"]
    assert (await dq.list_schedules(queue="none-such")).schedules == []


async def test_update_sets_clears_restores_and_keeps(dq: DurableClient) -> None:
    await dq.create_schedule(
        "s",
        queue="reports",
        task_name="t",
        cron=YEARLY,
        timezone="America/New_York",
        params={"a": 1},
        note="hello",
        overlap="skip",
        priority=5,
    )
    unchanged = await dq.update_schedule("s")
    assert (unchanged.note, unchanged.params, unchanged.priority) == ("hello", {"a": 1}, 5)

    updated = await dq.update_schedule("s", interval_seconds=600, note=None, params=None)
    assert (updated.cron, updated.interval_seconds) == (None, 600)  # giving one clears the other
    assert (updated.note, updated.params) == (None, None)
    assert (updated.timezone, updated.overlap, updated.priority) == ("America/New_York", "skip", 5)

    restored = await dq.update_schedule("s", timezone=None, overlap=None, priority=None)
    assert (restored.timezone, restored.overlap, restored.priority) == ("UTC", "allow", 0)

    back = await dq.update_schedule("s", cron="*/5 * * * *", headers={"h": "v"})
    assert (back.cron, back.interval_seconds, back.headers) == ("*/5 * * * *", None, {"h": "v"})

    with pytest.raises(ValueError, match="cron cannot be cleared"):
        await dq.update_schedule("s", cron=None)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        await dq.update_schedule("nope", note="x")


async def test_pause_and_resume(dq: DurableClient) -> None:
    created = await dq.create_schedule("s", queue="reports", task_name="t", interval_seconds=3600)
    assert created.next_fire_at is not None
    paused = await dq.pause_schedule("s")
    assert paused.paused is True
    assert paused.next_fire_at is None  # absent while paused
    resumed = await dq.resume_schedule("s")
    assert resumed.paused is False
    assert resumed.next_fire_at is not None
    assert resumed.next_fire_at > dt.datetime.now(UTC) - dt.timedelta(seconds=5)


async def test_trigger_makes_a_task_that_carries_its_schedule_and_slot(dq: DurableClient) -> None:
    await dq.create_schedule(
        "s",
        queue="reports",
        task_name="report",
        cron=YEARLY,
        params={"p": 1},
        priority=7,
        paused=True,  # trigger fires also while paused
    )
    before = dt.datetime.now(UTC) - dt.timedelta(seconds=5)
    triggered = await dq.trigger_schedule("s")
    assert before <= triggered.scheduled_for <= dt.datetime.now(UTC) + dt.timedelta(seconds=5)
    task = await dq.get_task(triggered.task_id)
    assert (task.schedule_name, task.scheduled_for) == ("s", triggered.scheduled_for)
    assert (task.task_name, task.queue_name, task.params, task.priority) == (
        "report",
        "reports",
        {"p": 1},
        7,
    )
    [claimed] = await dq.claim_tasks("reports", limit=5)
    assert claimed.run_id == triggered.run_id
    assert (claimed.schedule_name, claimed.scheduled_for) == ("s", triggered.scheduled_for)
    state = await dq.get_schedule("s")
    assert state.last_task_id == triggered.task_id
    assert state.last_scheduled_for == triggered.scheduled_for
    assert state.last_task_status == "pending"
    # a task made by hand has neither
    plain = await dq.create_task("reports", "report")
    detail = await dq.get_task(plain.task_id)
    assert (detail.schedule_name, detail.scheduled_for) == (None, None)
    with pytest.raises(NotFound):
        await dq.trigger_schedule("nope")


async def test_backfill_fires_each_slot_once_and_is_bounded(dq: DurableClient) -> None:
    # a past calendar that has ended: only the backfill makes tasks
    await dq.create_schedule(
        "s",
        queue="reports",
        task_name="t",
        interval_seconds=60,
        start_at=PAST,
        end_at=PAST + dt.timedelta(days=1),
    )
    first = await dq.backfill_schedule("s", PAST, PAST + dt.timedelta(minutes=5))
    assert (first.slots, first.fired, first.already_fired) == (6, 6, 0)  # both ends included
    again = await dq.backfill_schedule(
        "s", PAST + dt.timedelta(minutes=3), PAST + dt.timedelta(minutes=7)
    )
    assert (again.slots, again.fired, again.already_fired) == (5, 2, 3)
    slots = []
    async for summary in dq.iter_tasks(queue_name="reports"):
        slots.append((await dq.get_task(summary.id)).scheduled_for)
    assert sorted(slots) == [PAST + dt.timedelta(minutes=m) for m in range(8)]
    assert (await dq.get_schedule("s")).fires == 8

    with pytest.raises(ValidationError, match="to is more than 1,000 slots"):
        await dq.backfill_schedule("s", PAST, PAST + dt.timedelta(days=1))  # 1,441 slots
    with pytest.raises(ValidationError, match="to must be after from"):
        await dq.backfill_schedule("s", PAST + dt.timedelta(minutes=5), PAST)
    with pytest.raises(NotFound):
        await dq.backfill_schedule("nope", PAST, PAST + dt.timedelta(minutes=1))


async def test_delete_leaves_the_tasks(dq: DurableClient) -> None:
    await dq.create_schedule("s", queue="reports", task_name="t", cron=YEARLY)
    triggered = await dq.trigger_schedule("s")
    await dq.delete_schedule("s")
    with pytest.raises(NotFound):
        await dq.get_schedule("s")
    with pytest.raises(NotFound):
        await dq.delete_schedule("s")
    task = await dq.get_task(triggered.task_id)
    assert (task.status, task.schedule_name) == ("pending", "s")


async def test_the_server_refuses_bad_definitions(dq: DurableClient) -> None:
    await dq.create_schedule("s", queue="reports", task_name="t", cron=YEARLY)
    with pytest.raises(Conflict):
        await dq.create_schedule("s", queue="reports", task_name="t", cron=YEARLY)
    with pytest.raises(NotFound):
        await dq.create_schedule("x", queue="no-such-queue", task_name="t", cron=YEARLY)
    with pytest.raises(ValidationError, match="cron '61 \\* \\* \\* \\*' is not valid"):
        await dq.create_schedule("x", queue="reports", task_name="t", cron="61 * * * *")
    with pytest.raises(ValidationError, match="timezone 'Mars/Olympus'"):
        await dq.create_schedule(
            "x", queue="reports", task_name="t", cron=YEARLY, timezone="Mars/Olympus"
        )
    with pytest.raises(ValidationError, match="cron"):
        await dq.create_schedule(
            "x", queue="reports", task_name="t", cron=YEARLY, interval_seconds=60
        )
    with pytest.raises(ValidationError, match="cron"):
        await dq.create_schedule("x", queue="reports", task_name="t")
    with pytest.raises(ValidationError, match="end_at must be after start_at"):
        await dq.create_schedule(
            "x", queue="reports", task_name="t", cron=YEARLY, start_at=PAST, end_at=PAST
        )
    with pytest.raises(ValidationError, match="cron"):
        await dq.update_schedule("s", cron="not a cron")
    assert [s.name for s in (await dq.list_schedules()).schedules] == ["s"]


# -- upsert ---------------------------------------------------------------------------------


async def test_many_upserts_at_once_leave_one_schedule(dq: DurableClient) -> None:
    definition = Schedule(cron="0 7 * * *", timezone="Europe/Amsterdam").definition(
        "reports", "report"
    )
    results = await asyncio.gather(*(dq.upsert_schedule(definition) for _ in range(8)))
    page = await dq.list_schedules()
    assert [s.name for s in page.schedules] == ["report"]
    [schedule] = page.schedules
    assert {r.name for r in results} == {"report"}
    # none of the PATCHes moved the calendar
    assert {r.next_fire_at for r in results} == {schedule.next_fire_at}
    assert schedule.next_fire_at is not None


async def test_upsert_clears_what_the_definition_dropped_and_keeps_a_pause(
    dq: DurableClient,
) -> None:
    first = Schedule(
        cron=YEARLY,
        timezone="Europe/Amsterdam",
        params={"a": 1},
        note="v1",
        overlap="skip",
        priority=3,
    )
    created = await dq.upsert_schedule(first.definition("reports", "report"))
    assert (created.note, created.params, created.overlap, created.priority) == (
        "v1",
        {"a": 1},
        "skip",
        3,
    )
    await dq.pause_schedule("report")
    # the next deploy: the note, params and the zone are gone, the calendar is an interval
    second = Schedule(interval_seconds=3600, overlap="allow")
    updated = await dq.upsert_schedule(second.definition("reports", "report"))
    assert (updated.cron, updated.interval_seconds, updated.timezone) == (None, 3600, "UTC")
    assert (updated.note, updated.params, updated.overlap, updated.priority) == (
        None,
        None,
        "allow",
        0,
    )
    assert updated.paused is True  # paused None: the operator's pause stays
    resumed = await dq.upsert_schedule(
        Schedule(interval_seconds=3600, paused=False).definition("reports", "report")
    )
    assert resumed.paused is False


async def test_upsert_an_unknown_queue_is_not_found(dq: DurableClient) -> None:
    with pytest.raises(NotFound):
        await dq.upsert_schedule(
            CreateScheduleRequest(name="x", queue="no-such-queue", task_name="t", cron=YEARLY)
        )
