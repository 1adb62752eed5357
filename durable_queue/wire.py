"""The wire records: the single declaration of every response shape.

Each attrs class here is what the store answers and a handler sends (rendered by
`durable_queue.codec.to_wire`), and the OpenAPI response schemas are derived from it
(`durable_queue.api.response_schemas`). What a request asks for is declared in
`durable_queue.commands`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, NamedTuple

import attrs

from durable_queue.codec import described, optional

SCHEDULE_NAME = "the schedule that made the task (docs/schedules.md)"
SCHEDULED_FOR = "the slot the schedule made the task for (UTC)"
TASK_STATUSES = ("pending", "completed", "failed", "canceled")
RUN_STATUSES = ("pending", "claimed", "completed", "failed", "sleeping", "canceled")
WORKFLOW_STATUSES = ("pending", "running", "completed", "failed", "canceled")


@attrs.frozen
class ErrorBody:
    """Every error answer: `{error, code}`."""

    error: str = described("human-readable message naming the offending field")
    code: str = described("VALIDATION_ERROR, NOT_FOUND, CONFLICT, ...")


@attrs.frozen
class CleanupPolicy:
    task_ttl_seconds: int = described("delete finished tasks this long after; 0 keeps them")
    event_ttl_seconds: int = described("delete events older than this; 0 keeps them")


@attrs.frozen
class RateLimitSetting:
    """A token bucket: up to `limit` claims per `period_seconds`, bursting up to `limit`."""

    limit: int = described("claims per period, and the burst")
    period_seconds: float


@attrs.frozen
class QueueSummary:
    name: str
    created_at: dt.datetime
    cleanup: CleanupPolicy
    max_concurrency: int | None = described(
        "runs of the queue claimed at once, fleet-wide; null: no limit"
    )
    key_concurrency: int | None = described(
        "claimed runs at once per concurrency key, unless the key has an override; null: no limit"
    )
    rate_limit: RateLimitSetting | None = described("claims per period for the queue; null: none")
    key_rate_limit: RateLimitSetting | None = described(
        "claims per period per concurrency key, unless the key has an override; null: none"
    )
    paused: bool = described("a paused queue hands out no runs; creates are accepted")

    @classmethod
    def of(cls, queue: Any) -> QueueSummary:
        """From the store's queue (anything with name, created_at, the two ttls and the
        flow-control settings as a commands.QueueFlow in `flow`)."""
        flow = queue.flow
        return cls(
            name=queue.name,
            created_at=queue.created_at,
            cleanup=CleanupPolicy(queue.task_ttl_seconds, queue.event_ttl_seconds),
            max_concurrency=flow.max_concurrency,
            key_concurrency=flow.key_concurrency,
            rate_limit=_rate_limit(flow.rate_limit),
            key_rate_limit=_rate_limit(flow.key_rate_limit),
            paused=flow.paused,
        )


def _rate_limit(rate: Any) -> RateLimitSetting | None:
    return None if rate is None else RateLimitSetting(rate.limit, rate.period_seconds)


@attrs.frozen
class KeyLimits:
    """A key's override: its own limits in place of the queue's key defaults."""

    max_concurrency: int | None = described("null: the queue's key_concurrency applies")
    rate_limit: RateLimitSetting | None = described("null: the queue's key_rate_limit applies")


@attrs.frozen
class ConcurrencyKey:
    """A concurrency key of a queue: its runs now, and the limits that apply to it."""

    key: str
    in_flight: int = described("its runs claimed now")
    pending: int = described("its pending runs, due or not")
    max_concurrency: int | None = described(
        "the limit that applies: the override's, else the queue's key_concurrency"
    )
    rate_limit: RateLimitSetting | None = described(
        "the rate limit that applies: the override's, else the queue's key_rate_limit"
    )
    override: KeyLimits | None = described("the key's override; null when it has none")


@attrs.frozen
class ConcurrencyKeyList:
    keys: list[ConcurrencyKey]
    next_cursor: str | None = optional("pass back as `cursor` for the next page")


@attrs.frozen
class QueueList:
    queues: list[QueueSummary]


@attrs.frozen
class QueueStats:
    queue_name: str
    pending_runs: int = described("every pending run, due or not")
    claimed_runs: int
    completed_runs: int
    oldest_pending_run_age_seconds: float | None = described(
        "seconds since the oldest due pending run became available; null when none is due"
    )
    failed_runs: int
    sleeping_runs: int
    scheduled_runs: int = described("pending runs not yet due")
    canceled_runs: int
    tasks_by_status: dict[str, int]
    max_concurrency: int | None = described("the queue's concurrency limit; null: none")
    held_back_runs: int = described(
        "due pending runs a claim cannot take now: the queue is paused or at its "
        "concurrency limit, or their key is at its limit"
    )


@attrs.frozen
class CreatedTask:
    task_id: uuid.UUID
    run_id: uuid.UUID
    workflow_run_id: uuid.UUID | None = optional()


@attrs.frozen
class BatchCreatedTask:
    """One item of a batch create's answer."""

    task_id: uuid.UUID
    run_id: uuid.UUID
    created: bool = described(
        "false where the item's idempotency_key already named a task (these are its ids)"
    )
    workflow_run_id: uuid.UUID | None = optional()


