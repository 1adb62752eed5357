"""Request and response records of the durable-queue HTTP API (docs/contract.md), as attrs classes.

Responses are structured with the shared cattrs converter in `durable_queue_client.convert`:
unknown fields are ignored, optional fields default to None, timestamps become aware
`datetime`s. Requests are unstructured with every None-valued field left out, except the
few fields marked `keep_null` whose JSON null is meaningful (a checkpoint's `state`).
IDs stay canonical strings; statuses stay plain strings so a status added by the server
later still structures.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any, Final, Literal

import attrs

JSONValue = Any
"""Any JSON value (object, array, string, number, bool or null), passed through unchanged."""

KEEP_NULL = "keep_null"


class _Unset(enum.Enum):
    """The type of `UNSET`."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Final = _Unset.UNSET
"""The default of a PATCH argument: "leave it as it is" (the field is not sent), where
None means "clear it" (sent as JSON null)."""

Unset = Literal[_Unset.UNSET]


def _opt() -> Any:
    """An optional field: None when absent, and left out of the JSON when None."""
    return attrs.field(default=None)


def _nullable() -> Any:
    """A field whose None is sent and printed as JSON null (the key is always present)."""
    return attrs.field(default=None, metadata={KEEP_NULL: True})


def _patch() -> Any:
    """A PATCH field: left out while `UNSET` (no change), sent as given otherwise, None as
    JSON null (clear it)."""
    return attrs.field(default=UNSET, metadata={KEEP_NULL: True})


# -- queues ---------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class CleanupPolicy:
    """TTLs in seconds after which finished tasks / old events are deleted; 0 disables."""

    task_ttl_seconds: int | None = _opt()
    event_ttl_seconds: int | None = _opt()


@attrs.frozen(kw_only=True)
class RateLimit:
    """A token bucket: up to `limit` claims per `period_seconds` (at most 86,400), bursting
    up to `limit`."""

    limit: int
    period_seconds: float


@attrs.frozen(kw_only=True)
class CreateQueueRequest:
    name: str
    cleanup: CleanupPolicy | None = _opt()
    max_concurrency: int | None = _opt()
    key_concurrency: int | None = _opt()
    rate_limit: RateLimit | None = _opt()
    key_rate_limit: RateLimit | None = _opt()
    paused: bool | None = _opt()


@attrs.frozen(kw_only=True)
class CleanupPatch:
    """The cleanup part of a queue PATCH: a ttl left UNSET keeps its value; None restores
    its default."""

    task_ttl_seconds: int | Unset | None = _patch()
    event_ttl_seconds: int | Unset | None = _patch()


@attrs.frozen(kw_only=True)
class UpdateQueueRequest:
    """PATCH /queues/{name}: only the fields not UNSET are sent; None clears a limit."""

    max_concurrency: int | Unset | None = _patch()
    key_concurrency: int | Unset | None = _patch()
    rate_limit: RateLimit | Unset | None = _patch()
    key_rate_limit: RateLimit | Unset | None = _patch()
    paused: bool | Unset | None = _patch()
    cleanup: CleanupPatch | Unset = _patch()


@attrs.frozen(kw_only=True)
class QueueSummary:
    """A queue and its settings; a limit that is None is not set (no limit). The flow
    settings are None from a server older than flow control."""

    name: str
    created_at: dt.datetime
    cleanup: CleanupPolicy | None = _opt()
    max_concurrency: int | None = _nullable()
    key_concurrency: int | None = _nullable()
    rate_limit: RateLimit | None = _nullable()
    key_rate_limit: RateLimit | None = _nullable()
    paused: bool | None = _opt()


@attrs.frozen(kw_only=True)
class KeyLimits:
    """A concurrency key's override: its own limits in place of the queue's key defaults
    (None: the queue's default applies)."""

    max_concurrency: int | None = _nullable()
    rate_limit: RateLimit | None = _nullable()


@attrs.frozen(kw_only=True)
class SetKeyRequest:
    """PUT /queues/{name}/keys/{key}: the whole override (None: the queue's default)."""

    max_concurrency: int | None = _nullable()
    rate_limit: RateLimit | None = _nullable()


@attrs.frozen(kw_only=True)
class ConcurrencyKey:
    """A concurrency key of a queue: its claimed (`in_flight`) and pending runs, the limits
    that apply to it (its override's, else the queue's key defaults) and its override."""

    key: str
    in_flight: int
    pending: int
    max_concurrency: int | None = _nullable()
    rate_limit: RateLimit | None = _nullable()
    override: KeyLimits | None = _nullable()


