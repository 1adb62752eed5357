"""marshmallow schemas: request validation and the OpenAPI document.

Unknown fields are ignored (as the original Go server's JSON decoding did),
integers are strict (no strings, no fractions), and IDs must be UUIDs.
"""

from __future__ import annotations

import datetime as dt
import re

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from durable_queue.jsonvalue import JSON_NULL

QUEUE_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")
TASK_STATUSES = ("pending", "completed", "failed", "canceled")
RUN_STATUSES = ("pending", "claimed", "completed", "failed", "sleeping", "canceled")
WORKFLOW_STATUSES = ("pending", "running", "completed", "failed", "canceled")


class Body(Schema):
    class Meta:
        unknown = EXCLUDE


# PostgreSQL's integer: the bound of every stored count and number of seconds.
INT32_MAX = 2_147_483_647


def Int(minimum: int | None = None, maximum: int = INT32_MAX, **kw) -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(min=minimum, max=maximum), **kw)


# Names that are indexed (event, step, workflow names, idempotency keys) must fit in a
# B-tree entry; 1,024 characters is far below PostgreSQL's limit.
MAX_NAME_LENGTH = 1024


def Text(**kw) -> fields.String:
    return fields.String(
        validate=validate.Length(
            min=1, max=MAX_NAME_LENGTH, error="must be 1 to {max} characters long"
        ),
        **kw,
    )


class _JsonValueField(fields.Raw):
    """Any JSON value; a given null loads as JSON_NULL, so it stays apart from "absent"."""

    def deserialize(self, value, attr=None, data=None, **kwargs):
        if value is None:
            return JSON_NULL
        return super().deserialize(value, attr, data, **kwargs)


def JsonValue(**kw) -> fields.Raw:
    return _JsonValueField(allow_none=True, **kw)


# Times outside this window are refused: PostgreSQL could store them, but they
# could not be read back into Python datetimes (year 10000 after a UTC shift).
EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(9000, 1, 1, tzinfo=dt.UTC)


def _within_window(value: dt.datetime) -> None:
    if not EARLIEST <= value <= LATEST:
        raise ValidationError("must be between 1970-01-01T00:00:00Z and 9000-01-01T00:00:00Z")


def Timestamp(**kw) -> fields.AwareDateTime:
    return fields.AwareDateTime(format="iso", validate=_within_window, **kw)


def OneOf(choices: tuple[str, ...], **kw) -> fields.String:
    return fields.String(
        validate=validate.OneOf(choices, error=f"must be one of: {', '.join(choices)}"), **kw
    )


def validate_queue_name(name: str) -> None:
    if not QUEUE_NAME.match(name):
        raise ValidationError("must be 1-128 characters of letters, digits, '-', '_' or '.'")


# -- errors -------------------------------------------------------------------


class ErrorSchema(Schema):
    error = fields.String(required=True, metadata={"description": "human-readable message"})
    code = fields.String(
        required=True, metadata={"description": "VALIDATION_ERROR, NOT_FOUND, ..."}
    )


# -- queues -------------------------------------------------------------------


class CleanupPolicySchema(Body):
    task_ttl_seconds = Int(
        0, metadata={"description": "delete finished tasks this long after; 0 keeps them"}
    )
    event_ttl_seconds = Int(
        0, metadata={"description": "delete events older than this; 0 keeps them"}
    )


class CreateQueueSchema(Body):
    name = fields.String(required=True, validate=validate_queue_name)
    cleanup = fields.Nested(CleanupPolicySchema, allow_none=True)


class QueueSummarySchema(Schema):
    name = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    cleanup = fields.Nested(CleanupPolicySchema, required=True)


class QueueListSchema(Schema):
    queues = fields.List(fields.Nested(QueueSummarySchema), required=True)


class DeleteQueueQuerySchema(Body):
    force = fields.Boolean(
        load_default=False, metadata={"description": "delete even with unfinished tasks"}
    )


class QueueStatsSchema(Schema):
    queue_name = fields.String(required=True)
    pending_runs = fields.Integer(required=True)
    claimed_runs = fields.Integer(required=True)
    completed_runs = fields.Integer(required=True)
    oldest_pending_run_age_seconds = fields.Float(required=True, allow_none=True)
    failed_runs = fields.Integer(required=True)
    sleeping_runs = fields.Integer(required=True)
    scheduled_runs = fields.Integer(required=True)
    canceled_runs = fields.Integer(required=True)
    tasks_by_status = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)


# -- tasks --------------------------------------------------------------------


class RetryStrategySchema(Body):
    kind = OneOf(("fixed", "exponential"), required=True)
    base_seconds = fields.Float(required=True, validate=validate.Range(min=0), allow_nan=False)
    factor = fields.Float(validate=validate.Range(min=1), allow_nan=False)
    max_seconds = fields.Float(validate=validate.Range(min=0), allow_nan=False)