@attrs.frozen
class CreatedTasks:
    """A batch create's answer: one item per task asked for, in input order."""

    tasks: list[BatchCreatedTask]


class JsonText(NamedTuple):
    """A response body that PostgreSQL wrote in the wire format of a record, sent as it is
    (not a record itself: it has no schema of its own, `record` documents it).

    A batch create's answer: as records it took the server longer than validating and
    storing the batch (its uuids read, records built, rendered, encoded); the query writes
    the same text in a fraction of that time of the database's (figures: docs/performance.md,
    "The batch create answer is written by its query"). `record` names the record it is the
    wire form of (tests/db/test_store_batch.py checks that the two agree).
    """

    text: str
    record: type


@attrs.frozen
class RetryStrategy:
    """The shape of a stored retry strategy (the create request's, returned as given)."""

    kind: str = described(enum=("fixed", "exponential"))
    base_seconds: float
    factor: float | None = optional("exponential only; default 2")
    max_seconds: float | None = optional()


CLAIM_TOKEN = (
    "this claim's token (opaque, new for every claim): send it back on complete, fail, "
    "schedule, wait-for-event, heartbeat and checkpoint writes to be fenced on this claim"
)


@attrs.frozen
class ClaimedTask:
    run_id: uuid.UUID
    task_id: uuid.UUID
    attempt: int
    task_name: str
    max_attempts: int
    claim_expires_at: dt.datetime
    claim_token: str = described(CLAIM_TOKEN)
    priority: int = described("higher is claimed first; default 0")
    params: Any = optional()
    headers: dict[str, str] | None = optional()
    retry_strategy: dict[str, Any] | None = optional(documented_as=RetryStrategy)
    workflow_run_id: uuid.UUID | None = optional()
    concurrency_key: str | None = optional()
    schedule_name: str | None = optional(SCHEDULE_NAME)
    scheduled_for: dt.datetime | None = optional(SCHEDULED_FOR)


@attrs.frozen
class ClaimedTasks:
    tasks: list[ClaimedTask]


@attrs.frozen
class TaskSummary:
    id: uuid.UUID
    task_name: str
    status: str = described(enum=TASK_STATUSES)
    queue_name: str
    max_attempts: int
    created_at: dt.datetime
    completed_at: dt.datetime | None = optional()


@attrs.frozen
class TaskList:
    tasks: list[TaskSummary]
    next_cursor: uuid.UUID | None = optional("pass back as `cursor` for the next page")


@attrs.frozen
class RunSummary:
    id: uuid.UUID
    task_id: uuid.UUID
    attempt: int
    status: str = described(enum=RUN_STATUSES)
    created_at: dt.datetime
    error: str | None = optional()
    completed_at: dt.datetime | None = optional()


@attrs.frozen
class RunList:
    runs: list[RunSummary]
    next_cursor: uuid.UUID | None = optional("pass back as `cursor` for the next page")


@attrs.frozen
class RunCompleted:
    run_id: uuid.UUID
    status: str = "completed"


RUN_COMPLETION_STATUSES = ("completed", "conflict", "not_found")


@attrs.frozen
class RunCompletionResult:
    """One item of a batch complete's answer; a conflict or not_found changed nothing."""

    run_id: uuid.UUID
    status: str = described(enum=RUN_COMPLETION_STATUSES)
    error: str | None = optional("conflict and not_found: why this run was not completed")