@attrs.frozen(kw_only=True)
class ConcurrencyKeyPage:
    keys: list[ConcurrencyKey]
    next_cursor: str | None = _opt()


@attrs.frozen(kw_only=True)
class QueueStats:
    queue_name: str
    pending_runs: int
    claimed_runs: int
    completed_runs: int
    oldest_pending_run_age_seconds: float | None = _nullable()
    failed_runs: int | None = _opt()
    sleeping_runs: int | None = _opt()
    scheduled_runs: int | None = _opt()
    canceled_runs: int | None = _opt()
    tasks_by_status: dict[str, int] | None = _opt()
    max_concurrency: int | None = _nullable()
    held_back_runs: int | None = _opt()
    """Due pending runs a claim cannot take now: the queue is paused or at its
    concurrency limit, or their key is at its limit."""


# -- tasks ----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class RetryStrategy:
    """Delay before attempt n+1: `base_seconds` (fixed) or
    `min(base_seconds * factor**(n-1), max_seconds)` (exponential)."""

    kind: str  # "fixed" | "exponential"
    base_seconds: float
    factor: float | None = _opt()
    max_seconds: float | None = _opt()


@attrs.frozen(kw_only=True)
class CreateTaskRequest:
    task_name: str
    params: JSONValue = _opt()
    headers: dict[str, str] | None = _opt()
    retry_strategy: RetryStrategy | None = _opt()
    max_attempts: int | None = _opt()
    start_timeout: int | None = _opt()
    execution_timeout: int | None = _opt()
    workflow_run_id: str | None = _opt()
    run_at: dt.datetime | None = _opt()
    idempotency_key: str | None = _opt()
    priority: int | None = _opt()
    """-1000 to 1000; higher is claimed first (the server's default is 0)."""
    concurrency_key: str | None = _opt()
    """1 to 255 characters: the key whose limits and fair share the task's runs take."""
    parent_task_id: str | None = _opt()
    """The task this one is a child of: it joins the parent's workflow run and takes the
    parent's priority and concurrency key unless given (docs/composition.md)."""
    parent_close: str | None = _opt()
    """With `parent_task_id`: "cancel" (the server's default: canceled when the parent
    ends failed or canceled) or "abandon" (keeps running)."""


@attrs.frozen(kw_only=True)
class SetTaskPriorityRequest:
    priority: int


@attrs.frozen(kw_only=True)
class CreatedTask:
    task_id: str
    run_id: str
    workflow_run_id: str | None = _opt()


@attrs.frozen(kw_only=True)
class CreateTasksRequest:
    tasks: list[CreateTaskRequest]


@attrs.frozen(kw_only=True)
class BatchCreatedTask:
    """One item of `create_tasks`: `created` is false where the item's idempotency_key
    already named a task (whose ids these are)."""

    task_id: str
    run_id: str
    workflow_run_id: str | None = _opt()
    created: bool


@attrs.frozen(kw_only=True)
class ClaimTasksRequest:
    limit: int
    claim_timeout: int
    long_poll_seconds: int | None = _opt()


@attrs.frozen(kw_only=True)
class ClaimedTask:
    run_id: str
    task_id: str
    attempt: int
    task_name: str
    params: JSONValue = _opt()
    headers: dict[str, str] | None = _opt()
    retry_strategy: RetryStrategy | None = _opt()
    max_attempts: int
    claim_expires_at: dt.datetime | None = _opt()
    workflow_run_id: str | None = _opt()
    claim_token: str | None = _opt()
    """This claim's token: pass it back (`claim_token=`) on the calls that act on the run,
    so they answer `Conflict` once this claim has ended. None from a server without them."""
    priority: int | None = _opt()
    """The task's priority (None from a server older than flow control)."""
    concurrency_key: str | None = _opt()
    schedule_name: str | None = _opt()
    """The schedule that made the task (None for a task not made by one)."""
    scheduled_for: dt.datetime | None = _opt()
    """The slot the schedule made the task for (UTC; None for a task not made by one)."""


@attrs.frozen(kw_only=True)
class TaskSummary:
    id: str
    task_name: str
    status: str
    queue_name: str
    max_attempts: int
    created_at: dt.datetime
    completed_at: dt.datetime | None = _opt()


