"""Typed records: the single declaration of every response shape, and the commands
requests load into.

Rows (dicts from aiosql) become records through the shared cattrs converter;
records become wire dicts through the same converter, and the OpenAPI response
schemas are derived from them (`durable_queue.api.response_schemas`). A field
declared with `optional()` is left out of the wire form when it is None,
matching the original server's `omitempty`; every other field is always present
(None as null). JSON values keep the JSON_NULL marker (an explicit null) apart
from None (never given). Field metadata `description` and `enum` reach the
OpenAPI document.
"""

from __future__ import annotations

import datetime as dt
import types
import typing
import uuid
from collections.abc import Callable
from typing import Any, NamedTuple

import attrs
import cattrs
import cattrs.gen

from durable_queue.jsonvalue import JSON_NULL

OMIT_NONE = "omit_none"

TASK_STATUSES = ("pending", "completed", "failed", "canceled")
RUN_STATUSES = ("pending", "claimed", "completed", "failed", "sleeping", "canceled")
WORKFLOW_STATUSES = ("pending", "running", "completed", "failed", "canceled")


DOCUMENTED_AS = "documented_as"


def optional(description: str | None = None, *, documented_as: type | None = None) -> Any:
    """An attrs field (default None) that is omitted from the wire form while it is None.
    `documented_as`: the record that describes a JSON object kept as a plain dict."""
    metadata = _metadata(description, None, omit_none=True)
    if documented_as is not None:
        metadata[DOCUMENTED_AS] = documented_as
    return attrs.field(default=None, metadata=metadata)


def described(description: str | None = None, *, enum: tuple[str, ...] | None = None) -> Any:
    """A required attrs field with a description (and allowed values) for the OpenAPI document."""
    return attrs.field(metadata=_metadata(description, enum))


def _metadata(
    description: str | None, enum: tuple[str, ...] | None, *, omit_none: bool = False
) -> dict[str, Any]:
    metadata: dict[str, Any] = {OMIT_NONE: True} if omit_none else {}
    if description:
        metadata["description"] = description
    if enum:
        metadata["enum"] = list(enum)
    return metadata


def rfc3339(value: dt.datetime) -> str:
    """RFC 3339 in UTC with a Z, as the original server rendered times."""
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


converter = cattrs.Converter()
converter.register_structure_hook(
    uuid.UUID, lambda v, _: v if isinstance(v, uuid.UUID) else uuid.UUID(str(v))
)
converter.register_unstructure_hook(uuid.UUID, str)
converter.register_structure_hook(dt.datetime, lambda v, _: v)
converter.register_unstructure_hook(dt.datetime, rfc3339)
converter.register_structure_hook(Any, lambda v, _: v)


# Rendering a record walks a plan built once per class from its declared field types; a
# value whose runtime type is not the declared one is unstructured by the converter, so
# the wire form is what dispatching every value on its runtime type gives.
_PRIMITIVES = frozenset((str, int, float, bool, type(None)))
_Render = Callable[[Any], Any]


def _unstructure_attrs_factory(cls: type) -> _Render:
    """The generated function rendering a `cls` record: one statement per field, in
    declaration order (as the wire lists them)."""
    hints = typing.get_type_hints(cls)
    scope: dict[str, Any] = {"JSON_NULL": JSON_NULL, "PRIMITIVES": _PRIMITIVES, "UUID": uuid.UUID}
    lines = ["def unstructure(obj):", "    out = {}"]
    for index, field in enumerate(attrs.fields(cls)):
        render = _renderer(hints[field.name])
        name = repr(field.name)
        scope[f"render_{index}"] = render
        if render is _primitive:  # the common cases, inlined
            value = f"value if type(value) in PRIMITIVES else render_{index}(value)"
        elif render is _uuid:
            value = f"str(value) if type(value) is UUID else render_{index}(value)"
        else:
            value = f"render_{index}(value)"
        lines += [
            f"    value = obj.{field.name}",
            "    if value is None:",
            "        pass" if field.metadata.get(OMIT_NONE) else f"        out[{name}] = None",
            "    elif value is JSON_NULL:",
            f"        out[{name}] = None",
            "    else:",
            f"        out[{name}] = {value}",
        ]
    lines.append("    return out")
    exec("\n".join(lines), scope)  # the source is built above from field names only
    unstructure: _Render = scope["unstructure"]
    return unstructure


