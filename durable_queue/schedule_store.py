"""Schedules in the database: their definitions and state, and firing their slots
(docs/schedules.md). The scheduler (durable_queue/scheduler.py) decides when to fire; the
database decides what fires, under each schedule's row lock and its (schedule, slot)
uniqueness.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from typing import Any

import aiopg
import attrs

from durable_queue import jsonvalue
from durable_queue.codec import from_row
from durable_queue.commands import (
    CALENDAR_FIELDS,
    Backfill,
    NewSchedule,
    ScheduleDefinition,
    SchedulePatch,
)
from durable_queue.db import connection, queries, transaction
from durable_queue.errors import Conflict, NotFound, ValidationError
from durable_queue.schedule_plan import FirePlan
from durable_queue.schedule_times import Calendar, CalendarError, check_calendar
from durable_queue.wire import BackfillResult, Schedule, ScheduleList, ScheduleTriggered

MAX_BACKFILL_SLOTS = 1000
MAX_PREVIEW = 100
BACKFILL_ATTEMPTS = 5  # a backfill racing changes of its schedule tries this often


class ScheduleStore:
    """The schedule operations of the API and the scheduler, on one pool."""

    def __init__(self, pool: aiopg.Pool) -> None:
        self.pool = pool

    async def create(self, new: NewSchedule) -> Schedule:
        """Create a schedule; its first slot is the first after now. NotFound for an
        unknown queue, Conflict for a name in use."""
        definition = new.definition
        _check(definition)
        async with connection(self.pool) as conn:
            now = await queries.database_now(conn)
            anchor = definition.start_at or now.replace(microsecond=0)
            calendar = calendar_of(definition, anchor)
            row = await queries.create_schedule(
                conn,
                name=new.name,
                anchor=anchor,
                next_fire_at=calendar.next_after(now),
                **_definition_columns(definition),
            )
            if row is None:
                if await queries.get_schedule(conn, name=new.name) is not None:
                    raise Conflict(f'schedule "{new.name}" exists')
                raise NotFound(f'queue "{definition.queue}" not found')
        return schedule_of(row)

    async def get(self, name: str, preview: int | None = None) -> Schedule:
        """A schedule with its state; with `preview`, its next `preview` fire times."""
        async with connection(self.pool) as conn:
            row = await queries.get_schedule(conn, name=name)
            if row is None:
                raise NotFound(f'schedule "{name}" not found')
        upcoming = upcoming_slots(row, min(preview, MAX_PREVIEW)) if preview else None
        return schedule_of(row, upcoming)

    async def list(self, queue: str | None, cursor: str | None, limit: int) -> ScheduleList:
        """A page of schedules by name, of one queue when `queue` is given."""
        async with connection(self.pool) as conn:
            if queue is None:
                rows = queries.list_schedules(conn, cursor=cursor, limit=limit + 1)
            else:
                rows = queries.list_schedules_of_queue(
                    conn, queue_name=queue, cursor=cursor, limit=limit + 1
                )
            schedules = [schedule_of(row) async for row in rows]
        more = len(schedules) > limit  # one row past the page: another page exists
        return ScheduleList(schedules[:limit], schedules[limit - 1].name if more else None)

    async def update(self, name: str, patch: SchedulePatch) -> Schedule:
        """Change the fields given, under the schedule's row lock. next_fire_at moves to
        the first slot after now when the calendar changes or the schedule resumes;
        otherwise it stays. A PATCH that changes nothing writes nothing (many workers
        upserting the same declaration at start), so it never skips a due slot and never
        makes the scheduler's plan of it stale."""
        async with transaction(self.pool) as conn:
            row = await queries.lock_schedule(conn, name=name)
            if row is None:
                raise NotFound(f'schedule "{name}" not found')
            before = definition_of(row)
            after = patch.applied_to(before)
            if after == before:
                return schedule_of(row)
            if after.queue != before.queue and not await queries.queue_exists(
                conn, name=after.queue
            ):
                raise NotFound(f'queue "{after.queue}" not found')
            _check(after)
            next_fire_at = row["next_fire_at"]
            moved = any(getattr(after, f) != getattr(before, f) for f in CALENDAR_FIELDS)
            if moved or (before.paused and not after.paused):
                now = await queries.database_now(conn)
                anchor = after.start_at or row["anchor"]
                next_fire_at = calendar_of(after, anchor).next_after(now)
            updated = await queries.update_schedule(
                conn,
                name=name,
                revision=row["revision"],
                next_fire_at=next_fire_at,
                **_definition_columns(after),
            )
        return schedule_of(updated)

    async def delete(self, name: str) -> None:
        """Delete a schedule: no slot fires after; its tasks stay."""
        async with connection(self.pool) as conn:
            if not await queries.delete_schedule(conn, name=name):
                raise NotFound(f'schedule "{name}" not found')

    async def trigger(self, name: str) -> ScheduleTriggered:
        """Fire once now (its slot: the database's now), whatever the overlap policy."""
        async with connection(self.pool) as conn:
            row = await queries.trigger_schedule(conn, name=name)
        if row is None:
            raise NotFound(f'schedule "{name}" not found')
        if row["outcome"] != "ok" or row["task_id"] is None:
            raise NotFound(f'the queue of schedule "{name}" was deleted; the schedule is paused')
        return ScheduleTriggered(row["task_id"], row["run_id"], row["scheduled_for"])

    async def backfill(self, name: str, backfill: Backfill) -> BackfillResult:
        """Fire every slot of [first, last] that has no task yet, oldest first, under the
        overlap policy; at most MAX_BACKFILL_SLOTS slots."""
        if backfill.last <= backfill.first:
            raise ValidationError("to must be after from")
        for _ in range(BACKFILL_ATTEMPTS):
            async with connection(self.pool) as conn:
                row = await queries.get_schedule(conn, name=name)
                if row is None:
                    raise NotFound(f'schedule "{name}" not found')
                calendar = calendar_of(definition_of(row), row["anchor"])
                slots = calendar.between(backfill.first, backfill.last, MAX_BACKFILL_SLOTS)
                if len(slots) > MAX_BACKFILL_SLOTS:
                    raise ValidationError(
                        f"to is more than {MAX_BACKFILL_SLOTS:,} slots after from; "
                        "backfill the range in parts"
                    )
                fired = await queries.backfill_schedule(
                    conn, schedule_id=row["id"], revision=row["revision"], slots=slots
                )
            if fired["outcome"] == "queue_not_found":
                raise NotFound(
                    f'the queue of schedule "{name}" was deleted; the schedule is paused'
                )
            if fired["outcome"] == "ok":
                return BackfillResult(
                    slots=len(slots),
                    fired=fired["fired"],
                    skipped=fired["skipped"],
                    buffered=fired["buffered"],
                    already_fired=fired["already_fired"],
                )
            if fired["outcome"] == "not_found":
                raise NotFound(f'schedule "{name}" not found')
        raise Conflict(f'schedule "{name}" is changing too often; try again')

    async def pause_schedules_of_queue(self, queue_name: str) -> int:
        """Pause the schedules of a deleted queue, with a note saying so."""
        async with connection(self.pool) as conn:
            return await queries.pause_queue_schedules(
                conn, queue_name=queue_name, note=f"queue {queue_name} was deleted"
            )

    # -- the scheduler ------------------------------------------------------------

    async def pause(self, schedule_id: uuid.UUID, note: str) -> None:
        """Pause a schedule with a note saying why (the scheduler cannot plan it)."""
        async with connection(self.pool) as conn:
            await queries.pause_schedule(conn, schedule_id=schedule_id, note=note[:1000])

    async def due(self, batch_size: int) -> list[dict[str, Any]]:
        """Schedules whose next slot has come, earliest first, each with the database's
        clock (`database_now`)."""
        async with connection(self.pool) as conn:
            return [row async for row in queries.due_schedules(conn, batch_size=batch_size)]

    async def fire(self, plans: list[tuple[dict[str, Any], FirePlan]]) -> list[dict[str, Any]]:
        """Fire the plans of due schedules (as `due` read them) in one statement: a row per
        plan (outcome, fired, skipped, buffered, lateness)."""
        items = [
            {
                "id": str(row["id"]),
                "revision": row["revision"],
                "slots": [slot.isoformat() for slot in plan.slots],
                "missed": plan.missed,
                "next_fire_at": plan.next_fire_at.isoformat() if plan.next_fire_at else None,
            }
            for row, plan in plans
        ]
        async with connection(self.pool) as conn:
            return [row async for row in queries.fire_schedules(conn, plans=jsonvalue.dumps(items))]

    async def release_buffered(self, batch_size: int) -> int:
        """Fire the buffered slots whose last task has finished; how many fired."""
        fired = 0
        async with connection(self.pool) as conn:
            ids = [
                row["id"] async for row in queries.buffered_schedules(conn, batch_size=batch_size)
            ]
            for schedule_id in ids:
                row = await queries.release_buffered_slot(conn, schedule_id=schedule_id)
                fired += row["fired"] if row else 0
        return fired

    async def seconds_until_next_slot(self) -> float | None:
        """Seconds until the earliest next slot of an active schedule (None: no slot)."""
        async with connection(self.pool) as conn:
            return await queries.seconds_until_next_slot(conn)