@attrs.frozen
class RunCompletionResults:
    """A batch complete's answer: one item per run named, in input order."""

    runs: list[RunCompletionResult]

    @classmethod
    def of(cls, outcomes: list[Any]) -> RunCompletionResults:
        """From the store's per-item outcomes (anything with run_id, status and error)."""
        return cls([RunCompletionResult(o.run_id, o.status, o.error) for o in outcomes])


@attrs.frozen
class RunFailed:
    run_id: uuid.UUID
    attempt: int
    status: str = "failed"
    next_run_id: uuid.UUID | None = optional("present exactly when a retry was scheduled")
    next_attempt_at: dt.datetime | None = optional("present exactly when a retry was scheduled")


@attrs.frozen
class RunScheduled:
    run_id: uuid.UUID
    scheduled_at: dt.datetime


@attrs.frozen
class WaitAnswer:
    """The wire answer of wait-for-event: resolved (200) or sleeping (202)."""

    status: str = described(enum=("resolved", "sleeping"))
    payload: Any = optional("resolved: the event's payload")
    message: str | None = optional("sleeping: what the run waits for")


@attrs.frozen
class WaitTimedOut:
    """The 408 of wait-for-event; `error` and `code` let generic clients print it."""

    message: str
    error: str
    status: str = described(enum=("timeout",))
    code: str = described(enum=("WAIT_TIMEOUT",))


@attrs.frozen
class CheckpointSaved:
    task_id: uuid.UUID
    step_name: str
    updated_at: dt.datetime


@attrs.frozen
class Checkpoint:
    task_id: uuid.UUID
    step_name: str
    state: Any
    updated_at: dt.datetime


@attrs.frozen
class EventCreated:
    event_id: uuid.UUID
    event_name: str
    created_at: dt.datetime


@attrs.frozen
class WorkflowRunCreated:
    workflow_run_id: uuid.UUID
    workflow_name: str
    status: str = described(enum=WORKFLOW_STATUSES)
    created_at: dt.datetime


@attrs.frozen
class WorkflowRunUpdated:
    workflow_run_id: uuid.UUID
    status: str = described(enum=WORKFLOW_STATUSES)
    updated_at: dt.datetime


@attrs.frozen
class ChildCounts:
    pending: int = 0
    completed: int = 0
    failed: int = 0
    canceled: int = 0


@attrs.frozen
class TaskResult:
    """A task's outcome: `pending` while it has not finished."""

    task_id: uuid.UUID
    status: str = described(enum=TASK_STATUSES)
    result: Any = optional("the completing run's result")
    error: str | None = optional("why it failed or was canceled")
    completed_at: dt.datetime | None = optional()


@attrs.frozen
class TasksJoined:
    """A wait-for-tasks answer: `completed` (every task finished) or `timeout` with the
    tasks' outcomes in input order, or `sleeping` (the run sleeps until then)."""

    status: str = described(enum=("completed", "timeout", "sleeping"))
    tasks: list[TaskResult] | None = optional("in input order; absent while sleeping")


@attrs.frozen
class TaskDetail:
    """A task with every stored field; fields never given are omitted, as in listings."""

    id: uuid.UUID
    task_name: str
    status: str = described(enum=TASK_STATUSES)
    queue_name: str
    max_attempts: int
    created_at: dt.datetime
    start_timeout: int = described("seconds; 0 = none")
    execution_timeout: int = described("seconds; 0 = none")
    runs: list[RunSummary] = described("attempt order")
    checkpoints: list[str] = described("step names")
    priority: int = described("higher is claimed first; default 0")
    params: Any = optional()
    headers: dict[str, str] | None = optional()
    retry_strategy: dict[str, Any] | None = optional(documented_as=RetryStrategy)
    workflow_run_id: uuid.UUID | None = optional()
    idempotency_key: str | None = optional()
    concurrency_key: str | None = optional()
    schedule_name: str | None = optional(SCHEDULE_NAME)
    scheduled_for: dt.datetime | None = optional(SCHEDULED_FOR)
    parent_task_id: uuid.UUID | None = optional("the task that spawned it (docs/composition.md)")
    parent_close: str | None = optional(
        "a child's: cancel (canceled when its parent fails or is canceled) or abandon"
    )
    children: ChildCounts | None = optional("its children by status, when it has any")
    error: str | None = optional("why it failed or was canceled")
    result: Any = optional("result of the completing run")
    completed_at: dt.datetime | None = optional()


