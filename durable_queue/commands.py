"""The commands: what a request asks for, loaded by its schema (api/schemas.py).

Each default is declared here once; a field absent from the request (or given as
null, where null means "absent") takes it. A JSON value given as null is the JSON_NULL
marker (`durable_queue.jsonvalue`), kept apart from None (not given).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import attrs


@attrs.frozen
class QueueCleanup:
    """Cleanup settings of a new queue; None takes the store's default."""

    task_ttl_seconds: int | None = None
    event_ttl_seconds: int | None = None


@attrs.frozen
class RateLimit:
    """A token bucket: `limit` claims per `period_seconds`, bursting up to `limit`."""

    limit: int
    period_seconds: float


# The flow-control settings of a queue (docs/flow-control.md); None: no such limit.
FLOW_SETTINGS = ("max_concurrency", "key_concurrency", "rate_limit", "key_rate_limit", "paused")
# The cleanup policy's settings, as a queue PATCH names them in QueuePatch.given.
TTL_SETTINGS = ("task_ttl_seconds", "event_ttl_seconds")


@attrs.frozen
class QueueFlow:
    """A queue's flow-control settings: None is "no limit"."""

    max_concurrency: int | None = None
    key_concurrency: int | None = None
    rate_limit: RateLimit | None = None
    key_rate_limit: RateLimit | None = None
    paused: bool = False


@attrs.frozen
class NewQueue:
    name: str
    cleanup: QueueCleanup = attrs.field(factory=QueueCleanup)
    flow: QueueFlow = attrs.field(factory=QueueFlow)


@attrs.frozen
class QueuePatch:
    """A queue PATCH: only the settings named in `given` change (names of FLOW_SETTINGS
    and TTL_SETTINGS); a given None clears a limit (for a ttl, restores its default)."""

    given: frozenset[str]
    flow: QueueFlow = attrs.field(factory=QueueFlow)
    cleanup: QueueCleanup = attrs.field(factory=QueueCleanup)


@attrs.frozen
class KeyOverride:
    """A concurrency key's own limits, in place of the queue's key defaults; None: the
    queue's default applies."""

    max_concurrency: int | None = None
    rate_limit: RateLimit | None = None


@attrs.frozen
class TaskPatch:
    """A task PATCH: its new priority."""

    priority: int


@attrs.frozen
class NewTask:
    task_name: str
    params: Any = None
    headers: dict[str, str] | None = None
    retry_strategy: dict[str, Any] | None = None
    max_attempts: int = 1
    start_timeout: int = 0
    execution_timeout: int = 0
    workflow_run_id: uuid.UUID | None = None
    idempotency_key: str | None = None
    run_at: dt.datetime | None = None
    priority: int | None = None  # None: the parent's, else 0
    concurrency_key: str | None = None
    parent_task_id: uuid.UUID | None = None
    parent_close: str | None = None  # with a parent: "cancel" (None) or "abandon"


@attrs.frozen
class NewTasks:
    """A batch create's body: 1 to 1,000 tasks, created all or nothing."""

    tasks: list[NewTask]


@attrs.frozen
class ClaimRequest:
    limit: int
    claim_timeout: int
    long_poll_seconds: int = 0


# Every holder command carries `claim_token`: None when not given (the run must then be
# claimed, by anyone), else the claim it must be held under.


@attrs.frozen
class RunResult:
    """A complete's body: the result (None when not given, JSON_NULL for a given null)."""

    result: Any = None
    claim_token: str | None = None


@attrs.frozen
class RunToComplete:
    """One item of a batch complete: a run and its result (None: not given)."""

    run_id: uuid.UUID
    result: Any = None
    claim_token: str | None = None


@attrs.frozen
class RunsToComplete:
    """A batch complete's body: 1 to 1,000 runs, each fenced on its own."""

    runs: list[RunToComplete]

    def items(self) -> list[tuple[uuid.UUID, Any, str | None]]:
        """(run_id, result, claim_token) per item, as the store takes them."""
        return [(item.run_id, item.result, item.claim_token) for item in self.runs]


