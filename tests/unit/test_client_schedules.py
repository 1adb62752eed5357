"""Schedules on the client side, without a real server: the `Schedule` declaration and
the definitions it makes, decoding of schedules and of tasks made by one, PATCH bodies
(an argument left out is not sent, None clears or restores the default), the upsert's
create-then-PATCH with the whole definition, and the requests the client and `durablectl
schedules` send to a fake server that records them (options refused before any request)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import attrs
import pytest
from aiohttp import web
from asyncclick.testing import CliRunner
from durable_queue_client import (
    BackfillResult,
    ClaimedTask,
    CreateScheduleRequest,
    DurableClient,
    RetryStrategy,
    Schedule,
    ScheduleInfo,
    SchedulePage,
    ScheduleTriggered,
    TaskDetail,
    structure,
    to_dict,
)
from durable_queue_client.convert import converter, encode
from durable_queue_client.models import UpdateScheduleRequest
from durable_queue_client.schedules import CLEARABLE, schedule_patch, whole_definition_patch

from durablectl.cli import cli
from durablectl.schedules import upcoming_rows

NOW = "2026-11-28T10:00:00Z"
TASK = "01900000-0000-7000-8000-000000000001"
RUN = "01900000-0000-7000-8000-000000000002"
UTC = dt.UTC

SCHEDULE: dict[str, Any] = {
    "name": "nightly-report",
    "queue": "reports",
    "task_name": "report",
    "params": {"kind": "daily"},
    "headers": {"team": "bi"},
    "max_attempts": 3,
    "retry_strategy": {"kind": "fixed", "base_seconds": 5},
    "priority": 10,
    "concurrency_key": "reports",
    "cron": "0 7 * * *",
    "timezone": "Europe/Amsterdam",
    "start_at": "2026-01-01T00:00:00Z",
    "end_at": "2027-01-01T00:00:00Z",
    "catchup": "latest",
    "catchup_window_seconds": 7200,
    "overlap": "buffer_one",
    "paused": False,
    "note": "for the board",
    "created_at": NOW,
    "updated_at": NOW,
    "next_fire_at": "2026-11-29T06:00:00Z",
    "last_scheduled_for": "2026-11-28T06:00:00Z",
    "last_fired_at": "2026-11-28T06:00:00.012345Z",
    "last_task_id": TASK,
    "last_task_status": "completed",
    "buffered_slot": "2026-11-28T06:00:00Z",
    "fires": 12,
    "skipped": 1,
    "missed": 2,
    "upcoming": ["2026-11-29T06:00:00Z", "2026-11-30T06:00:00Z"],
}
# a paused interval schedule, every optional field left out (as the server omits nulls)
MINIMAL: dict[str, Any] = {
    "name": "tick",
    "queue": "q",
    "task_name": "tick",
    "max_attempts": 1,
    "priority": 0,
    "interval_seconds": 60,
    "timezone": "UTC",
    "catchup": "skip",
    "catchup_window_seconds": 3600,
    "overlap": "allow",
    "paused": True,
    "created_at": NOW,
    "updated_at": NOW,
    "fires": 0,
    "skipped": 0,
    "missed": 0,
}


# -- the declaration ------------------------------------------------------------------------


def test_a_declaration_states_the_whole_definition() -> None:
    declared = Schedule(cron="0 7 * * *", timezone="Europe/Amsterdam")
    definition = declared.definition("reports", "report")
    assert definition == CreateScheduleRequest(
        name="report",  # the task's name by default
        queue="reports",
        task_name="report",
        cron="0 7 * * *",
        timezone="Europe/Amsterdam",
        max_attempts=1,
        priority=0,
        catchup="skip",
        catchup_window_seconds=3600,
        overlap="allow",
    )
    assert json.loads(encode(definition)) == {
        "name": "report",
        "queue": "reports",
        "task_name": "report",
        "cron": "0 7 * * *",
        "timezone": "Europe/Amsterdam",
        "max_attempts": 1,
        "priority": 0,
        "catchup": "skip",
        "catchup_window_seconds": 3600,
        "overlap": "allow",
    }
    named = Schedule(name="hourly-report", interval_seconds=3600, paused=True)
    assert named.definition("q", "report").name == "hourly-report"
    assert named.definition("q", "report").paused is True


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "exactly one of cron and interval_seconds"),
        ({"cron": "* * * * *", "interval_seconds": 60}, "exactly one"),
        ({"interval_seconds": 0}, "at least 1"),
        ({"cron": "@daily", "catchup": "some"}, "catchup must be one of"),
        ({"cron": "@daily", "overlap": "queue"}, "overlap must be one of"),
        ({"cron": "@daily", "start_at": dt.datetime(2026, 1, 1)}, "start_at has no time zone"),
        ({"cron": "@daily", "end_at": dt.datetime(2026, 1, 1)}, "end_at has no time zone"),
    ],
)
def test_a_bad_declaration_is_refused_where_it_is_written(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Schedule(**fields)


def test_the_whole_definition_patch_clears_what_the_declaration_dropped() -> None:
    """Every field is sent: the optional ones as null when left out, the others as their
    default; `paused` None and the calendar field not given are not sent."""
    patch = whole_definition_patch(Schedule(cron="0 7 * * *").definition("reports", "report"))
    assert json.loads(encode(patch)) == {
        "queue": "reports",
        "task_name": "report",
        "params": None,
        "headers": None,
        "max_attempts": 1,
        "retry_strategy": None,
        "priority": 0,
        "concurrency_key": None,
        "cron": "0 7 * * *",
        "timezone": "UTC",
        "start_at": None,
        "end_at": None,
        "catchup": "skip",
        "catchup_window_seconds": 3600,
        "overlap": "allow",
        "note": None,
    }
    # a bare create request: the server's defaults are written out
    bare = CreateScheduleRequest(name="n", queue="q", task_name="t", interval_seconds=5)
    body = json.loads(encode(whole_definition_patch(bare)))
    assert body["interval_seconds"] == 5 and "cron" not in body
    assert (body["timezone"], body["overlap"], body["catchup_window_seconds"]) == (
        "UTC",
        "allow",
        3600,
    )
    full = Schedule(
        interval_seconds=30,
        params={"a": 1},
        headers={"h": "v"},
        retry_strategy=RetryStrategy(kind="exponential", base_seconds=1, factor=2),
        start_at=dt.datetime(2026, 1, 1, tzinfo=UTC),
        concurrency_key="k",
        note="n",
        paused=False,
    )
    body = json.loads(encode(whole_definition_patch(full.definition("q", "t"))))
    assert body["params"] == {"a": 1}
    assert body["retry_strategy"] == {"kind": "exponential", "base_seconds": 1, "factor": 2}
    assert body["start_at"] == "2026-01-01T00:00:00Z"
    assert (body["paused"], body["note"], body["interval_seconds"]) == (False, "n", 30)


def test_the_clearable_fields_are_the_optional_ones() -> None:
    assert CLEARABLE == {
        "params",
        "headers",
        "retry_strategy",
        "concurrency_key",
        "start_at",
        "end_at",
        "note",
    }


# -- PATCH bodies ---------------------------------------------------------------------------


def test_a_patch_sends_only_what_is_given() -> None:
    assert json.loads(encode(UpdateScheduleRequest())) == {}
    assert json.loads(encode(schedule_patch({"cron": "*/5 * * * *", "note": None}))) == {
        "cron": "*/5 * * * *",
        "note": None,
    }
    # None restores a default where the field cannot be empty
    restored = schedule_patch(
        {"timezone": None, "overlap": None, "paused": None, "priority": None, "params": None}
    )
    assert json.loads(encode(restored)) == {
        "timezone": "UTC",
        "overlap": "allow",
        "paused": False,
        "priority": 0,
        "params": None,
    }
    # JSON null as params is "clear them", the same as None
    assert to_dict(schedule_patch({"params": None})) == {"params": None}
    with pytest.raises(ValueError, match="cron cannot be cleared"):
        schedule_patch({"cron": None})
    with pytest.raises(ValueError, match="queue cannot be cleared"):
        schedule_patch({"queue": None})


def test_backfill_times_must_be_aware() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        encode({"from": dt.datetime(2026, 1, 1), "to": dt.datetime(2026, 1, 2, tzinfo=UTC)})


# -- responses ------------------------------------------------------------------------------


def test_a_schedule_reads_every_field() -> None:
    schedule = structure(SCHEDULE, ScheduleInfo)
    assert schedule.retry_strategy == RetryStrategy(kind="fixed", base_seconds=5.0)
    assert schedule.next_fire_at == dt.datetime(2026, 11, 29, 6, tzinfo=UTC)
    assert schedule.last_fired_at == dt.datetime(2026, 11, 28, 6, 0, 0, 12345, tzinfo=UTC)
    assert schedule.upcoming == [
        dt.datetime(2026, 11, 29, 6, tzinfo=UTC),
        dt.datetime(2026, 11, 30, 6, tzinfo=UTC),
    ]
    assert (schedule.fires, schedule.skipped, schedule.missed) == (12, 1, 2)
    assert (schedule.catchup, schedule.overlap, schedule.last_task_status) == (
        "latest",
        "buffer_one",
        "completed",
    )
    # the fast structurer and the converter agree; printing gives the wire form back
    assert converter.structure(SCHEDULE, ScheduleInfo) == schedule
    printed = to_dict(schedule)
    assert printed["upcoming"] == ["2026-11-29T06:00:00Z", "2026-11-30T06:00:00Z"]
    assert printed["last_fired_at"] == "2026-11-28T06:00:00.012345Z"
    assert set(printed) == set(SCHEDULE)


def test_a_schedule_without_its_optional_fields_reads() -> None:
    schedule = structure(MINIMAL, ScheduleInfo)
    assert (schedule.cron, schedule.interval_seconds, schedule.paused) == (None, 60, True)
    assert (schedule.next_fire_at, schedule.last_task_id, schedule.upcoming) == (None, None, None)
    assert to_dict(schedule) == MINIMAL
    page = structure({"schedules": [MINIMAL, SCHEDULE], "next_cursor": "tick"}, SchedulePage)
    assert [s.name for s in page.schedules] == ["tick", "nightly-report"]
    assert page.next_cursor == "tick"


def test_trigger_and_backfill_answers_read() -> None:
    triggered = structure(
        {"task_id": TASK, "run_id": RUN, "scheduled_for": "2026-11-28T10:00:00.5Z"},
        ScheduleTriggered,
    )
    assert triggered.scheduled_for == dt.datetime(2026, 11, 28, 10, 0, 0, 500000, tzinfo=UTC)
    counts = {"slots": 10, "fired": 7, "skipped": 1, "buffered": 1, "already_fired": 1}
    assert to_dict(structure(counts, BackfillResult)) == counts


def test_tasks_made_by_a_schedule_carry_their_slot() -> None:
    claim = {
        "run_id": RUN,
        "task_id": TASK,
        "attempt": 1,
        "task_name": "report",
        "max_attempts": 1,
        "schedule_name": "nightly-report",
        "scheduled_for": "2026-11-28T06:00:00Z",
    }
    claimed = structure([claim], list[ClaimedTask])[0]
    assert claimed.schedule_name == "nightly-report"
    assert claimed.scheduled_for == dt.datetime(2026, 11, 28, 6, tzinfo=UTC)
    detail = {
        "id": TASK,
        "task_name": "report",
        "status": "pending",
        "queue_name": "reports",
        "max_attempts": 1,
        "created_at": NOW,
        "schedule_name": "nightly-report",
        "scheduled_for": "2026-11-28T06:00:00Z",
    }
    task = structure(detail, TaskDetail)
    assert (task.schedule_name, task.scheduled_for) == (
        "nightly-report",
        dt.datetime(2026, 11, 28, 6, tzinfo=UTC),
    )
    # other tasks have neither
    plain = structure({k: v for k, v in claim.items() if not k.startswith("sched")}, ClaimedTask)
    assert (plain.schedule_name, plain.scheduled_for) == (None, None)


def test_upcoming_rows_show_the_wall_clock_of_the_zone() -> None:
    schedule = structure(SCHEDULE, ScheduleInfo)
    assert upcoming_rows(schedule) == [
        {"at": "2026-11-29T06:00:00Z", "local": "2026-11-29T07:00:00+01:00"},
        {"at": "2026-11-30T06:00:00Z", "local": "2026-11-30T07:00:00+01:00"},
    ]
    unknown = attrs.evolve(schedule, timezone="Nowhere/Atlantis")
    assert upcoming_rows(unknown)[0] == {"at": "2026-11-29T06:00:00Z"}


# -- requests, against a fake server --------------------------------------------------------


class Recorder:
    """Answers the schedule endpoints with canned bodies and records (method, raw path,
    query, body). `conflicts`: how many creates answer 409 (the name in use); `gone`: how
    many PATCHes answer 404 (deleted in between); `busy`: how many PATCHes answer 409
    (changed by others meanwhile); `failures`: how many requests get 503."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        self.conflicts = 0
        self.gone = 0
        self.busy = 0
        self.failures = 0

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body = json.loads(raw) if raw else None
        path = request.raw_path.split("?", 1)[0]
        self.requests.append((request.method, path, dict(request.query), body))
        if self.failures > 0:
            self.failures -= 1
            return web.json_response({"error": "down", "code": "UNAVAILABLE"}, status=503)
        rest = path.removeprefix("/api/v1")
        method = request.method
        if method == "DELETE":
            return web.Response(status=204)
        if rest.endswith("/trigger"):
            answer = {"task_id": TASK, "run_id": RUN, "scheduled_for": NOW}
            return web.json_response(answer, status=201)
        if rest.endswith("/backfill"):
            counts = {"slots": 3, "fired": 2, "skipped": 0, "buffered": 0, "already_fired": 1}
            return web.json_response(counts)
        if rest == "/schedules" and method == "POST":
            if self.conflicts > 0:
                self.conflicts -= 1
                error = {"error": "schedule name in use", "code": "CONFLICT"}
                return web.json_response(error, status=409)
            return web.json_response(SCHEDULE, status=201)
        if rest == "/schedules":
            if request.query.get("cursor") is None:
                return web.json_response({"schedules": [MINIMAL], "next_cursor": "tick"})
            return web.json_response({"schedules": [SCHEDULE]})
        if method == "PATCH" and self.gone > 0:
            self.gone -= 1
            return web.json_response({"error": "not found", "code": "NOT_FOUND"}, status=404)
        if method == "PATCH" and self.busy > 0:
            self.busy -= 1
            error = {"error": "changing too often; try again", "code": "CONFLICT"}
            return web.json_response(error, status=409)
        answer = SCHEDULE if "preview" in request.query else MINIMAL
        return web.json_response(answer)


