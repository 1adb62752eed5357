"""Schedules over HTTP (issue 24): the resource (create, list, get with preview, PATCH,
delete), trigger and backfill, the tasks' schedule_name and scheduled_for on tasks and
claims, and every bad input as a 400 naming its field.

Firing on the clock (the scheduler, catch-up, overlap, exactly once across processes)
is tested in tests/db/test_schedule_firing.py and tests/e2e/test_schedules_processes.py.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest

from tests.helpers import call, claim, error, eventually, make_queue, parse_ts

DAILY = {"queue": "q", "task_name": "report", "cron": "0 7 * * *", "timezone": "Europe/Amsterdam"}


@pytest.fixture
async def queue(client) -> dict[str, Any]:
    return await make_queue(client, "q")


async def make_schedule(client, name: str = "nightly", **body: Any) -> dict[str, Any]:
    return await call(client, "POST", "/schedules", 201, json={"name": name, **DAILY, **body})


# -- the resource ----------------------------------------------------------------------


async def test_create_answers_the_schedule_with_defaults_and_its_next_slot(client, queue):
    schedule = await make_schedule(client, params={"kind": "daily"})
    assert schedule["name"] == "nightly"
    assert schedule["queue"] == "q"
    assert schedule["task_name"] == "report"
    assert schedule["cron"] == "0 7 * * *"
    assert "interval_seconds" not in schedule
    assert schedule["timezone"] == "Europe/Amsterdam"
    assert schedule["params"] == {"kind": "daily"}
    assert schedule["catchup"] == "skip"
    assert schedule["catchup_window_seconds"] == 3600
    assert schedule["overlap"] == "allow"
    assert schedule["paused"] is False
    assert schedule["max_attempts"] == 1
    assert schedule["priority"] == 0
    assert (schedule["fires"], schedule["skipped"], schedule["missed"]) == (0, 0, 0)
    next_fire = parse_ts(schedule["next_fire_at"]).astimezone(
        __import__("zoneinfo").ZoneInfo("Europe/Amsterdam")
    )
    assert (next_fire.hour, next_fire.minute, next_fire.second) == (7, 0, 0)
    assert next_fire > dt.datetime.now(dt.UTC)
    assert "last_task_id" not in schedule and "upcoming" not in schedule


async def test_a_name_in_use_is_409_and_an_unknown_queue_404(client, queue):
    await make_schedule(client)
    await error(client, "POST", "/schedules", 409, "CONFLICT", json={"name": "nightly", **DAILY})
    body = {**DAILY, "name": "other", "queue": "nope"}
    message = await error(client, "POST", "/schedules", 404, "NOT_FOUND", json=body)
    assert "nope" in message


async def test_get_with_preview_answers_the_next_fire_times(client, queue):
    await make_schedule(client)
    schedule = await call(client, "GET", "/schedules/nightly?preview=3", 200)
    upcoming = [parse_ts(t) for t in schedule["upcoming"]]
    assert len(upcoming) == 3
    assert upcoming[0] == parse_ts(schedule["next_fire_at"])
    assert all(
        later - earlier >= dt.timedelta(hours=23) for earlier, later in itertools.pairwise(upcoming)
    )
    await error(client, "GET", "/schedules/nope", 404, "NOT_FOUND")
    await error(client, "GET", "/schedules/nightly?preview=101", 400, "VALIDATION_ERROR")


async def test_list_pages_by_name_and_filters_by_queue(client, queue):
    await make_queue(client, "other")
    for name in ("c", "a", "b"):
        await make_schedule(client, name)
    await make_schedule(client, "z", queue="other")
    page = await call(client, "GET", "/schedules?limit=2", 200)
    assert [s["name"] for s in page["schedules"]] == ["a", "b"]
    rest = await call(client, "GET", f"/schedules?limit=2&cursor={page['next_cursor']}", 200)
    assert [s["name"] for s in rest["schedules"]] == ["c", "z"]
    of_other = await call(client, "GET", "/schedules?queue=other", 200)
    assert [s["name"] for s in of_other["schedules"]] == ["z"]
    assert "next_cursor" not in of_other


async def test_patch_changes_fields_and_pause_hides_the_next_slot(client, queue):
    created = await make_schedule(client, note="hello")
    paused = await call(client, "PATCH", "/schedules/nightly", 200, json={"paused": True})
    assert paused["paused"] is True and "next_fire_at" not in paused
    resumed = await call(
        client, "PATCH", "/schedules/nightly", 200, json={"paused": False, "note": None}
    )
    assert resumed["next_fire_at"] == created["next_fire_at"]
    assert "note" not in resumed
    moved = await call(client, "PATCH", "/schedules/nightly", 200, json={"interval_seconds": 60})
    assert moved["interval_seconds"] == 60 and "cron" not in moved
    assert parse_ts(moved["next_fire_at"]) - dt.datetime.now(dt.UTC) <= dt.timedelta(seconds=61)
    back = await call(
        client, "PATCH", "/schedules/nightly", 200, json={"cron": "*/5 * * * * *", "timezone": None}
    )
    assert back["cron"] == "*/5 * * * * *" and back["timezone"] == "UTC"
    await error(client, "PATCH", "/schedules/nope", 404, "NOT_FOUND", json={"paused": True})
    await error(client, "PATCH", "/schedules/nightly", 404, "NOT_FOUND", json={"queue": "nope"})


async def test_a_repeated_identical_patch_keeps_the_next_slot(client, queue):
    created = await make_schedule(client)
    again = await call(client, "PATCH", "/schedules/nightly", 200, json=DAILY)
    assert again["next_fire_at"] == created["next_fire_at"]


async def test_delete_stops_the_schedule_and_leaves_its_tasks(client, queue):
    await make_schedule(client)
    fired = await call(client, "POST", "/schedules/nightly/trigger", 201)
    await call(client, "DELETE", "/schedules/nightly", 204)
    await error(client, "GET", "/schedules/nightly", 404, "NOT_FOUND")
    await error(client, "DELETE", "/schedules/nightly", 404, "NOT_FOUND")
    task = await call(client, "GET", f"/tasks/{fired['task_id']}", 200)
    assert task["schedule_name"] == "nightly"


# -- trigger, backfill, and the tasks they make -------------------------------------------


async def test_trigger_makes_a_task_that_names_its_schedule_and_slot(client, queue):
    await make_schedule(client, params={"n": 1}, priority=5, concurrency_key="k")
    fired = await call(client, "POST", "/schedules/nightly/trigger", 201)
    assert set(fired) == {"task_id", "run_id", "scheduled_for"}
    task = await call(client, "GET", f"/tasks/{fired['task_id']}", 200)
    assert task["schedule_name"] == "nightly"
    assert task["scheduled_for"] == fired["scheduled_for"]
    assert (task["task_name"], task["params"], task["priority"]) == ("report", {"n": 1}, 5)
    assert task["concurrency_key"] == "k"
    [claimed] = await claim(client)
    assert claimed["schedule_name"] == "nightly"
    assert claimed["scheduled_for"] == fired["scheduled_for"]
    schedule = await call(client, "GET", "/schedules/nightly", 200)
    assert schedule["last_task_id"] == fired["task_id"]
    assert schedule["last_scheduled_for"] == fired["scheduled_for"]
    assert schedule["last_task_status"] == "pending"
    assert schedule["fires"] == 1


async def test_tasks_not_made_by_a_schedule_carry_no_schedule_fields(client, queue):
    created = await call(client, "POST", "/queues/q/tasks", 201, json={"task_name": "t"})
    task = await call(client, "GET", f"/tasks/{created['task_id']}", 200)
    assert "schedule_name" not in task and "scheduled_for" not in task
    [claimed] = await claim(client)
    assert "schedule_name" not in claimed and "scheduled_for" not in claimed


async def test_backfill_fires_each_slot_once(client, queue):
    await make_schedule(client, cron="0 * * * *", timezone="UTC", paused=True)
    body = {"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T05:00:00Z"}
    first = await call(client, "POST", "/schedules/nightly/backfill", 200, json=body)
    assert first == {"slots": 6, "fired": 6, "skipped": 0, "buffered": 0, "already_fired": 0}
    again = await call(client, "POST", "/schedules/nightly/backfill", 200, json=body)
    assert again == {"slots": 6, "fired": 0, "skipped": 0, "buffered": 0, "already_fired": 6}
    claimed = await claim(client, limit=10)
    slots = sorted(parse_ts(task["scheduled_for"]) for task in claimed)
    assert slots == [dt.datetime(2026, 1, 1, hour, tzinfo=dt.UTC) for hour in range(6)]


async def test_backfill_under_overlap_skip_fires_one(client, queue):
    await make_schedule(client, cron="0 * * * *", timezone="UTC", overlap="skip", paused=True)
    body = {"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T02:00:00Z"}
    result = await call(client, "POST", "/schedules/nightly/backfill", 200, json=body)
    assert result == {"slots": 3, "fired": 1, "skipped": 2, "buffered": 0, "already_fired": 0}


async def test_backfill_is_bounded(client, queue):
    await make_schedule(client, cron="* * * * *", timezone="UTC")
    body = {"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"}
    message = await error(
        client, "POST", "/schedules/nightly/backfill", 400, "VALIDATION_ERROR", json=body
    )
    assert message.startswith("to ")
    reversed_range = {"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}
    message = await error(
        client, "POST", "/schedules/nightly/backfill", 400, "VALIDATION_ERROR", json=reversed_range
    )
    assert message.startswith("to ")
    await error(client, "POST", "/schedules/nope/backfill", 404, "NOT_FOUND", json=body)


async def test_an_interval_schedule_fires_on_its_own(client, queue):
    """The server's scheduler fires a 1-second schedule (the clock, not a trigger)."""
    await make_schedule(client, "tick", cron=None, timezone=None, interval_seconds=1)

    async def fired() -> Any:
        schedule = await call(client, "GET", "/schedules/tick", 200)
        return schedule if schedule["fires"] >= 2 else None

    schedule = await eventually(fired, what="two fires")
    claimed = await claim(client, limit=10)
    slots = [parse_ts(task["scheduled_for"]) for task in claimed]
    assert len(slots) == len(set(slots)) >= 2
    assert all(slot.microsecond == 0 for slot in slots)
    assert parse_ts(schedule["last_fired_at"]) >= parse_ts(schedule["last_scheduled_for"])


