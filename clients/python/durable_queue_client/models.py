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
from typing import Any

import attrs

JSONValue = Any
"""Any JSON value (object, array, string, number, bool or null), passed through unchanged."""

KEEP_NULL = "keep_null"


def _opt() -> Any:
    """An optional field: None when absent, and left out of the JSON when None."""
    return attrs.field(default=None)


def _nullable() -> Any:
    """A field whose None is sent and printed as JSON null (the key is always present)."""
    return attrs.field(default=None, metadata={KEEP_NULL: True})


# -- queues ---------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class CleanupPolicy:
    """TTLs in seconds after which finished tasks / old events are deleted; 0 disables."""

    task_ttl_seconds: int | None = _opt()
    event_ttl_seconds: int | None = _opt()


@attrs.frozen(kw_only=True)
class CreateQueueRequest:
    name: str
    cleanup: CleanupPolicy | None = _opt()


@attrs.frozen(kw_only=True)
class QueueSummary:
    name: str
    created_at: dt.datetime
    cleanup: CleanupPolicy | None = _opt()


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
    error: str | None = _opt()
    result: JSONValue = _opt()
    runs: list[RunSummary] = attrs.field(factory=list)
    checkpoints: list[str] = attrs.field(factory=list)


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