class CreateTaskSchema(Body):
    task_name = Text(required=True)
    params = JsonValue()
    headers = fields.Dict(keys=fields.String(), values=fields.String(), allow_none=True)
    retry_strategy = fields.Nested(RetryStrategySchema, allow_none=True)
    max_attempts = Int(1, allow_none=True)
    start_timeout = Int(0, allow_none=True, metadata={"description": "seconds; 0 = none"})
    execution_timeout = Int(0, allow_none=True, metadata={"description": "seconds; 0 = none"})
    workflow_run_id = fields.UUID(allow_none=True)
    run_at = Timestamp(allow_none=True, metadata={"description": "first run not claimable before"})
    idempotency_key = fields.String(
        allow_none=True,
        validate=validate.Length(
            max=MAX_NAME_LENGTH, error="must be at most {max} characters long"
        ),
    )


class CreateTaskResponseSchema(Schema):
    task_id = fields.UUID(required=True)
    run_id = fields.UUID(required=True)
    workflow_run_id = fields.UUID()


class ClaimSchema(Body):
    limit = Int(1, required=True, metadata={"description": "at most 1,000 are handed out"})
    claim_timeout = Int(1, required=True, metadata={"description": "seconds"})
    long_poll_seconds = Int(
        0, 30, allow_none=True, metadata={"description": "1-30; 0 or absent answers at once"}
    )


class ClaimedTaskSchema(Schema):
    run_id = fields.UUID(required=True)
    task_id = fields.UUID(required=True)
    attempt = fields.Integer(required=True)
    task_name = fields.String(required=True)
    params = fields.Raw()
    headers = fields.Dict(keys=fields.String(), values=fields.String())
    retry_strategy = fields.Nested(RetryStrategySchema)
    max_attempts = fields.Integer(required=True)
    claim_expires_at = fields.DateTime(required=True)
    workflow_run_id = fields.UUID()


class ClaimResponseSchema(Schema):
    tasks = fields.List(fields.Nested(ClaimedTaskSchema), required=True)


class ListTasksQuerySchema(Body):
    queue_name = fields.String()
    status = OneOf(TASK_STATUSES)
    task_name = fields.String()
    cursor = fields.UUID()
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=1000))


class TaskSummarySchema(Schema):
    id = fields.UUID(required=True)
    task_name = fields.String(required=True)
    status = fields.String(required=True)
    queue_name = fields.String(required=True)
    max_attempts = fields.Integer(required=True)
    created_at = fields.DateTime(required=True)
    completed_at = fields.DateTime()


class TaskListSchema(Schema):
    tasks = fields.List(fields.Nested(TaskSummarySchema), required=True)
    next_cursor = fields.UUID()


# -- runs ---------------------------------------------------------------------


class ListRunsQuerySchema(Body):
    task_id = fields.UUID()
    status = OneOf(RUN_STATUSES)
    cursor = fields.UUID()
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=1000))


class RunSummarySchema(Schema):
    id = fields.UUID(required=True)
    task_id = fields.UUID(required=True)
    attempt = fields.Integer(required=True)
    status = fields.String(required=True)
    error = fields.String()
    created_at = fields.DateTime(required=True)
    completed_at = fields.DateTime()


class RunListSchema(Schema):
    runs = fields.List(fields.Nested(RunSummarySchema), required=True)
    next_cursor = fields.UUID()


class CompleteRunSchema(Body):
    result = JsonValue()


class RunStatusSchema(Schema):
    run_id = fields.UUID(required=True)
    status = fields.String(required=True)


class FailRunSchema(Body):
    error = Text(required=True)


class FailRunResponseSchema(Schema):
    run_id = fields.UUID(required=True)
    status = fields.String(required=True)
    attempt = fields.Integer(required=True)
    next_run_id = fields.UUID()
    next_attempt_at = fields.DateTime()


class ScheduleRunSchema(Body):
    run_at = Timestamp(required=True)


class ScheduleRunResponseSchema(Schema):
    run_id = fields.UUID(required=True)
    scheduled_at = fields.DateTime(required=True)


class WaitForEventSchema(Body):
    event_name = Text(required=True)
    timeout_seconds = Int(1, required=True)
    task_id = fields.UUID(required=True)
    step_name = Text(required=True)


class WaitForEventResponseSchema(Schema):
    status = fields.String(required=True, metadata={"description": "resolved, sleeping or timeout"})
    payload = fields.Raw()
    message = fields.String()


# -- checkpoints --------------------------------------------------------------


class PutCheckpointSchema(Body):
    state = JsonValue(required=True)
    owner_run = fields.UUID(required=True)
    extend_claim_by = Int(1, allow_none=True)


