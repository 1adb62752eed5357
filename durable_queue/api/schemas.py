"""Request schemas: the one declaration of every request body, query string and path.

The `@request_schema` / `@querystring_schema` / `@match_info_schema` decorators attach
them to the handlers; the validation middleware (`api/validation.py`) loads the input
with them once, and the OpenAPI document is built from the same decorators. A body
schema names the command record it loads into (`loads_into`, from
`durable_queue.commands`); a field absent from the body, or given as null where null
means "absent", takes the record's default. Queries and paths load into plain dicts
(keyword arguments of the store's listings). A queue's create and PATCH bodies build their
commands in a post-load of their own (the settings are flat on the wire, grouped in
commands.QueueFlow; a PATCH keeps a given null, which clears), so marshmallow loads them
(api/fast_load.py compiles only `Input`'s own post-load).

Unknown fields are ignored (as the original Go server's JSON decoding did).

Response schemas are not declared here: they are derived from the wire records
(`durable_queue.wire`, by `api/response_schemas.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from marshmallow import EXCLUDE, Schema, fields, post_load, validate
from marshmallow import ValidationError as MarshmallowValidationError
from marshmallow import missing as MISSING

from durable_queue.api.response_schemas import response_schema_of
from durable_queue.api.wire_fields import (
    MAX_NAME_LENGTH,
    MAX_RATE_PERIOD_SECONDS,
    Batch,
    Bool,
    ConcurrencyKeyName,
    FlowLimit,
    Int,
    JsonBool,
    JsonValue,
    Key,
    ListOf,
    Nested,
    Number,
    OneOf,
    Priority,
    QueueName,
    String,
    StringMap,
    Text,
    Timestamp,
    Uuid,
)
from durable_queue.commands import (
    FLOW_SETTINGS,
    TTL_SETTINGS,
    Backfill,
    CheckpointWrite,
    ClaimExtension,
    ClaimRequest,
    EventWait,
    KeyOverride,
    NewEvent,
    NewQueue,
    NewSchedule,
    NewTask,
    NewTasks,
    NewWorkflowRun,
    QueueCleanup,
    QueueFlow,
    QueuePatch,
    RateLimit,
    RunFailure,
    RunResult,
    RunSchedule,
    RunsToComplete,
    RunToComplete,
    ScheduleDefinition,
    SchedulePatch,
    TaskPatch,
    TasksWait,
    WorkflowRunPatch,
)
from durable_queue.schedule_plan import CATCHUP_POLICIES, OVERLAP_POLICIES
from durable_queue.schedule_store import MAX_BACKFILL_SLOTS, MAX_PREVIEW
from durable_queue.schedule_times import (
    MAX_CATCHUP_WINDOW_SECONDS,
    MAX_INTERVAL_SECONDS,
    CalendarError,
    check_cron,
    zone,
)
from durable_queue.wire import RUN_STATUSES, TASK_STATUSES, WORKFLOW_STATUSES, ErrorBody

__all__ = ["MAX_NAME_LENGTH", "ErrorSchema"]

# The `{error, code}` envelope, as OpenAPI's "Error" component.
ErrorSchema = response_schema_of(ErrorBody, "Error")

PARENT_CLOSE = ("cancel", "abandon")
MAX_RESULT_WAIT_SECONDS = 60
MAX_JOIN_TASKS = 1000
LISTING_LIMIT = 50
MAX_LISTING_LIMIT = 1000
KEYS_LISTING_LIMIT = 100


class Input(Schema):
    """A request part: unknown keys ignored; loads into `loads_into` when set, else a dict."""

    class Meta:
        unknown = EXCLUDE

    error_messages = {"type": "must be an object"}
    loads_into: ClassVar[type | None] = None

    @post_load
    def _command(self, data: dict[str, Any], **_: Any) -> Any:
        given = {key: value for key, value in data.items() if value is not None}
        return self.loads_into(**given) if self.loads_into else given


# -- paths ----------------------------------------------------------------------


class QueuePathSchema(Input):
    queue_name = QueueName(required=True)


class TaskPathSchema(Input):
    task_id = Uuid(required=True)


class RunPathSchema(Input):
    run_id = Uuid(required=True)


class WorkflowRunPathSchema(Input):
    workflow_run_id = Uuid(required=True)


class CheckpointPathSchema(TaskPathSchema):
    step_name = Text(required=True)


class KeyPathSchema(QueuePathSchema):
    key = ConcurrencyKeyName(required=True, metadata={"description": "a concurrency key"})


# -- queues -------------------------------------------------------------------


class QueueCleanupSchema(Input):
    loads_into = QueueCleanup
    task_ttl_seconds = Int(
        0, metadata={"description": "delete finished tasks this long after; 0 keeps them"}
    )
    event_ttl_seconds = Int(
        0, metadata={"description": "delete events older than this; 0 keeps them"}
    )


class RateLimitRequestSchema(Input):
    loads_into = RateLimit
    limit = FlowLimit(required=True, metadata={"description": "claims per period, and the burst"})
    period_seconds = Number(
        0,
        MAX_RATE_PERIOD_SECONDS,
        min_inclusive=False,
        required=True,
        metadata={"description": "seconds, more than 0 and at most 86,400"},
    )


class QueueFlowSchema(Input):
    """A queue's flow-control settings, flat in its create and PATCH bodies
    (docs/flow-control.md)."""

    max_concurrency = FlowLimit(
        allow_none=True,
        metadata={"description": "runs of the queue claimed at once, fleet-wide; null: no limit"},
    )
    key_concurrency = FlowLimit(
        allow_none=True,
        metadata={
            "description": (
                "claimed runs at once per concurrency key, unless the key has an override; "
                "null: no limit"
            )
        },
    )
    rate_limit = Nested(
        RateLimitRequestSchema,
        allow_none=True,
        metadata={"description": "claims per period for the queue (token bucket); null: none"},
    )
    key_rate_limit = Nested(
        RateLimitRequestSchema,
        allow_none=True,
        metadata={
            "description": (
                "claims per period per concurrency key, unless the key has an override; null: none"
            )
        },
    )
    paused = JsonBool(
        allow_none=True,
        metadata={"description": "a paused queue hands out no runs; creates are accepted"},
    )


class CreateQueueSchema(QueueFlowSchema):
    name = QueueName(required=True)
    cleanup = Nested(QueueCleanupSchema, allow_none=True)

    @post_load
    def _command(self, data: dict[str, Any], **_: Any) -> NewQueue:
        given = {key: value for key, value in data.items() if value is not None}
        flow = QueueFlow(**{name: given.pop(name) for name in FLOW_SETTINGS if name in given})
        return NewQueue(flow=flow, **given)


class PatchQueueCleanupSchema(Input):
    """The cleanup policy in a queue PATCH: a given null restores the ttl's default."""

    task_ttl_seconds = Int(
        0,
        allow_none=True,
        metadata={"description": "delete finished tasks this long after; 0 keeps them"},
    )
    event_ttl_seconds = Int(
        0, allow_none=True, metadata={"description": "delete events older than this; 0 keeps them"}
    )

    @post_load
    def _command(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return data  # the fields given, a given null kept


class PatchQueueSchema(QueueFlowSchema):
    """Any subset of the settings; the others are unchanged. A null clears a limit (paused:
    false; a ttl: its default, 259,200). `cleanup: null` restores both ttls' defaults."""

    cleanup = Nested(PatchQueueCleanupSchema, allow_none=True)

    @post_load
    def _command(self, data: dict[str, Any], **_: Any) -> QueuePatch:
        given = {name for name in FLOW_SETTINGS if name in data}
        flow = QueueFlow(**{name: data[name] for name in given if data[name] is not None})
        cleanup = data.get("cleanup", MISSING)
        if cleanup is None:
            cleanup = dict.fromkeys(TTL_SETTINGS)
        elif cleanup is MISSING:
            cleanup = {}
        given |= set(cleanup)
        ttls = {name: value for name, value in cleanup.items() if value is not None}
        return QueuePatch(given=frozenset(given), flow=flow, cleanup=QueueCleanup(**ttls))


class KeyOverrideSchema(Input):
    """A key's own limits (absent or null: the queue's key default applies)."""

    loads_into = KeyOverride
    max_concurrency = FlowLimit(
        allow_none=True,
        metadata={"description": "claimed runs of the key at once; null: the queue's default"},
    )
    rate_limit = Nested(
        RateLimitRequestSchema,
        allow_none=True,
        metadata={"description": "claims of the key per period; null: the queue's default"},
    )


class ListKeysQuerySchema(Input):
    cursor = ConcurrencyKeyName(metadata={"description": "the next_cursor of the previous page"})
    limit = Int(1, MAX_LISTING_LIMIT, strict=False, load_default=KEYS_LISTING_LIMIT)


class DeleteQueueQuerySchema(Input):
    force = Bool(load_default=False, metadata={"description": "delete even with unfinished tasks"})


# -- tasks --------------------------------------------------------------------


class RetryStrategyRequestSchema(Input):
    kind = OneOf(("fixed", "exponential"), required=True)
    base_seconds = Number(0, required=True)
    factor = Number(1, metadata={"description": "exponential only; default 2"})
    max_seconds = Number(0)


class CreateTaskSchema(Input):
    loads_into = NewTask
    task_name = Text(required=True)
    params = JsonValue()
    headers = StringMap(allow_none=True)
    retry_strategy = Nested(RetryStrategyRequestSchema, allow_none=True)
    max_attempts = Int(1, allow_none=True, metadata={"description": "default 1"})
    start_timeout = Int(0, allow_none=True, metadata={"description": "seconds; 0 = none"})
    execution_timeout = Int(0, allow_none=True, metadata={"description": "seconds; 0 = none"})
    workflow_run_id = Uuid(allow_none=True)
    run_at = Timestamp(allow_none=True, metadata={"description": "first run not claimable before"})
    idempotency_key = Key(allow_none=True)
    priority = Priority(
        allow_none=True,
        metadata={"description": "-1000 to 1000, default 0; higher is claimed first"},
    )
    concurrency_key = ConcurrencyKeyName(
        allow_none=True,
        metadata={
            "description": (
                "1 to 255 characters: the key's runs share its concurrency and rate limits, "
                "and keys take turns (docs/flow-control.md)"
            )
        },
    )
    parent_task_id = Uuid(
        allow_none=True,
        metadata={
            "description": (
                "makes it a child of that task: it takes the parent's workflow run, and its "
                "priority and concurrency key when not given (docs/composition.md)"
            )
        },
    )
    parent_close = OneOf(
        PARENT_CLOSE,
        allow_none=True,
        metadata={
            "description": (
                "with parent_task_id: cancel (default; canceled when the parent fails or is "
                "canceled) or abandon"
            )
        },
    )


class CreateTasksSchema(Input):
    loads_into = NewTasks
    tasks = Batch(
        CreateTaskSchema,
        required=True,
        metadata={"description": "1 to 1,000 tasks, each as the single create takes it"},
    )


class ClaimSchema(Input):
    loads_into = ClaimRequest
    limit = Int(1, required=True, metadata={"description": "at most 1,000 are handed out"})
    claim_timeout = Int(1, required=True, metadata={"description": "seconds"})
    long_poll_seconds = Int(
        0, 30, allow_none=True, metadata={"description": "1-30; 0 or absent answers at once"}
    )


class PatchTaskSchema(Input):
    loads_into = TaskPatch
    priority = Priority(
        required=True,
        metadata={"description": "-1000 to 1000; applies to the task's pending and sleeping runs"},
    )


class ListTasksQuerySchema(Input):
    parent_task_id = Uuid(metadata={"description": "the children of this task"})
    queue_name = String()
    status = OneOf(TASK_STATUSES)
    task_name = String()
    cursor = Uuid()
    limit = Int(1, MAX_LISTING_LIMIT, strict=False, load_default=LISTING_LIMIT)


# -- runs ---------------------------------------------------------------------


def ClaimToken() -> fields.String:
    """The optional `claim_token` of every holder call (docs/lifecycle.md, "The fence")."""
    return Text(
        allow_none=True,
        metadata={
            "description": (
                "the claim_token of the claim this call acts under; when given and not the "
                "run's current one, 409 and nothing changes. Absent: the run must be claimed"
            )
        },
    )


class ListRunsQuerySchema(Input):
    task_id = Uuid()
    status = OneOf(RUN_STATUSES)
    cursor = Uuid()
    limit = Int(1, MAX_LISTING_LIMIT, strict=False, load_default=LISTING_LIMIT)


class CompleteRunSchema(Input):
    loads_into = RunResult
    result = JsonValue()
    claim_token = ClaimToken()


class RunCompletionSchema(Input):
    loads_into = RunToComplete
    run_id = Uuid(required=True)
    result = JsonValue()
    claim_token = ClaimToken()


class CompleteRunsSchema(Input):
    loads_into = RunsToComplete
    runs = Batch(
        RunCompletionSchema,
        required=True,
        metadata={"description": "1 to 1,000 runs; a run named twice completes once"},
    )


class FailRunSchema(Input):
    loads_into = RunFailure
    error = Text(required=True)
    claim_token = ClaimToken()


class ScheduleRunSchema(Input):
    loads_into = RunSchedule
    run_at = Timestamp(required=True)
    claim_token = ClaimToken()


class WaitForEventSchema(Input):
    loads_into = EventWait
    event_name = Text(required=True)
    timeout_seconds = Int(1, required=True)
    task_id = Uuid(required=True)
    step_name = Text(required=True)
    claim_token = ClaimToken()


class TaskResultQuerySchema(Input):
    wait_seconds = Int(
        0,
        MAX_RESULT_WAIT_SECONDS,
        strict=False,
        load_default=0,
        metadata={"description": "0-60: wait this long for the task to finish; 0 answers now"},
    )


class WaitForTasksSchema(Input):
    loads_into = TasksWait
    task_ids = ListOf(
        Uuid(),
        required=True,
        validate=validate.Length(min=1, max=MAX_JOIN_TASKS, error="must list 1 to {max} ids"),
        metadata={"description": "1 to 1,000 task ids"},
    )
    timeout_seconds = Int(1, required=True, metadata={"description": "seconds"})
    claim_token = ClaimToken()


class HeartbeatSchema(Input):
    loads_into = ClaimExtension
    extend_by = Int(1, required=True, metadata={"description": "seconds from now"})
    claim_token = ClaimToken()


# -- checkpoints --------------------------------------------------------------


class PutCheckpointSchema(Input):
    loads_into = CheckpointWrite
    state = JsonValue(required=True)
    owner_run = Uuid(required=True)
    extend_claim_by = Int(1, allow_none=True)
    claim_token = ClaimToken()


# -- events -------------------------------------------------------------------


class EmitEventSchema(Input):
    loads_into = NewEvent
    event_name = Text(required=True)
    payload = JsonValue()


# -- workflow runs --------------------------------------------------------------


class CreateWorkflowRunSchema(Input):
    loads_into = NewWorkflowRun
    workflow_name = Text(required=True)
    workflow_version = String(allow_none=True)
    inputs = JsonValue()
    created_by = String(allow_none=True)
    tags = StringMap(allow_none=True)


class PatchWorkflowRunSchema(Input):
    loads_into = WorkflowRunPatch
    status = OneOf(WORKFLOW_STATUSES, allow_none=True)
    result = JsonValue()
    started_at = Timestamp(allow_none=True)
    completed_at = Timestamp(allow_none=True)


class ListWorkflowRunsQuerySchema(Input):
    workflow_name = String()
    status = OneOf(WORKFLOW_STATUSES)
    cursor = Uuid()
    limit = Int(1, MAX_LISTING_LIMIT, strict=False, load_default=LISTING_LIMIT)


# -- schedules ------------------------------------------------------------------


def _calendar_check(check: Callable[[Any], Any]) -> Callable[[Any], None]:
    """A field validator from a schedule_times check: its CalendarError's reason."""

    def validator(value: Any) -> None:
        if value is None:
            return
        try:
            check(value)
        except CalendarError as exc:
            raise MarshmallowValidationError(exc.reason) from None

    return validator


class SchedulePathSchema(Input):
    schedule_name = QueueName(required=True, metadata={"description": "the schedule's name"})


class ScheduleFieldsSchema(Input):
    """The definition fields of a schedule, as its create and PATCH take them."""

    queue = QueueName(metadata={"description": "the queue its tasks go to"})
    task_name = Text()
    params = JsonValue(metadata={"description": "every task's params"})
    headers = StringMap(allow_none=True)
    max_attempts = Int(1, allow_none=True, metadata={"description": "default 1"})
    retry_strategy = Nested(RetryStrategyRequestSchema, allow_none=True)
    priority = Priority(allow_none=True, metadata={"description": "-1000 to 1000, default 0"})
    concurrency_key = ConcurrencyKeyName(allow_none=True)
    cron = String(
        allow_none=True,
        validate=_calendar_check(check_cron),
        metadata={
            "description": (
                "5 fields (minute hour day-of-month month day-of-week), 6 with seconds first, "
                "or @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly; read on "
                "the wall clock of `timezone`. Exactly one of cron and interval_seconds"
            )
        },
    )
    interval_seconds = Int(
        1,
        MAX_INTERVAL_SECONDS,
        allow_none=True,
        metadata={"description": "a slot every this many seconds from start_at (or creation)"},
    )
    timezone = String(
        allow_none=True,
        validate=_calendar_check(zone),
        metadata={"description": "IANA time zone of the cron expression; default UTC"},
    )
    start_at = Timestamp(allow_none=True, metadata={"description": "no slot before"})
    end_at = Timestamp(allow_none=True, metadata={"description": "no slot after"})
    catchup = OneOf(
        CATCHUP_POLICIES,
        allow_none=True,
        metadata={"description": "missed slots after an outage: skip (default), latest or all"},
    )
    catchup_window_seconds = Int(
        0,
        MAX_CATCHUP_WINDOW_SECONDS,
        allow_none=True,
        metadata={"description": "missed slots older than this never fire; default 3,600"},
    )
    overlap = OneOf(
        OVERLAP_POLICIES,
        allow_none=True,
        metadata={"description": "a slot while the last task is unfinished; default allow"},
    )
    paused = JsonBool(allow_none=True)
    note = String(allow_none=True, validate=validate.Length(max=1000))


class CreateScheduleSchema(ScheduleFieldsSchema):
    name = QueueName(required=True, metadata={"description": "unique; the path key"})
    queue = QueueName(required=True, metadata={"description": "the queue its tasks go to"})
    task_name = Text(required=True)

    @post_load
    def _command(self, data: dict[str, Any], **_: Any) -> NewSchedule:
        given = {key: value for key, value in data.items() if value is not None}
        name = given.pop("name")
        return NewSchedule(name=name, definition=ScheduleDefinition(**given))


class PatchScheduleSchema(ScheduleFieldsSchema):
    """Any subset of the definition fields; null restores a field's default (clears an
    optional one). Giving cron clears interval_seconds, and the other way round."""

    @post_load
    def _command(self, data: dict[str, Any], **_: Any) -> SchedulePatch:
        return SchedulePatch(changes=dict(data))  # the fields given, a given null kept


class ListSchedulesQuerySchema(Input):
    queue = QueueName(metadata={"description": "only this queue's schedules"})
    cursor = QueueName(metadata={"description": "the next_cursor of the previous page"})
    limit = Int(1, MAX_LISTING_LIMIT, strict=False, load_default=LISTING_LIMIT)


class GetScheduleQuerySchema(Input):
    preview = Int(
        1,
        MAX_PREVIEW,
        strict=False,
        metadata={"description": f"also answer the next N fire times (1 to {MAX_PREVIEW})"},
    )


class BackfillScheduleSchema(Input):
    loads_into = Backfill
    first = Timestamp(required=True, data_key="from", metadata={"description": "first slot"})
    last = Timestamp(
        required=True,
        data_key="to",
        metadata={
            "description": f"last slot (inclusive); at most {MAX_BACKFILL_SLOTS:,} slots in all"
        },
    )
