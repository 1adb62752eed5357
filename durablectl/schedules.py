"""`durablectl schedules`: create, list, show, pause, resume, trigger, backfill and delete
schedules (docs/schedules.md). Registered on the root command by durablectl.cli; the
command's State (`client()`, `emit()`, `output`) comes as the context object, so this
module does not import the CLI's root."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Awaitable
from typing import Any, Final

import asyncclick as click
from durable_queue_client import ScheduleInfo, SchedulePage, follow_cursor, to_dict
from durable_queue_client.schedules import CATCHUP_POLICIES, OVERLAP_POLICIES

from durablectl.flow import MAX_KEY_LENGTH, MAX_PRIORITY, MIN_PRIORITY
from durablectl.options import JSON, TIME, JSONArg, doc, json_value

MAX_PREVIEW: Final = 100  # the most fire times GET /schedules/{name}?preview= gives
DEFAULT_PREVIEW: Final = 5
MAX_CATCHUP_WINDOW: Final = 366 * 86_400  # the server's bound


def upcoming_rows(schedule: ScheduleInfo) -> list[dict[str, str]]:
    """The next fire times as table rows: UTC, and on the wall clock of the schedule's
    zone (when this machine knows it)."""
    try:
        zone: dt.tzinfo | None = zoneinfo.ZoneInfo(schedule.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = None
    rows = []
    for at in schedule.upcoming or []:
        row = {"at": to_dict(at)}
        if zone is not None:
            row["local"] = at.astimezone(zone).isoformat()
        rows.append(row)
    return rows


@click.group(
    "schedules",
    help=doc(
        "Manage schedules: tasks made on a cron or interval calendar (docs/schedules.md).",
        "durablectl -o table schedules list",
    ),
)
def schedules() -> None:
    pass


@schedules.command(
    "create",
    help=doc(
        "Create a schedule that makes a task on QUEUE for each slot of its calendar: a cron "
        "expression (5 fields, or 6 with seconds first; @hourly, @daily, ...) read in "
        "--timezone, or every N seconds.",
        "durablectl schedules create nightly-report --queue reports --task report "
        "--cron '0 7 * * *' --timezone Europe/Amsterdam",
    ),
)
@click.argument("name")
@click.option("--queue", required=True, help="Queue the tasks are made on.")
@click.option("--task", "task_name", required=True, help="Task name of the tasks.")
@click.option("--cron", metavar="EXPR", help="Cron expression (exactly one of --cron, --every).")
@click.option(
    "--every",
    "interval_seconds",
    type=click.IntRange(min=1),
    metavar="SECONDS",
    help="A slot every SECONDS, from --start-at or the creation time (time zones do not apply).",
)
@click.option("--timezone", metavar="ZONE", help="IANA zone the cron is read in (default UTC).")
@click.option("--params", type=JSON, help="Params of each task, as JSON.")
@click.option(
    "--catchup",
    type=click.Choice(CATCHUP_POLICIES),
    help="Of the slots missed (e.g. while no server ran) within --catchup-window, fire none "
    "(skip, the default), the latest, or all (at most 1,000).",
)
@click.option(
    "--catchup-window",
    "catchup_window_seconds",
    type=click.IntRange(0, MAX_CATCHUP_WINDOW),
    metavar="SECONDS",
    help="How far back missed slots are caught up (default 3600).",
)
@click.option(
    "--overlap",
    type=click.Choice(OVERLAP_POLICIES),
    help="While the last slot's task is unfinished: fire anyway (allow, the default), skip "
    "the slot, let one wait (buffer_one), or cancel the unfinished one.",
)
@click.option("--start-at", type=TIME, help="No slot before this time.")
@click.option("--end-at", type=TIME, help="No slot after this time.")
@click.option(
    "--priority",
    type=click.IntRange(MIN_PRIORITY, MAX_PRIORITY),
    help="Priority of each task: -1000 to 1000, higher claimed first (default 0).",
)
@click.option("--concurrency-key", help="Concurrency key of each task (1-255 characters).")
@click.option(
    "--max-attempts", type=click.IntRange(min=1), help="Attempts of each task (default 1)."
)
@click.option("--paused", is_flag=True, help="Create it paused: no slot fires until resumed.")
@click.option("--note", help="A note kept with the schedule.")
@click.pass_obj
async def schedules_create(
    state: Any,
    name: str,
    queue: str,
    task_name: str,
    cron: str | None,
    interval_seconds: int | None,
    timezone: str | None,
    params: JSONArg | None,
    catchup: str | None,
    catchup_window_seconds: int | None,
    overlap: str | None,
    start_at: dt.datetime | None,
    end_at: dt.datetime | None,
    priority: int | None,
    concurrency_key: str | None,
    max_attempts: int | None,
    paused: bool,
    note: str | None,
) -> None:
    if (cron is None) == (interval_seconds is None):
        raise click.UsageError("give exactly one of --cron EXPR or --every SECONDS")
    if concurrency_key is not None and not 1 <= len(concurrency_key) <= MAX_KEY_LENGTH:
        raise click.BadParameter(
            f"a concurrency key is 1 to {MAX_KEY_LENGTH} characters, not {len(concurrency_key)}",
            param_hint="'--concurrency-key'",
        )
    async with state.client() as client:
        created = await client.create_schedule(
            name,
            queue=queue,
            task_name=task_name,
            cron=cron,
            interval_seconds=interval_seconds,
            timezone=timezone,
            params=json_value(params),
            catchup=catchup,
            catchup_window_seconds=catchup_window_seconds,
            overlap=overlap,
            start_at=start_at,
            end_at=end_at,
            priority=priority,
            concurrency_key=concurrency_key,
            max_attempts=max_attempts,
            paused=paused or None,
            note=note,
        )
        state.emit(created)


@schedules.command(
    "list",
    help=doc(
        "List schedules in name order with their next and last fire (one page, or --all).",
        "durablectl -o table schedules list --queue reports",
    ),
)
@click.option("--queue", help="Only this queue's schedules.")
@click.option("--cursor", help="Cursor from the previous page's next_cursor.")
@click.option(
    "--limit", type=click.IntRange(1, 1000), default=50, show_default=True, help="Per page."
)
@click.option("--all", "all_pages", is_flag=True, help="Follow next_cursor through every page.")
@click.pass_obj
async def schedules_list(
    state: Any, queue: str | None, cursor: str | None, limit: int, all_pages: bool
) -> None:
    async with state.client() as client:

        def fetch(at: str | None) -> Awaitable[SchedulePage]:
            return client.list_schedules(queue=queue, cursor=at, limit=limit)

        if not all_pages:
            state.emit(await fetch(cursor))
            return
        pages = follow_cursor(fetch, lambda page: page.schedules, cursor)
        state.emit({"schedules": to_dict([schedule async for schedule in pages])})


@schedules.command(
    "show",
    help=doc(
        "Show a schedule, its state (next fire, last fire and its task's status, counters) "
        "and its next fire times.",
        "durablectl -o table schedules show nightly-report --next 10",
    ),
)
@click.argument("name")
@click.option(
    "--next",
    "count",
    type=click.IntRange(0, MAX_PREVIEW),
    default=DEFAULT_PREVIEW,
    show_default=True,
    help=f"How many next fire times to print (0 to {MAX_PREVIEW}); in a table, also on "
    "the wall clock of the schedule's zone.",
)
@click.pass_obj
async def schedules_show(state: Any, name: str, count: int) -> None:
    async with state.client() as client:
        schedule = await client.get_schedule(name, preview=count or None)
    data = to_dict(schedule)
    if state.output == "table" and schedule.upcoming:
        data["upcoming"] = upcoming_rows(schedule)
    state.emit(data)


@schedules.command(
    "pause",
    help=doc(
        "Pause a schedule: no slot fires until it is resumed (trigger still does).",
        "durablectl schedules pause nightly-report",
    ),
)
@click.argument("name")
@click.pass_obj
async def schedules_pause(state: Any, name: str) -> None:
    async with state.client() as client:
        state.emit(await client.pause_schedule(name))


@schedules.command(
    "resume",
    help=doc(
        "Resume a paused schedule: the next slot from now fires; slots passed while it was "
        "paused do not.",
        "durablectl schedules resume nightly-report",
    ),
)
@click.argument("name")
@click.pass_obj
async def schedules_resume(state: Any, name: str) -> None:
    async with state.client() as client:
        state.emit(await client.resume_schedule(name))


@schedules.command(
    "trigger",
    help=doc(
        "Make the schedule's task once now, whatever its overlap policy, also while paused.",
        "durablectl schedules trigger nightly-report",
    ),
)
@click.argument("name")
@click.pass_obj
async def schedules_trigger(state: Any, name: str) -> None:
    async with state.client() as client:
        state.emit(await client.trigger_schedule(name))


@schedules.command(
    "backfill",
    help=doc(
        "Fire the slots of the schedule's calendar from --from to --to (both included; at "
        "most 1,000), oldest first, under its overlap policy; a slot that has a task already "
        "is not fired again.",
        "durablectl schedules backfill nightly-report --from 2026-03-01T00:00:00Z "
        "--to 2026-03-08T00:00:00Z",
    ),
)
@click.argument("name")
@click.option("--from", "start", type=TIME, required=True, help="First time of the range.")
@click.option("--to", "end", type=TIME, required=True, help="Last time of the range.")
@click.pass_obj
async def schedules_backfill(state: Any, name: str, start: dt.datetime, end: dt.datetime) -> None:
    if end <= start:
        raise click.UsageError("--to must be after --from")
    async with state.client() as client:
        state.emit(await client.backfill_schedule(name, start, end))


@schedules.command(
    "delete",
    help=doc(
        "Delete a schedule: no more slots fire; the tasks it made stay.",
        "durablectl schedules delete nightly-report",
    ),
)
@click.argument("name")
@click.pass_obj
async def schedules_delete(state: Any, name: str) -> None:
    async with state.client() as client:
        await client.delete_schedule(name)
    click.echo("deleted")
