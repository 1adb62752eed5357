"""Typed records the store returns and the API renders.

Rows (dicts from aiosql) become records through the shared cattrs converter;
records become wire dicts through the same converter. A field declared with
`optional()` is left out of the wire form when it is None, matching the
original server's `omitempty`; every other field is always present (None as
null). JSON values keep the JSON_NULL marker (an explicit null) apart from
None (never given).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import attrs
import cattrs
import cattrs.gen

from durable_queue.jsonvalue import JSON_NULL

_OMIT_NONE = "omit_none"


def optional(default: Any = None) -> Any:
    """An attrs field that is omitted from the wire form while it is None."""
    return attrs.field(default=default, metadata={_OMIT_NONE: True})


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


def _unstructure_attrs_factory(cls: type) -> Any:
    fields = attrs.fields(cls)

    def unstructure(obj: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for field in fields:
            value = getattr(obj, field.name)
            if value is None and field.metadata.get(_OMIT_NONE):
                continue
            if value is JSON_NULL:
                out[field.name] = None
            else:
                out[field.name] = converter.unstructure(value)
        return out

    return unstructure


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
    """Structure one database row into a record, ignoring columns it does not declare."""
    names = {f.name for f in attrs.fields(cls)}
    return converter.structure({k: v for k, v in row.items() if k in names}, cls)


@attrs.frozen
class CleanupPolicy:
    task_ttl_seconds: int
    event_ttl_seconds: int


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
class QueueStats:
    queue_name: str
    pending_runs: int
    claimed_runs: int
    completed_runs: int
    oldest_pending_run_age_seconds: float | None
    failed_runs: int
    sleeping_runs: int
    scheduled_runs: int
    canceled_runs: int
    tasks_by_status: dict[str, int]


@attrs.frozen
class CreatedTask:
    task_id: uuid.UUID
    run_id: uuid.UUID
    workflow_run_id: uuid.UUID | None = optional()


@attrs.frozen
class ClaimedTask:
    run_id: uuid.UUID
    task_id: uuid.UUID
    attempt: int
    task_name: str
    max_attempts: int
    claim_expires_at: dt.datetime
    params: Any = optional()
    headers: Any = optional()
    retry_strategy: Any = optional()
    workflow_run_id: uuid.UUID | None = optional()


@attrs.frozen
class TaskSummary:
    id: uuid.UUID
    task_name: str
    status: str
    queue_name: str
    max_attempts: int
    created_at: dt.datetime
    completed_at: dt.datetime | None = optional()


@attrs.frozen
class RunSummary:
    id: uuid.UUID
    task_id: uuid.UUID
    attempt: int
    status: str
    created_at: dt.datetime
    error: str | None = optional()
    completed_at: dt.datetime | None = optional()


@attrs.frozen
class Page:
    """One page of a listing; `next_cursor` only when more rows exist."""

    items: list[Any]
    next_cursor: uuid.UUID | None


@attrs.frozen
class RunCompleted:
    run_id: uuid.UUID
    status: str = "completed"


@attrs.frozen
class RunFailed:
    run_id: uuid.UUID
    attempt: int
    status: str = "failed"
    next_run_id: uuid.UUID | None = optional()
    next_attempt_at: dt.datetime | None = optional()


@attrs.frozen
class RunScheduled:
    run_id: uuid.UUID
    scheduled_at: dt.datetime


@attrs.frozen
class WaitOutcome:
    """The answer of wait-for-event: resolved (200), sleeping (202) or timeout (408)."""

    status: str
    payload: Any = None


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
    status: str
    created_at: dt.datetime


@attrs.frozen
class WorkflowRunUpdated:
    workflow_run_id: uuid.UUID
    status: str
    updated_at: dt.datetime


@attrs.frozen
class NewTask:
    """What a create-task request asks for (already validated)."""

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
class WorkflowRunPatch:
    """A PATCH of a workflow run: only the fields given are changed."""

    status: str | None = None
    result: Any = None  # None: unchanged; JSON_NULL: set to null
    started_at: dt.datetime | None = None
    completed_at: dt.datetime | None = None


@attrs.frozen
class TaskDetail:
    id: uuid.UUID
    task_name: str
    status: str
    queue_name: str
    max_attempts: int
    created_at: dt.datetime
    params: Any
    headers: Any
    retry_strategy: Any
    start_timeout: int
    execution_timeout: int
    workflow_run_id: uuid.UUID | None
    idempotency_key: str | None
    error: str | None
    result: Any
    runs: list[RunSummary]
    checkpoints: list[str]
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
class WorkflowRun:
    id: uuid.UUID
    workflow_run_id: uuid.UUID  # the same id, under the key the create/patch answers use
    workflow_name: str
    workflow_version: str | None
    inputs: Any
    created_by: str | None
    tags: Any
    status: str
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