@pytest.fixture
async def recorder(aiohttp_server: Any) -> tuple[str, Recorder]:
    recorder = Recorder()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", recorder.handle)
    running = await aiohttp_server(app)
    return str(running.make_url("")).rstrip("/"), recorder


async def test_client_schedule_requests(recorder: tuple[str, Recorder]) -> None:
    url, rec = recorder
    start = dt.datetime(2026, 3, 1, tzinfo=UTC)
    end = dt.datetime(2026, 3, 8, 1, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    async with DurableClient(url, retries=0) as dq:
        created = await dq.create_schedule(
            "nightly report",
            queue="reports",
            task_name="report",
            cron="0 7 * * *",
            timezone="Europe/Amsterdam",
            params={"kind": "daily"},
            overlap="skip",
        )
        assert created.name == "nightly-report"
        await dq.get_schedule("a/b")
        shown = await dq.get_schedule("a/b", preview=2)
        assert shown.upcoming is not None and len(shown.upcoming) == 2
        page = await dq.list_schedules(queue="reports", limit=1)
        assert page.next_cursor == "tick"
        names = [s.name async for s in dq.iter_schedules(queue="reports", page_size=10)]
        assert names == ["tick", "nightly-report"]
        await dq.update_schedule("a/b")
        await dq.update_schedule("a/b", interval_seconds=60, note=None, start_at=start)
        await dq.pause_schedule("a/b")
        await dq.resume_schedule("a/b")
        triggered = await dq.trigger_schedule("a/b")
        assert triggered.task_id == TASK
        counts = await dq.backfill_schedule("a/b", start, end)
        assert counts.already_fired == 1
        await dq.delete_schedule("a/b")
    sent = rec.requests
    assert sent[0] == (
        "POST",
        "/api/v1/schedules",
        {},
        {
            "name": "nightly report",
            "queue": "reports",
            "task_name": "report",
            "params": {"kind": "daily"},
            "cron": "0 7 * * *",
            "timezone": "Europe/Amsterdam",
            "overlap": "skip",
        },
    )
    assert sent[1] == ("GET", "/api/v1/schedules/a%2Fb", {}, None)
    assert sent[2] == ("GET", "/api/v1/schedules/a%2Fb", {"preview": "2"}, None)
    assert sent[3][:3] == ("GET", "/api/v1/schedules", {"queue": "reports", "limit": "1"})
    assert [r[2] for r in sent[4:6]] == [
        {"queue": "reports", "limit": "10"},
        {"queue": "reports", "cursor": "tick", "limit": "10"},
    ]
    assert sent[6] == ("PATCH", "/api/v1/schedules/a%2Fb", {}, {})
    assert sent[7][3] == {
        "interval_seconds": 60,
        "start_at": "2026-03-01T00:00:00Z",
        "note": None,
    }
    assert sent[8][3] == {"paused": True}
    assert sent[9][3] == {"paused": False}
    assert sent[10] == ("POST", "/api/v1/schedules/a%2Fb/trigger", {}, None)
    assert sent[11] == (
        "POST",
        "/api/v1/schedules/a%2Fb/backfill",
        {},
        {"from": "2026-03-01T00:00:00Z", "to": "2026-03-08T01:00:00+01:00"},
    )
    assert sent[12][:2] == ("DELETE", "/api/v1/schedules/a%2Fb")


async def test_upsert_creates_or_patches_with_the_whole_definition(
    recorder: tuple[str, Recorder],
) -> None:
    url, rec = recorder
    definition = Schedule(cron="0 7 * * *", note="v2").definition("reports", "report")
    async with DurableClient(url, retries=0) as dq:
        await dq.upsert_schedule(definition)  # created
        rec.conflicts = 1
        await dq.upsert_schedule(definition)  # in use: patched
        rec.conflicts, rec.gone = 2, 1
        await dq.upsert_schedule(definition)  # in use, then deleted before the PATCH
    routes = [(r[0], r[1]) for r in rec.requests]
    create, patch = ("POST", "/api/v1/schedules"), ("PATCH", "/api/v1/schedules/report")
    assert routes == [create, create, patch, create, patch, create, patch]
    assert rec.requests[0][3] == json.loads(encode(definition))
    assert rec.requests[2][3] == json.loads(encode(whole_definition_patch(definition)))
    assert rec.requests[2][3]["params"] is None  # dropped from the code: cleared
    assert rec.requests[2][3]["note"] == "v2"


async def test_upsert_gives_up_when_the_schedule_keeps_vanishing(
    recorder: tuple[str, Recorder],
) -> None:
    from durable_queue_client import NotFound

    url, rec = recorder
    rec.conflicts, rec.gone = 10, 10
    async with DurableClient(url, retries=0) as dq:
        with pytest.raises(NotFound):
            await dq.upsert_schedule(CreateScheduleRequest(name="n", queue="q", task_name="t"))
    assert [r[0] for r in rec.requests] == ["POST", "PATCH"] * 5


async def test_upsert_tries_again_when_others_change_the_schedule_meanwhile(
    recorder: tuple[str, Recorder],
) -> None:
    """A PATCH answered 409 (the server gave up on a schedule changed by many at once) is
    sent again after a short random delay; after UPSERT_TRIES the 409 is the answer."""
    from durable_queue_client import Conflict

    url, rec = recorder
    definition = CreateScheduleRequest(name="n", queue="q", task_name="t", cron="@daily")
    async with DurableClient(url, retries=0, backoff=0.001) as dq:
        rec.conflicts, rec.busy = 3, 2
        await dq.upsert_schedule(definition)
        assert [r[0] for r in rec.requests] == ["POST", "PATCH"] * 3
        rec.requests.clear()
        rec.conflicts, rec.busy = 10, 10
        with pytest.raises(Conflict):
            await dq.upsert_schedule(definition)
        assert [r[0] for r in rec.requests] == ["POST", "PATCH"] * 5


async def test_setting_calls_are_retried_and_the_others_are_not(
    recorder: tuple[str, Recorder],
) -> None:
    from durable_queue_client import Unavailable

    url, rec = recorder
    start, end = dt.datetime(2026, 3, 1, tzinfo=UTC), dt.datetime(2026, 3, 2, tzinfo=UTC)
    async with DurableClient(url, retries=2, backoff=0) as dq:
        for call in (
            lambda: dq.update_schedule("s", priority=1),
            lambda: dq.upsert_schedule(CreateScheduleRequest(name="s", queue="q", task_name="t")),
            lambda: dq.backfill_schedule("s", start, end),
            lambda: dq.get_schedule("s"),
        ):
            rec.failures = 1
            await call()
        for call in (
            lambda: dq.create_schedule("s", queue="q", task_name="t", cron="@daily"),
            lambda: dq.trigger_schedule("s"),
        ):
            rec.failures = 1
            with pytest.raises(Unavailable):
                await call()
    assert [r[0] for r in rec.requests] == ["PATCH"] * 2 + ["POST"] * 4 + ["GET"] * 2 + ["POST"] * 2


# -- durablectl, against the fake server ----------------------------------------------------


async def ctl(url: str, *args: str) -> Any:
    return await CliRunner().invoke(
        cli, ["--server", url, *args], env={"DURABLE_TOKEN": None}, catch_exceptions=False
    )


async def test_cli_sends_the_schedule_options(recorder: tuple[str, Recorder]) -> None:
    url, rec = recorder
    runs = [
        (
            "schedules",
            "create",
            "nightly-report",
            "--queue",
            "reports",
            "--task",
            "report",
            "--cron",
            "0 7 * * *",
            "--timezone",
            "Europe/Amsterdam",
            "--params",
            '{"kind": "daily"}',
            "--catchup",
            "all",
            "--catchup-window",
            "0",
            "--overlap",
            "cancel_previous",
            "--start-at",
            "2026-01-01T00:00:00Z",
            "--end-at",
            "2027-01-01T00:00:00+01:00",
            "--priority",
            "-5",
            "--concurrency-key",
            "tenant 1",
            "--max-attempts",
            "3",
            "--paused",
            "--note",
            "hi",
        ),
        ("schedules", "create", "tick", "--queue", "q", "--task", "t", "--every", "60"),
        (
            "schedules",
            "create",
            "n",
            "--queue",
            "q",
            "--task",
            "t",
            "--every",
            "5",
            "--params",
            "null",
        ),
        ("schedules", "list", "--queue", "reports", "--limit", "1"),
        ("schedules", "list", "--all"),
        ("schedules", "show", "a/b"),
        ("schedules", "show", "a/b", "--next", "0"),
        ("schedules", "pause", "a/b"),
        ("schedules", "resume", "a/b"),
        ("schedules", "trigger", "a/b"),
        (
            "schedules",
            "backfill",
            "a/b",
            "--from",
            "2026-03-01T00:00:00Z",
            "--to",
            "2026-03-02T00:00:00Z",
        ),
        ("schedules", "delete", "a/b"),
    ]
    outputs = []
    for args in runs:
        result = await ctl(url, *args)
        assert result.exit_code == 0, (args, result.stdout, result.stderr)
        outputs.append(result.stdout)
    bodies = [(r[0], r[1], r[2], r[3]) for r in rec.requests]
    assert bodies[0] == (
        "POST",
        "/api/v1/schedules",
        {},
        {
            "name": "nightly-report",
            "queue": "reports",
            "task_name": "report",
            "params": {"kind": "daily"},
            "max_attempts": 3,
            "priority": -5,
            "concurrency_key": "tenant 1",
            "cron": "0 7 * * *",
            "timezone": "Europe/Amsterdam",
            "start_at": "2026-01-01T00:00:00Z",
            "end_at": "2027-01-01T00:00:00+01:00",
            "catchup": "all",
            "catchup_window_seconds": 0,
            "overlap": "cancel_previous",
            "paused": True,
            "note": "hi",
        },
    )
    assert json.loads(outputs[0]) == SCHEDULE
    assert bodies[1][3] == {"name": "tick", "queue": "q", "task_name": "t", "interval_seconds": 60}
    # JSON null params: nothing to send (a task's params are null without them)
    assert bodies[2][3] == {"name": "n", "queue": "q", "task_name": "t", "interval_seconds": 5}
    assert bodies[3][:3] == ("GET", "/api/v1/schedules", {"queue": "reports", "limit": "1"})
    assert json.loads(outputs[3]) == {"schedules": [MINIMAL], "next_cursor": "tick"}
    assert [b[2] for b in bodies[4:6]] == [{"limit": "50"}, {"cursor": "tick", "limit": "50"}]
    assert [s["name"] for s in json.loads(outputs[4])["schedules"]] == ["tick", "nightly-report"]
    assert bodies[6][:3] == ("GET", "/api/v1/schedules/a%2Fb", {"preview": "5"})
    assert json.loads(outputs[5])["upcoming"] == SCHEDULE["upcoming"]
    assert bodies[7][:3] == ("GET", "/api/v1/schedules/a%2Fb", {})
    assert bodies[8][::3] == ("PATCH", {"paused": True})
    assert bodies[9][::3] == ("PATCH", {"paused": False})
    assert bodies[10][:2] == ("POST", "/api/v1/schedules/a%2Fb/trigger")
    assert json.loads(outputs[9])["task_id"] == TASK
    assert bodies[11][3] == {"from": "2026-03-01T00:00:00Z", "to": "2026-03-02T00:00:00Z"}
    assert json.loads(outputs[10])["fired"] == 2
    assert bodies[12][:2] == ("DELETE", "/api/v1/schedules/a%2Fb")
    assert outputs[11].strip() == "deleted"


async def test_cli_show_table_lists_the_next_fire_times(recorder: tuple[str, Recorder]) -> None:
    url, _ = recorder
    result = await ctl(url, "-o", "table", "schedules", "show", "nightly-report", "--next", "2")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "cron                    0 7 * * *" in lines
    header = lines.index("upcoming:")
    assert lines[header + 1].split() == ["AT", "LOCAL"]
    assert lines[header + 2].split() == ["2026-11-29T06:00:00Z", "2026-11-29T07:00:00+01:00"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("create", "s", "--queue", "q", "--task", "t"), "exactly one of --cron"),
        (
            ("create", "s", "--queue", "q", "--task", "t", "--cron", "@daily", "--every", "5"),
            "exactly one",
        ),
        (("create", "s", "--queue", "q", "--cron", "@daily"), "--task"),
        (("create", "s", "--task", "t", "--cron", "@daily"), "--queue"),
        (("create", "s", "--queue", "q", "--task", "t", "--every", "0"), "x>=1"),
        (("create", "s", "--queue", "q", "--task", "t", "--every", "1h"), "not a valid integer"),
        (
            ("create", "s", "--queue", "q", "--task", "t", "--cron", "@daily", "--catchup", "some"),
            "some",
        ),
        (
            ("create", "s", "--queue", "q", "--task", "t", "--cron", "@daily", "--overlap", "x"),
            "'x'",
        ),
        (
            (
                "create",
                "s",
                "--queue",
                "q",
                "--task",
                "t",
                "--cron",
                "@daily",
                "--catchup-window",
                "-1",
            ),
            "range",
        ),
        (
            ("create", "s", "--queue", "q", "--task", "t", "--cron", "@daily", "--params", "{"),
            "not valid JSON",
        ),
        (
            (
                "create",
                "s",
                "--queue",
                "q",
                "--task",
                "t",
                "--cron",
                "@daily",
                "--start-at",
                "2026-01-01T00:00:00",
            ),
            "no time zone",
        ),
        (
            (
                "create",
                "s",
                "--queue",
                "q",
                "--task",
                "t",
                "--cron",
                "@daily",
                "--end-at",
                "tomorrow",
            ),
            "RFC 3339",
        ),
        (
            (
                "create",
                "s",
                "--queue",
                "q",
                "--task",
                "t",
                "--cron",
                "@daily",
                "--priority",
                "1001",
            ),
            "range",
        ),
        (
            (
                "create",
                "s",
                "--queue",
                "q",
                "--task",
                "t",
                "--cron",
                "@daily",
                "--concurrency-key",
                "",
            ),
            "1 to 255",
        ),
        (
            (
                "create",
                "s",
                "--queue",
                "q",
                "--task",
                "t",
                "--cron",
                "@daily",
                "--max-attempts",
                "0",
            ),
            "x>=1",
        ),
        (("show", "s", "--next", "101"), "0<=x<=100"),
        (("list", "--limit", "0"), "1<=x<=1000"),
        (("backfill", "s", "--from", "2026-03-01T00:00:00Z"), "--to"),
        (
            ("backfill", "s", "--from", "2026-03-02T00:00:00Z", "--to", "2026-03-01T00:00:00Z"),
            "after --from",
        ),
        (("backfill", "s", "--from", "2026-03-01", "--to", "2026-03-02T00:00:00Z"), "no time zone"),
        (("pause",), "NAME"),
    ],
)
async def test_cli_refuses_bad_values_before_any_request(
    recorder: tuple[str, Recorder], args: tuple[str, ...], message: str
) -> None:
    url, rec = recorder
    result = await ctl(url, "schedules", *args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert rec.requests == []


async def test_cli_server_errors_exit_1(recorder: tuple[str, Recorder]) -> None:
    url, rec = recorder
    rec.conflicts = 1
    result = await ctl(
        url, "schedules", "create", "s", "--queue", "q", "--task", "t", "--every", "5"
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("error: 409 ")


def test_every_schedules_command_has_help_with_an_example() -> None:
    group = cli.commands["schedules"]
    assert set(group.commands) == {  # type: ignore[attr-defined]
        "create",
        "list",
        "show",
        "pause",
        "resume",
        "trigger",
        "backfill",
        "delete",
    }
    for command in group.commands.values():  # type: ignore[attr-defined]
        assert "Example:\n  durablectl " in (command.help or ""), command.name