@attrs.frozen
class TaskCanceled:
    task_id: uuid.UUID
    status: str = "canceled"


@attrs.frozen
class ClaimExtended:
    run_id: uuid.UUID
    claim_expires_at: dt.datetime


@attrs.frozen
class CheckpointEntry:
    step_name: str
    state: Any
    updated_at: dt.datetime


@attrs.frozen
class CheckpointList:
    checkpoints: list[CheckpointEntry]


@attrs.frozen
class WorkflowRun:
    id: uuid.UUID
    workflow_run_id: uuid.UUID = described("the same id, under the key create and patch answer")
    workflow_name: str
    workflow_version: str | None
    inputs: Any
    created_by: str | None
    tags: dict[str, str] | None
    status: str = described(enum=WORKFLOW_STATUSES)
    result: Any
    started_at: dt.datetime | None
    completed_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


@attrs.frozen
class WorkflowRunDetail(WorkflowRun):
    """A workflow run with its tasks (newest first, at most 1,000) and task counts by status."""

    tasks: list[TaskSummary]
    task_counts: dict[str, int]


@attrs.frozen
class WorkflowRunList:
    workflow_runs: list[WorkflowRun]
    next_cursor: uuid.UUID | None = optional("pass back as `cursor` for the next page")


SCHEDULE_CATCHUP = ("skip", "latest", "all")
SCHEDULE_OVERLAP = ("allow", "skip", "buffer_one", "cancel_previous")


@attrs.frozen
class Schedule:
    """A schedule's definition and state (docs/schedules.md)."""

    name: str
    queue: str
    task_name: str
    timezone: str = described("IANA zone the cron expression is read in")
    max_attempts: int
    priority: int
    catchup: str = described("missed slots after an outage", enum=SCHEDULE_CATCHUP)
    catchup_window_seconds: int = described("missed slots older than this are not fired")
    overlap: str = described("a slot while the last task is unfinished", enum=SCHEDULE_OVERLAP)
    paused: bool
    fires: int = described("tasks the schedule made")
    skipped: int = described("slots not fired by the overlap policy")
    missed: int = described("slots not fired because no scheduler ran at their time")
    created_at: dt.datetime
    updated_at: dt.datetime
    cron: str | None = optional("5 fields, or 6 with seconds first")
    interval_seconds: int | None = optional()
    params: Any = optional()
    headers: dict[str, str] | None = optional()
    retry_strategy: dict[str, Any] | None = optional(documented_as=RetryStrategy)
    concurrency_key: str | None = optional()
    start_at: dt.datetime | None = optional()
    end_at: dt.datetime | None = optional()
    note: str | None = optional()
    next_fire_at: dt.datetime | None = optional("absent while paused, and once ended")
    last_scheduled_for: dt.datetime | None = optional("the slot of the last task made")
    last_fired_at: dt.datetime | None = optional("when the last task was made")
    last_task_id: uuid.UUID | None = optional()
    last_task_status: str | None = optional(
        "the last task's status now (absent once it is deleted)"
    )
    buffered_slot: dt.datetime | None = optional(
        "overlap buffer_one: the slot waiting for the last task to finish"
    )
    upcoming: list[dt.datetime] | None = optional("the next fire times, with ?preview=N")


@attrs.frozen
class ScheduleList:
    schedules: list[Schedule]
    next_cursor: str | None = optional("pass back as `cursor` for the next page")


@attrs.frozen
class ScheduleTriggered:
    task_id: uuid.UUID
    run_id: uuid.UUID
    scheduled_for: dt.datetime = described("now, by the database's clock")


@attrs.frozen
class BackfillResult:
    slots: int = described("slots of the schedule in the range")
    fired: int = described("tasks made")
    skipped: int = described("slots not fired by the overlap policy")
    buffered: int = described("slots left waiting (overlap buffer_one)")
    already_fired: int = described("slots that had a task already")


@attrs.frozen
class Health:
    status: str = described("ok")


@attrs.frozen
class Readiness:
    status: str = described("ok or unavailable")
    database: str = described("ok or unreachable")
    listener: str = described("ok or down (LISTEN connection)")
    maintenance: str = described("active on the one instance that sweeps, else standby")