@attrs.frozen(kw_only=True)
class TaskPage:
    tasks: list[TaskSummary]
    next_cursor: str | None = _opt()


@attrs.frozen(kw_only=True)
class RunSummary:
    id: str
    task_id: str
    attempt: int
    status: str
    error: str | None = _opt()
    created_at: dt.datetime
    completed_at: dt.datetime | None = _opt()


@attrs.frozen(kw_only=True)
class ChildCounts:
    """A task's children by status."""

    pending: int = 0
    completed: int = 0
    failed: int = 0
    canceled: int = 0

    @property
    def total(self) -> int:
        return self.pending + self.completed + self.failed + self.canceled


@attrs.frozen(kw_only=True)
class TaskDetail:
    id: str
    task_name: str
    status: str
    queue_name: str
    max_attempts: int
    created_at: dt.datetime
    completed_at: dt.datetime | None = _opt()
    params: JSONValue = _opt()
    headers: dict[str, str] | None = _opt()
    retry_strategy: RetryStrategy | None = _opt()
    start_timeout: int | None = _opt()
    execution_timeout: int | None = _opt()
    workflow_run_id: str | None = _opt()
    idempotency_key: str | None = _opt()
    priority: int | None = _opt()
    concurrency_key: str | None = _opt()
    schedule_name: str | None = _opt()
    """The schedule that made the task (it keeps the name when the schedule is deleted)."""
    scheduled_for: dt.datetime | None = _opt()
    """The slot the schedule made the task for (UTC)."""
    parent_task_id: str | None = _opt()
    """The task's parent (None for a task that is no child)."""
    parent_close: str | None = _opt()
    """A child's parent-close policy: "cancel" or "abandon" (None for a task that is no
    child)."""
    children: ChildCounts | None = _opt()
    """The task's children counted by status; None for a task without children."""
    error: str | None = _opt()
    result: JSONValue = _opt()
    runs: list[RunSummary] = attrs.field(factory=list)
    checkpoints: list[str] = attrs.field(factory=list)


@attrs.frozen(kw_only=True)
class TaskOutcome:
    """A task's outcome: `status` "completed" (with its `result`), "failed" (with the last
    run's `error`) or "canceled", and `completed_at`; "pending" while it is unfinished.
    An item of `WaitForTasksAnswer.tasks`."""

    task_id: str
    status: str
    result: JSONValue = _opt()
    error: str | None = _opt()
    completed_at: dt.datetime | None = _opt()

    @property
    def finished(self) -> bool:
        """Whether the task has ended (completed, failed or canceled)."""
        return self.status != "pending"


@attrs.frozen(kw_only=True)
class TaskResult(TaskOutcome):
    """GET /tasks/{task_id}/result: the task's outcome, `status` "pending" when the wait
    ended before the task did."""


@attrs.frozen(kw_only=True)
class CanceledTask:
    task_id: str
    status: str


# -- runs -----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class RunPage:
    runs: list[RunSummary]
    next_cursor: str | None = _opt()


@attrs.frozen(kw_only=True)
class CompleteRunRequest:
    result: JSONValue = _opt()
    claim_token: str | None = _opt()


@attrs.frozen(kw_only=True)
class CompletedRun:
    run_id: str
    status: str


@attrs.frozen(kw_only=True)
class RunCompletion:
    """One item of `complete_runs`: the run, its result, and the claim token it holds."""

    run_id: str
    result: JSONValue = _opt()
    claim_token: str | None = _opt()


@attrs.frozen(kw_only=True)
class CompleteRunsRequest:
    runs: list[RunCompletion]


@attrs.frozen(kw_only=True)
class RunCompletionResult:
    """`status` is "completed", or "conflict" / "not_found" with an `error` (that item
    changed nothing)."""

    run_id: str
    status: str
    error: str | None = _opt()


@attrs.frozen(kw_only=True)
class FailRunRequest:
    error: str
    claim_token: str | None = _opt()


@attrs.frozen(kw_only=True)
class FailedRun:
    run_id: str
    status: str
    attempt: int
    next_run_id: str | None = _opt()
    next_attempt_at: dt.datetime | None = _opt()


@attrs.frozen(kw_only=True)
class ScheduleRunRequest:
    run_at: dt.datetime
    claim_token: str | None = _opt()


@attrs.frozen(kw_only=True)
class ScheduledRun:
    run_id: str
    scheduled_at: dt.datetime