async def test_deleting_the_queue_pauses_its_schedules_with_a_note(client, queue):
    await make_schedule(client)
    await call(client, "DELETE", "/queues/q", 204)
    schedule = await call(client, "GET", "/schedules/nightly", 200)
    assert schedule["paused"] is True
    assert schedule["note"] == "queue q was deleted"
    await error(client, "POST", "/schedules/nightly/trigger", 404, "NOT_FOUND")


# -- bad input: 400 naming the field ----------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": "* * *"}, "cron"),
        ({"cron": "@reboot"}, "cron"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": "../etc/passwd"}, "timezone"),
        ({"interval_seconds": 60}, "cron"),  # with the cron of DAILY: both given
        ({"cron": None}, "cron"),  # neither
        ({"interval_seconds": 0, "cron": None}, "interval_seconds"),
        ({"start_at": "2026-02-01T00:00:00Z", "end_at": "2026-01-01T00:00:00Z"}, "end_at"),
        ({"catchup": "some"}, "catchup"),
        ({"overlap": "queue"}, "overlap"),
        ({"catchup_window_seconds": -1}, "catchup_window_seconds"),
        ({"name": "a/b"}, "name"),
        ({"queue": None}, "queue"),
        ({"task_name": ""}, "task_name"),
    ],
)
async def test_bad_input_is_a_400_naming_the_field(client, queue, body, field):
    message = await error(
        client, "POST", "/schedules", 400, "VALIDATION_ERROR", json={"name": "s", **DAILY, **body}
    )
    assert message.startswith(field), message
    await error(client, "GET", "/schedules/s", 404, "NOT_FOUND")


async def test_a_patch_that_breaks_the_calendar_is_a_400_and_changes_nothing(client, queue):
    created = await make_schedule(client)
    for body, field in (
        ({"cron": "nope"}, "cron"),
        ({"timezone": "Nowhere/City"}, "timezone"),
        ({"cron": "0 * * * *", "interval_seconds": 5}, "cron"),
        ({"cron": None}, "cron"),
    ):
        message = await error(
            client, "PATCH", "/schedules/nightly", 400, "VALIDATION_ERROR", json=body
        )
        assert message.startswith(field), message
    assert await call(client, "GET", "/schedules/nightly", 200) == created