class CheckpointSavedSchema(Schema):
    task_id = fields.UUID(required=True)
    step_name = fields.String(required=True)
    updated_at = fields.DateTime(required=True)


class CheckpointSchema(CheckpointSavedSchema):
    state = fields.Raw(required=True)


# -- events -------------------------------------------------------------------


class EmitEventSchema(Body):
    event_name = Text(required=True)
    payload = JsonValue()


class EventCreatedSchema(Schema):
    event_id = fields.UUID(required=True)
    event_name = fields.String(required=True)
    created_at = fields.DateTime(required=True)


# -- workflow runs --------------------------------------------------------------


class CreateWorkflowRunSchema(Body):
    workflow_name = Text(required=True)
    workflow_version = fields.String(allow_none=True)
    inputs = JsonValue()
    created_by = fields.String(allow_none=True)
    tags = fields.Dict(keys=fields.String(), values=fields.String(), allow_none=True)


class WorkflowRunCreatedSchema(Schema):
    workflow_run_id = fields.UUID(required=True)
    workflow_name = fields.String(required=True)
    status = fields.String(required=True)
    created_at = fields.DateTime(required=True)


class PatchWorkflowRunSchema(Body):
    status = OneOf(WORKFLOW_STATUSES, allow_none=True)
    result = JsonValue()
    started_at = Timestamp(allow_none=True)
    completed_at = Timestamp(allow_none=True)


class WorkflowRunUpdatedSchema(Schema):
    workflow_run_id = fields.UUID(required=True)
    status = fields.String(required=True)
    updated_at = fields.DateTime(required=True)


# -- health -------------------------------------------------------------------


class HealthSchema(Schema):
    status = fields.String(required=True, metadata={"description": "ok or unavailable"})


class ReadinessSchema(HealthSchema):
    database = fields.String(required=True, metadata={"description": "ok or unreachable"})
    listener = fields.String(
        required=True, metadata={"description": "ok or down (LISTEN connection)"}
    )
    maintenance = fields.String(
        required=True,
        metadata={"description": "active on the one instance that sweeps, else standby"},
    )


# -- new endpoints ----------------------------------------------------------------


class TaskDetailSchema(TaskSummarySchema):
    params = fields.Raw(allow_none=True)
    headers = fields.Dict(keys=fields.String(), values=fields.String(), allow_none=True)
    retry_strategy = fields.Nested(RetryStrategySchema, allow_none=True)
    start_timeout = fields.Integer(required=True)
    execution_timeout = fields.Integer(required=True)
    workflow_run_id = fields.UUID(allow_none=True)
    idempotency_key = fields.String(allow_none=True)
    error = fields.String(
        allow_none=True, metadata={"description": "why it failed or was canceled"}
    )
    result = fields.Raw(allow_none=True, metadata={"description": "result of the completing run"})
    runs = fields.List(fields.Nested(RunSummarySchema), required=True)
    checkpoints = fields.List(
        fields.String(), required=True, metadata={"description": "step names"}
    )


class TaskCanceledSchema(Schema):
    task_id = fields.UUID(required=True)
    status = fields.String(required=True)


class HeartbeatSchema(Body):
    extend_by = Int(1, required=True, metadata={"description": "seconds from now"})


class HeartbeatResponseSchema(Schema):
    run_id = fields.UUID(required=True)
    claim_expires_at = fields.DateTime(required=True)


class CheckpointEntrySchema(Schema):
    step_name = fields.String(required=True)
    state = fields.Raw(required=True)
    updated_at = fields.DateTime(required=True)


class CheckpointListSchema(Schema):
    checkpoints = fields.List(fields.Nested(CheckpointEntrySchema), required=True)


class WorkflowRunSchema(Schema):
    id = fields.UUID(required=True)
    workflow_run_id = fields.UUID(required=True, metadata={"description": "same as id"})
    workflow_name = fields.String(required=True)
    workflow_version = fields.String(allow_none=True)
    inputs = fields.Raw(allow_none=True)
    created_by = fields.String(allow_none=True)
    tags = fields.Dict(keys=fields.String(), values=fields.String(), allow_none=True)
    status = fields.String(required=True)
    result = fields.Raw(allow_none=True)
    started_at = fields.DateTime(allow_none=True)
    completed_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class WorkflowRunDetailSchema(WorkflowRunSchema):
    tasks = fields.List(fields.Nested(TaskSummarySchema), required=True)
    task_counts = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)


class WorkflowRunListSchema(Schema):
    workflow_runs = fields.List(fields.Nested(WorkflowRunSchema), required=True)
    next_cursor = fields.UUID()


class ListWorkflowRunsQuerySchema(Body):
    workflow_name = fields.String()
    status = OneOf(WORKFLOW_STATUSES)
    cursor = fields.UUID()
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=1000))