@attrs.frozen(kw_only=True)
class WaitForEventRequest:
    event_name: str
    timeout_seconds: int
    task_id: str
    step_name: str
    claim_token: str | None = _opt()


@attrs.frozen(kw_only=True)
class WaitForEventResult:
    """`status` is "resolved" (with the event's `payload`) or "sleeping" (with a `message`):
    the run released its claim and becomes claimable again when the event arrives."""

    status: str
    payload: JSONValue = _opt()
    message: str | None = _opt()


@attrs.frozen(kw_only=True)
class WaitForTasksRequest:
    task_ids: list[str]
    timeout_seconds: int
    claim_token: str | None = _opt()


@attrs.frozen(kw_only=True)
class WaitForTasksAnswer:
    """POST /runs/{run_id}/wait-for-tasks: `status` "completed" (every task has ended;
    `tasks` their outcomes in the order asked), "sleeping" (the run released its claim and
    becomes claimable again when the last task ends or the timeout passes) or "timeout"
    (the timeout passed first; `tasks` as they are now)."""

    status: str
    tasks: list[TaskOutcome] | None = _opt()


@attrs.frozen(kw_only=True)
class HeartbeatRequest:
    extend_by: int
    claim_token: str | None = _opt()


@attrs.frozen(kw_only=True)
class Heartbeat:
    run_id: str
    claim_expires_at: dt.datetime


# -- checkpoints ----------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class SetCheckpointRequest:
    state: JSONValue = _nullable()
    owner_run: str
    extend_claim_by: int | None = _opt()
    claim_token: str | None = _opt()


@attrs.frozen(kw_only=True)
class CheckpointSaved:
    task_id: str
    step_name: str
    updated_at: dt.datetime


@attrs.frozen(kw_only=True)
class Checkpoint:
    task_id: str
    step_name: str
    state: JSONValue = _nullable()
    updated_at: dt.datetime


@attrs.frozen(kw_only=True)
class CheckpointEntry:
    """One item of `list_checkpoints`."""

    step_name: str
    state: JSONValue = _nullable()
    updated_at: dt.datetime


# -- events ---------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class EmitEventRequest:
    event_name: str
    payload: JSONValue = _opt()


@attrs.frozen(kw_only=True)
class EventCreated:
    event_id: str
    event_name: str
    created_at: dt.datetime


# -- workflow runs --------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class CreateWorkflowRunRequest:
    workflow_name: str
    workflow_version: str | None = _opt()
    inputs: JSONValue = _opt()
    created_by: str | None = _opt()
    tags: dict[str, str] | None = _opt()


@attrs.frozen(kw_only=True)
class WorkflowRunCreated:
    workflow_run_id: str
    workflow_name: str
    status: str
    created_at: dt.datetime


@attrs.frozen(kw_only=True)
class UpdateWorkflowRunRequest:
    status: str | None = _opt()
    result: JSONValue = _opt()
    started_at: dt.datetime | None = _opt()
    completed_at: dt.datetime | None = _opt()


@attrs.frozen(kw_only=True)
class WorkflowRunUpdated:
    workflow_run_id: str
    status: str
    updated_at: dt.datetime


@attrs.frozen(kw_only=True)
class WorkflowRun:
    """A stored workflow run, as listed; `id` and `workflow_run_id` hold the same id."""

    id: str
    workflow_run_id: str
    workflow_name: str
    workflow_version: str | None = _opt()
    status: str
    inputs: JSONValue = _opt()
    result: JSONValue = _opt()
    created_by: str | None = _opt()
    tags: dict[str, str] | None = _opt()
    started_at: dt.datetime | None = _opt()
    completed_at: dt.datetime | None = _opt()
    created_at: dt.datetime
    updated_at: dt.datetime

    @property
    def effective_id(self) -> str:
        """The id (kept from when the server's key was unsettled)."""
        return self.workflow_run_id


@attrs.frozen(kw_only=True)
class WorkflowRunDetail(WorkflowRun):
    """GET /workflow-runs/{id}: the run with its tasks and their counts by status."""

    tasks: list[TaskSummary] = attrs.field(factory=list)
    task_counts: dict[str, int] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class WorkflowRunPage:
    workflow_runs: list[WorkflowRun]
    next_cursor: str | None = _opt()


