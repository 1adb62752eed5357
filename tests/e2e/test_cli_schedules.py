"""durablectl's `schedules` commands against the real server: create (cron with a zone,
and --every), show with the next fire times (json and table), list by queue with paging
and --all, pause and resume, trigger (the task shows its schedule and slot), bounded
backfill, delete, and the server's refusals (a bad cron or zone, an unknown queue or
schedule) as exit 1."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from asyncclick.testing import CliRunner, Result

from durablectl.cli import cli

YEARLY = "0 0 1 1 *"  # far from now: no slot fires by itself during a test
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


class Ctl:
    """Runs durablectl in-process against the test server."""

    def __init__(self, env: dict[str, str | None]) -> None:
        self.env = env

    async def __call__(self, *args: str) -> Result:
        return await CliRunner().invoke(cli, list(args), env=self.env, catch_exceptions=False)

    async def ok(self, *args: str) -> Any:
        """Run, expect exit 0, and return the decoded JSON output."""
        result = await self(*args)
        assert result.exit_code == 0, (args, result.stdout, result.stderr)
        return json.loads(result.stdout)


@pytest.fixture
async def ctl(server_url: str, tmp_path: Path) -> Ctl:
    ctl = Ctl(
        {
            "DURABLE_SERVER": server_url,
            "DURABLECTL_CONFIG": str(tmp_path / "config.json"),
            "DURABLE_TOKEN": None,
        }
    )
    await ctl.ok("queues", "create", "--name", "reports")
    return ctl


def parse(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


async def test_create_show_and_the_next_fire_times(ctl: Ctl) -> None:
    created = await ctl.ok(
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
        "latest",
        "--catchup-window",
        "600",
        "--overlap",
        "skip",
        "--priority",
        "5",
        "--concurrency-key",
        "bi",
        "--max-attempts",
        "2",
        "--note",
        "for the board",
    )
    assert created["name"] == "nightly-report"
    assert (created["cron"], created["timezone"], created["params"]) == (
        "0 7 * * *",
        "Europe/Amsterdam",
        {"kind": "daily"},
    )
    assert (created["catchup"], created["catchup_window_seconds"], created["overlap"]) == (
        "latest",
        600,
        "skip",
    )
    assert (created["priority"], created["concurrency_key"], created["max_attempts"]) == (
        5,
        "bi",
        2,
    )
    assert (created["paused"], created["note"]) == (False, "for the board")
    assert "upcoming" not in created

    shown = await ctl.ok("schedules", "show", "nightly-report")
    upcoming = [parse(t) for t in shown["upcoming"]]
    assert len(upcoming) == 5  # the default
    assert upcoming == sorted(upcoming)
    assert upcoming[0] == parse(created["next_fire_at"])
    for at in upcoming:  # 07:00 on the Amsterdam wall clock, whatever the season
        assert at.astimezone(AMSTERDAM).time() == dt.time(7, 0)
    assert (
        len((await ctl.ok("schedules", "show", "nightly-report", "--next", "2"))["upcoming"]) == 2
    )
    assert "upcoming" not in await ctl.ok("schedules", "show", "nightly-report", "--next", "0")

    table = await ctl("-o", "table", "schedules", "show", "nightly-report", "--next", "3")
    assert table.exit_code == 0, table.stderr
    lines = table.stdout.splitlines()
    fields = dict(line.split(None, 1) for line in lines[: lines.index("")] if line.strip())
    assert fields["cron"] == "0 7 * * *"
    assert fields["paused"] == "false"
    start = lines.index("upcoming:")
    assert lines[start + 1].split() == ["AT", "LOCAL"]
    rows = [line.split() for line in lines[start + 2 : start + 5]]
    assert [row[0] for row in rows] == shown["upcoming"][:3]
    assert [parse(row[1]).astimezone(AMSTERDAM).time() for row in rows] == [dt.time(7, 0)] * 3
    assert all("T07:00:00+0" in row[1] for row in rows)  # the wall clock of the zone


async def test_list_by_queue_with_paging(ctl: Ctl) -> None:
    await ctl.ok("queues", "create", "--name", "ops")
    for name in ("c", "a", "b"):
        await ctl.ok(
            "schedules", "create", name, "--queue", "reports", "--task", "t", "--cron", YEARLY
        )
    await ctl.ok("schedules", "create", "ping", "--queue", "ops", "--task", "t", "--every", "60")
    page = await ctl.ok("schedules", "list", "--queue", "reports", "--limit", "2")
    assert [s["name"] for s in page["schedules"]] == ["a", "b"]
    assert page["next_cursor"] == "b"
    rest = await ctl.ok("schedules", "list", "--queue", "reports", "--cursor", "b")
    assert [s["name"] for s in rest["schedules"]] == ["c"]
    everything = await ctl.ok("schedules", "list", "--all", "--limit", "1")
    assert [s["name"] for s in everything["schedules"]] == ["a", "b", "c", "ping"]
    ping = everything["schedules"][3]
    assert (ping["interval_seconds"], ping["timezone"]) == (60, "UTC")

    table = await ctl("-o", "table", "schedules", "list", "--queue", "ops")
    assert table.exit_code == 0, table.stderr
    header = next(line for line in table.stdout.splitlines() if line.startswith("NAME"))
    assert header.split()[:3] == ["NAME", "QUEUE", "TASK_NAME"]
    assert any(line.split()[:3] == ["ping", "ops", "t"] for line in table.stdout.splitlines())


async def test_pause_resume_trigger_backfill_delete(ctl: Ctl) -> None:
    await ctl.ok(
        "schedules",
        "create",
        "s",
        "--queue",
        "reports",
        "--task",
        "report",
        "--every",
        "60",
        "--start-at",
        "2024-01-01T00:00:00Z",
        "--end-at",
        "2024-01-02T00:00:00Z",  # ended: only trigger and backfill make tasks
        "--paused",
    )
    resumed = await ctl.ok("schedules", "resume", "s")
    assert resumed["paused"] is False
    paused = await ctl.ok("schedules", "pause", "s")
    assert paused["paused"] is True and "next_fire_at" not in paused

    triggered = await ctl.ok("schedules", "trigger", "s")
    task = await ctl.ok("tasks", "get", triggered["task_id"])
    assert (task["schedule_name"], task["scheduled_for"]) == ("s", triggered["scheduled_for"])
    claimed = await ctl.ok("tasks", "claim", "--queue", "reports")
    assert claimed["tasks"][0]["scheduled_for"] == triggered["scheduled_for"]

    window = ("--from", "2024-01-01T00:00:00Z", "--to", "2024-01-01T00:02:00+00:00")
    assert await ctl.ok("schedules", "backfill", "s", *window) == {
        "slots": 3,
        "fired": 3,
        "skipped": 0,
        "buffered": 0,
        "already_fired": 0,
    }
    again = await ctl.ok("schedules", "backfill", "s", *window)
    assert (again["fired"], again["already_fired"]) == (0, 3)
    too_many = await ctl(
        "schedules",
        "backfill",
        "s",
        "--from",
        "2024-01-01T00:00:00Z",
        "--to",
        "2024-01-02T00:00:00Z",
    )
    assert too_many.exit_code == 1
    assert "1,000 slots" in too_many.stderr

    state = await ctl.ok("schedules", "show", "s", "--next", "0")
    assert state["last_task_id"] in {t["id"] for t in (await ctl.ok("tasks", "list"))["tasks"]}

    deleted = await ctl("schedules", "delete", "s")
    assert (deleted.exit_code, deleted.stdout.strip()) == (0, "deleted")
    gone = await ctl("schedules", "show", "s")
    assert gone.exit_code == 1
    assert gone.stderr.startswith("error: 404 ")
    # its tasks stay
    assert (await ctl.ok("tasks", "get", triggered["task_id"]))["schedule_name"] == "s"


@pytest.mark.parametrize(
    ("args", "status", "words"),
    [
        (("--cron", "61 * * * *"), "400", "cron"),
        (("--cron", YEARLY, "--timezone", "Mars/Olympus"), "400", "timezone"),
        (
            (
                "--cron",
                YEARLY,
                "--end-at",
                "2020-01-01T00:00:00Z",
                "--start-at",
                "2021-01-01T00:00:00Z",
            ),
            "400",
            "end_at",
        ),
    ],
)
async def test_the_server_refusals_exit_1(
    ctl: Ctl, args: tuple[str, ...], status: str, words: str
) -> None:
    result = await ctl("schedules", "create", "x", "--queue", "reports", "--task", "t", *args)
    assert result.exit_code == 1, result.stdout
    assert result.stderr.startswith(f"error: {status} ")
    assert words in result.stderr


async def test_unknown_queue_and_schedule_and_a_taken_name(ctl: Ctl) -> None:
    result = await ctl("schedules", "create", "x", "--queue", "nope", "--task", "t", "--every", "5")
    assert (result.exit_code, result.stderr.startswith("error: 404 ")) == (1, True)
    await ctl.ok("schedules", "create", "x", "--queue", "reports", "--task", "t", "--every", "5")
    taken = await ctl(
        "schedules", "create", "x", "--queue", "reports", "--task", "t", "--every", "5"
    )
    assert (taken.exit_code, taken.stderr.startswith("error: 409 ")) == (1, True)
    for command in ("pause", "resume", "trigger", "delete"):
        missing = await ctl("schedules", command, "nope")
        assert missing.exit_code == 1, command
        assert missing.stderr.startswith("error: 404 "), command
