"""Schedules on the client side: `Schedule`, a schedule declared beside its task in the
worker SDK, and the whole-definition PATCH that `DurableClient.upsert_schedule` sends.

    @worker.task("report", schedule=Schedule(cron="0 7 * * *", timezone="Europe/Amsterdam"))
    async def report(ctx: TaskContext, params: dict) -> dict: ...

A declaration states the whole definition: a field it leaves out takes its default (a
field removed from the code is cleared on the server at the next upsert), except
`paused`, which is left to the operators unless the declaration sets it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Final, Literal

import attrs

from durable_queue_client.models import (
    UNSET,
    CreateScheduleRequest,
    JSONValue,
    RetryStrategy,
    UpdateScheduleRequest,
)

Catchup = Literal["skip", "latest", "all"]
Overlap = Literal["allow", "skip", "buffer_one", "cancel_previous"]
CATCHUP_POLICIES: Final = ("skip", "latest", "all")
OVERLAP_POLICIES: Final = ("allow", "skip", "buffer_one", "cancel_previous")

DEFAULTS: Final[dict[str, Any]] = {
    "max_attempts": 1,
    "priority": 0,
    "timezone": "UTC",
    "catchup": "skip",
    "catchup_window_seconds": 3600,
    "overlap": "allow",
}
"""The server's defaults of the definition fields that always have a value."""

CLEARABLE: Final = frozenset(
    a.name for a in attrs.fields(UpdateScheduleRequest) if a.default is UNSET
)
"""The definition fields a schedule may be without: a PATCH clears them with null."""


def _aware(_: Any, attribute: attrs.Attribute[Any], value: dt.datetime | None) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"{attribute.name} has no time zone; pass an aware datetime")


@attrs.frozen(kw_only=True)
class Schedule:
    """A schedule declared in code, for `@worker.task(name, schedule=Schedule(...))`:
    the worker upserts it when it starts, on its own queue, for that task.

    Exactly one of `cron` (5 fields, or 6 with seconds first, or `@daily`-style) and
    `interval_seconds`. `name` (default: the task's name) is the schedule's unique name.
    `paused` None leaves the pause state as it is (a new schedule runs); True or False
    sets it at every start. Every other field left out takes its default, also on a
    schedule that existed (so a field removed from the code is cleared).
    """

    name: str | None = None
    cron: str | None = None
    interval_seconds: int | None = None
    timezone: str = "UTC"
    start_at: dt.datetime | None = attrs.field(default=None, validator=_aware)
    end_at: dt.datetime | None = attrs.field(default=None, validator=_aware)
    catchup: Catchup = "skip"
    catchup_window_seconds: int = 3600
    overlap: Overlap = "allow"
    params: JSONValue = None
    headers: dict[str, str] | None = None
    max_attempts: int = 1
    retry_strategy: RetryStrategy | None = None
    priority: int = 0
    concurrency_key: str | None = None
    paused: bool | None = None
    note: str | None = None

    def __attrs_post_init__(self) -> None:
        if (self.cron is None) == (self.interval_seconds is None):
            raise ValueError("give exactly one of cron and interval_seconds")
        if self.interval_seconds is not None and self.interval_seconds < 1:
            raise ValueError("interval_seconds must be at least 1")
        if self.catchup not in CATCHUP_POLICIES:
            raise ValueError(f"catchup must be one of {', '.join(CATCHUP_POLICIES)}")
        if self.overlap not in OVERLAP_POLICIES:
            raise ValueError(f"overlap must be one of {', '.join(OVERLAP_POLICIES)}")

    def definition(self, queue: str, task_name: str) -> CreateScheduleRequest:
        """The schedule's whole definition, for tasks `task_name` on `queue`."""
        return CreateScheduleRequest(
            name=self.name or task_name,
            queue=queue,
            task_name=task_name,
            params=self.params,
            headers=self.headers,
            max_attempts=self.max_attempts,
            retry_strategy=self.retry_strategy,
            priority=self.priority,
            concurrency_key=self.concurrency_key,
            cron=self.cron,
            interval_seconds=self.interval_seconds,
            timezone=self.timezone,
            start_at=self.start_at,
            end_at=self.end_at,
            catchup=self.catchup,
            catchup_window_seconds=self.catchup_window_seconds,
            overlap=self.overlap,
            paused=self.paused,
            note=self.note,
        )


def whole_definition_patch(definition: CreateScheduleRequest) -> UpdateScheduleRequest:
    """The PATCH that makes an existing schedule `definition`: every field of it is sent,
    the ones it leaves out as their default (null for the fields a schedule may be
    without), so nothing of an earlier definition stays. Not sent: `paused` when None
    (the pause state stays) and the calendar field not given (giving `cron` clears
    `interval_seconds`, and the other way round)."""
    fields: dict[str, Any] = {}
    for a in attrs.fields(UpdateScheduleRequest):
        value = getattr(definition, a.name)
        if value is None:
            value = DEFAULTS.get(a.name)
        fields[a.name] = value
    return UpdateScheduleRequest(**fields)


def schedule_patch(changes: Mapping[str, Any]) -> UpdateScheduleRequest:
    """The PATCH of `update_schedule`'s arguments: the `UNSET` ones are not sent; None
    clears a field a schedule may be without (`CLEARABLE`) and restores the default of
    one that has a default (`paused`: false). None for a field with neither (queue,
    task_name, cron, interval_seconds) is a `ValueError`."""
    fields: dict[str, Any] = {}
    for name, value in changes.items():
        if value is UNSET:
            continue
        if value is None and name not in CLEARABLE:
            value = {**DEFAULTS, "paused": False}.get(name)
            if value is None:
                raise ValueError(f"{name} cannot be cleared; leave it out to keep it")
        fields[name] = value
    return UpdateScheduleRequest(**fields)