# -- schedules ------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class CreateScheduleRequest:
    """POST /schedules: a schedule's whole definition (docs/schedules.md). Exactly one of
    `cron` and `interval_seconds`; a field left None takes the server's default."""

    name: str
    queue: str
    task_name: str
    params: JSONValue = _opt()
    headers: dict[str, str] | None = _opt()
    max_attempts: int | None = _opt()
    retry_strategy: RetryStrategy | None = _opt()
    priority: int | None = _opt()
    concurrency_key: str | None = _opt()
    cron: str | None = _opt()
    interval_seconds: int | None = _opt()
    timezone: str | None = _opt()
    start_at: dt.datetime | None = _opt()
    end_at: dt.datetime | None = _opt()
    catchup: str | None = _opt()
    catchup_window_seconds: int | None = _opt()
    overlap: str | None = _opt()
    paused: bool | None = _opt()
    note: str | None = _opt()


@attrs.frozen(kw_only=True)
class UpdateScheduleRequest:
    """PATCH /schedules/{name}: only the fields given are sent. The fields a schedule may
    be without (params, headers, retry_strategy, concurrency_key, start_at, end_at, note)
    are left out while `UNSET` and cleared by None (JSON null); the others are left out
    while None. Giving `cron` clears `interval_seconds` and the other way round."""

    queue: str | None = _opt()
    task_name: str | None = _opt()
    params: JSONValue | Unset = _patch()
    headers: dict[str, str] | Unset | None = _patch()
    max_attempts: int | None = _opt()
    retry_strategy: RetryStrategy | Unset | None = _patch()
    priority: int | None = _opt()
    concurrency_key: str | Unset | None = _patch()
    cron: str | None = _opt()
    interval_seconds: int | None = _opt()
    timezone: str | None = _opt()
    start_at: dt.datetime | Unset | None = _patch()
    end_at: dt.datetime | Unset | None = _patch()
    catchup: str | None = _opt()
    catchup_window_seconds: int | None = _opt()
    overlap: str | None = _opt()
    paused: bool | None = _opt()
    note: str | Unset | None = _patch()


@attrs.frozen(kw_only=True)
class ScheduleInfo:
    """A schedule: its definition and its state. `next_fire_at` is None while it is paused
    or once it has ended (past `end_at`); `last_task_status` is the last task's status
    now; `buffered_slot` is the slot waiting behind an unfinished task (overlap
    `buffer_one`); `fires`, `skipped` and `missed` count tasks made, slots skipped by the
    overlap policy and slots missed. `upcoming`: the next fire times, when asked for
    (`get_schedule(name, preview=N)`)."""

    name: str
    queue: str
    task_name: str
    params: JSONValue = _opt()
    headers: dict[str, str] | None = _opt()
    max_attempts: int
    retry_strategy: RetryStrategy | None = _opt()
    priority: int
    concurrency_key: str | None = _opt()
    cron: str | None = _opt()
    interval_seconds: int | None = _opt()
    timezone: str
    start_at: dt.datetime | None = _opt()
    end_at: dt.datetime | None = _opt()
    catchup: str  # "skip" | "latest" | "all"
    catchup_window_seconds: int
    overlap: str  # "allow" | "skip" | "buffer_one" | "cancel_previous"
    paused: bool
    note: str | None = _opt()
    created_at: dt.datetime
    updated_at: dt.datetime
    next_fire_at: dt.datetime | None = _opt()
    last_scheduled_for: dt.datetime | None = _opt()
    last_fired_at: dt.datetime | None = _opt()
    last_task_id: str | None = _opt()
    last_task_status: str | None = _opt()
    buffered_slot: dt.datetime | None = _opt()
    fires: int
    skipped: int
    missed: int
    upcoming: list[dt.datetime] | None = _opt()


@attrs.frozen(kw_only=True)
class SchedulePage:
    schedules: list[ScheduleInfo]
    next_cursor: str | None = _opt()


@attrs.frozen(kw_only=True)
class ScheduleTriggered:
    """POST /schedules/{name}/trigger: the task made now (`scheduled_for`: the database's
    now)."""

    task_id: str
    run_id: str
    scheduled_for: dt.datetime


@attrs.frozen(kw_only=True)
class BackfillResult:
    """POST /schedules/{name}/backfill: of the `slots` in the range, `fired` made a task,
    `skipped` and `buffered` were held by the overlap policy, `already_fired` had a task
    from before."""

    slots: int
    fired: int
    skipped: int
    buffered: int
    already_fired: int