def _renderer(hint: Any) -> _Render:
    """The wire form of a value declared `hint` (None handled by the caller)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        given = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        hint = given[0] if len(given) == 1 else Any
    if hint is Any:
        return _json_value
    if hint in _PRIMITIVES:
        return _primitive
    if hint is uuid.UUID:
        return _uuid
    if hint is dt.datetime:
        return _datetime
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if attrs.has(hint):
        return _record_renderer(hint)
    if origin is list and arguments:
        return _list_renderer(_renderer(arguments[0]))
    if origin is dict and len(arguments) == 2:
        return _dict_renderer(_renderer(arguments[1]))
    return converter.unstructure


def _primitive(value: Any) -> Any:
    return value if type(value) in _PRIMITIVES else converter.unstructure(value)


def _uuid(value: Any) -> Any:
    return str(value) if type(value) is uuid.UUID else converter.unstructure(value)


def _datetime(value: Any) -> Any:
    return rfc3339(value) if type(value) is dt.datetime else converter.unstructure(value)


def _json_value(value: Any) -> Any:
    """A JSON value (from the database or a request): copied as the converter copies it."""
    kind = type(value)
    if kind in _PRIMITIVES:
        return value
    if kind is dict:
        return {
            key if type(key) is str else converter.unstructure(key): _json_value(item)
            for key, item in value.items()
        }
    if kind is list:
        return [_json_value(item) for item in value]
    return converter.unstructure(value)


def _record_renderer(cls: type) -> _Render:
    hook: list[_Render] = []  # looked up at the first value: a record may nest its own class

    def render(value: Any) -> Any:
        if type(value) is not cls:
            return converter.unstructure(value)
        if not hook:
            hook.append(converter.get_unstructure_hook(cls))
        return hook[0](value)

    return render


def _list_renderer(render_item: _Render) -> _Render:
    def render(value: Any) -> Any:
        if type(value) is not list:
            return converter.unstructure(value)
        return [render_item(item) for item in value]

    return render


def _dict_renderer(render_value: _Render) -> _Render:
    def render(value: Any) -> Any:
        if type(value) is not dict:
            return converter.unstructure(value)
        return {
            key if type(key) is str else converter.unstructure(key): render_value(item)
            for key, item in value.items()
        }

    return render


converter.register_unstructure_hook_factory(attrs.has, _unstructure_attrs_factory)


def _structure_attrs_factory(cls: type) -> Any:
    from_dict = cattrs.gen.make_dict_structure_fn(cls, converter)

    def structure(value: Any, _: type) -> Any:
        return value if isinstance(value, cls) else from_dict(value, cls)

    return structure


converter.register_structure_hook_factory(attrs.has, _structure_attrs_factory)


def to_wire(record: Any) -> Any:
    """The JSON-ready form of a record (or a list of records)."""
    return converter.unstructure(record)


def from_row(row: dict[str, Any], cls: type) -> Any:
    """Structure one database row into a record, ignoring columns it does not declare
    (the generated structure function reads only the fields the record declares)."""
    return converter.get_structure_hook(cls)(row, cls)


# -- responses -------------------------------------------------------------------


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
class Queue:
    id: uuid.UUID
    name: str
    task_ttl_seconds: int
    event_ttl_seconds: int
    created_at: dt.datetime


@attrs.frozen
class QueueSummary:
    name: str
    created_at: dt.datetime
    cleanup: CleanupPolicy

    @classmethod
    def of(cls, queue: Queue) -> QueueSummary:
        return cls(
            name=queue.name,
            created_at=queue.created_at,
            cleanup=CleanupPolicy(queue.task_ttl_seconds, queue.event_ttl_seconds),
        )


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

    A batch create's answer: 1,000 items as records took the server about 7 ms (2,000
    uuids read, records built, rendered, encoded); the query writes the same text in
    about 1 ms of the database's time. `record` names the record it is the wire form of
    (tests/test_store_batch.py checks that the two agree).
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
    params: Any = optional()
    headers: dict[str, str] | None = optional()
    retry_strategy: dict[str, Any] | None = optional(documented_as=RetryStrategy)
    workflow_run_id: uuid.UUID | None = optional()


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
class Page:
    """One page of a listing; `next_cursor` only when more rows exist."""

    items: list[Any]
    next_cursor: uuid.UUID | None


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
class WaitOutcome:
    """What the store answers a wait-for-event: resolved, sleeping or timeout."""

    status: str
    payload: Any = None


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
    params: Any = optional()
    headers: dict[str, str] | None = optional()
    retry_strategy: dict[str, Any] | None = optional(documented_as=RetryStrategy)
    workflow_run_id: uuid.UUID | None = optional()
    idempotency_key: str | None = optional()
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


@attrs.frozen
class Health:
    status: str = described("ok")


@attrs.frozen
class Readiness:
    status: str = described("ok or unavailable")
    database: str = described("ok or unreachable")
    listener: str = described("ok or down (LISTEN connection)")
    maintenance: str = described("active on the one instance that sweeps, else standby")


# -- commands: what a request asks for, loaded by its schema (api/schemas.py) -------
# Each default is declared here once; a field absent from the request (or given as
# null, where null means "absent") takes it.


@attrs.frozen
class QueueCleanup:
    """Cleanup settings of a new queue; None takes the store's default."""

    task_ttl_seconds: int | None = None
    event_ttl_seconds: int | None = None


@attrs.frozen
class NewQueue:
    name: str
    cleanup: QueueCleanup = attrs.field(factory=QueueCleanup)


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