@attrs.frozen
class RunFailure:
    error: str
    claim_token: str | None = None


@attrs.frozen
class RunSchedule:
    run_at: dt.datetime
    claim_token: str | None = None


@attrs.frozen
class EventWait:
    event_name: str
    timeout_seconds: int
    task_id: uuid.UUID
    step_name: str
    claim_token: str | None = None


@attrs.frozen
class TasksWait:
    """A join: wait until every task of `task_ids` has finished (docs/composition.md)."""

    task_ids: list[uuid.UUID]
    timeout_seconds: int
    claim_token: str | None = None


@attrs.frozen
class ClaimExtension:
    extend_by: int
    claim_token: str | None = None


@attrs.frozen
class CheckpointWrite:
    state: Any
    owner_run: uuid.UUID
    extend_claim_by: int | None = None
    claim_token: str | None = None


@attrs.frozen
class NewEvent:
    event_name: str
    payload: Any = None


@attrs.frozen
class NewWorkflowRun:
    workflow_name: str
    workflow_version: str | None = None
    inputs: Any = None
    created_by: str | None = None
    tags: dict[str, str] | None = None


@attrs.frozen
class WorkflowRunPatch:
    """A PATCH of a workflow run: only the fields given are changed."""

    status: str | None = None
    result: Any = None  # None: unchanged; JSON_NULL: set to null
    started_at: dt.datetime | None = None
    completed_at: dt.datetime | None = None


def as_arguments(command: Any) -> dict[str, Any]:
    """A command's fields as keyword arguments (for store methods that take them one by one)."""
    return attrs.asdict(command, recurse=False)


# -- schedules (docs/schedules.md) ---------------------------------------------------

# A schedule's fields that decide when its slots are: a change moves next_fire_at.
CALENDAR_FIELDS = ("cron", "interval_seconds", "timezone", "start_at", "end_at")


@attrs.frozen
class ScheduleDefinition:
    """Everything a schedule's create gives but its name: what each slot's task is,
    when the slots are, and the catch-up and overlap policies."""

    queue: str
    task_name: str
    cron: str | None = None
    interval_seconds: int | None = None
    timezone: str = "UTC"
    params: Any = None
    headers: dict[str, str] | None = None
    max_attempts: int = 1
    retry_strategy: dict[str, Any] | None = None
    priority: int = 0
    concurrency_key: str | None = None
    start_at: dt.datetime | None = None
    end_at: dt.datetime | None = None
    catchup: str = "skip"
    catchup_window_seconds: int = 3600
    overlap: str = "allow"
    paused: bool = False
    note: str | None = None


@attrs.frozen
class NewSchedule:
    name: str
    definition: ScheduleDefinition


@attrs.frozen
class SchedulePatch:
    """A schedule PATCH: the fields given (names of ScheduleDefinition's fields) and their values; a
    given None restores the field's default (for an optional one: clears it)."""

    changes: dict[str, Any]

    def applied_to(self, definition: ScheduleDefinition) -> ScheduleDefinition:
        """`definition` with the changes made; giving `cron` clears `interval_seconds`
        and the other way round (giving both is the caller's to refuse)."""
        defaults = {field.name: field.default for field in attrs.fields(ScheduleDefinition)}
        values = {
            name: defaults[name] if value is None else value for name, value in self.changes.items()
        }
        if values.get("cron") is not None and "interval_seconds" not in values:
            values["interval_seconds"] = None
        if values.get("interval_seconds") is not None and "cron" not in values:
            values["cron"] = None
        return attrs.evolve(definition, **values)


@attrs.frozen
class Backfill:
    """Fire the slots of [first, last] (the body's `from` and `to`)."""

    first: dt.datetime
    last: dt.datetime