def _check(definition: ScheduleDefinition) -> None:
    """A ValidationError naming the field when the calendar cannot be used."""
    try:
        check_calendar(
            definition.cron,
            definition.interval_seconds,
            definition.timezone,
            definition.start_at,
            definition.end_at,
        )
    except CalendarError as exc:
        raise ValidationError(f"{exc.field} {exc.reason}") from None


def calendar_of(definition: ScheduleDefinition, anchor: dt.datetime) -> Calendar:
    return Calendar(
        cron=definition.cron,
        interval_seconds=definition.interval_seconds,
        timezone=definition.timezone,
        anchor=anchor,
        start_at=definition.start_at,
        end_at=definition.end_at,
    )


def calendar_of_row(row: dict[str, Any]) -> Calendar:
    """The calendar of a schedules row (or of a due_schedules row)."""
    return Calendar(
        cron=row["cron"],
        interval_seconds=row["interval_seconds"],
        timezone=row["timezone"],
        anchor=row["anchor"],
        start_at=row["start_at"],
        end_at=row["end_at"],
    )


def upcoming_slots(row: dict[str, Any], count: int) -> list[dt.datetime]:
    """The next `count` fire times of a schedule row, from its next slot (none while
    paused or ended)."""
    first = row["next_fire_at"]
    if row["paused"] or first is None:
        return []
    following = calendar_of_row(row).after(first)
    return [first, *itertools.islice(following, count - 1)]


def definition_of(row: dict[str, Any]) -> ScheduleDefinition:
    """A schedules row's definition."""
    values = {field.name: row.get(field.name) for field in attrs.fields(ScheduleDefinition)}
    values["queue"] = row["queue_name"]
    values["priority"] = int(row["priority"])
    return ScheduleDefinition(**values)


def schedule_of(row: dict[str, Any], upcoming: list[dt.datetime] | None = None) -> Schedule:
    """A schedules row (with last_task_status) as the wire record."""
    values = dict(row)
    values["queue"] = row["queue_name"]
    values["priority"] = int(row["priority"])
    if row["paused"]:
        values["next_fire_at"] = None
    values["upcoming"] = upcoming
    return from_row(values, Schedule)


def _definition_columns(definition: ScheduleDefinition) -> dict[str, Any]:
    """The definition as create_schedule's and update_schedule's parameters."""
    columns = attrs.asdict(definition, recurse=False)
    columns["queue_name"] = columns.pop("queue")
    for name in ("params", "headers", "retry_strategy"):
        columns[name] = jsonvalue.to_db(columns[name])
    return columns
