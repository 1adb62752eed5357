"""Response schemas derived from the attrs records (no database)."""

from __future__ import annotations

import datetime as dt
import uuid

import attrs
import pytest
from marshmallow import fields

from durable_queue import commands, store, wire
from durable_queue.api.response_schemas import response_schema_of
from durable_queue.codec import to_wire
from durable_queue.jsonvalue import JSON_NULL
from durable_queue.wire import RunSummary, TaskDetail, TaskList, TaskSummary, WorkflowRunDetail

NOW = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
# the wire's records, and the commands and the store's answers, which derive as well
ALL_RECORDS = [
    v
    for module in (wire, commands, store)
    for v in vars(module).values()
    if isinstance(v, type) and attrs.has(v) and v.__module__ == module.__name__
]


@pytest.mark.parametrize("record", ALL_RECORDS, ids=lambda r: r.__name__)
def test_every_record_has_a_schema_with_its_fields(record):
    schema = response_schema_of(record)()
    assert list(schema.fields) == [f.name for f in attrs.fields(record)]


def test_optional_fields_may_be_absent_and_the_others_are_required():
    declared = response_schema_of(TaskDetail)().fields
    required = {name for name, field in declared.items() if field.required}
    assert required == {
        "id",
        "task_name",
        "status",
        "queue_name",
        "max_attempts",
        "created_at",
        "start_timeout",
        "execution_timeout",
        "runs",
        "checkpoints",
        "priority",
    }


def test_types_nullability_and_metadata_are_derived():
    declared = response_schema_of(TaskDetail)().fields
    assert isinstance(declared["id"], fields.UUID) and not declared["id"].allow_none
    assert isinstance(declared["created_at"], fields.DateTime)
    assert isinstance(declared["workflow_run_id"], fields.UUID)
    assert not declared["workflow_run_id"].allow_none  # optional: omitted, never null
    version = response_schema_of(wire.WorkflowRun)().fields["workflow_version"]
    assert version.required and version.allow_none  # always present, null when not given
    assert type(declared["params"]) is fields.Raw and declared["params"].allow_none
    assert declared["status"].metadata["enum"] == list(wire.TASK_STATUSES)
    assert declared["error"].metadata["description"] == "why it failed or was canceled"
    runs = declared["runs"]
    assert isinstance(runs, fields.List) and isinstance(runs.inner, fields.Nested)
    assert runs.inner.nested is response_schema_of(RunSummary)
    strategy = declared["retry_strategy"]
    assert strategy.nested is response_schema_of(wire.RetryStrategy)
    headers = declared["headers"]
    assert isinstance(headers, fields.Dict) and isinstance(headers.value_field, fields.String)


def test_one_schema_class_per_record_so_one_component():
    assert response_schema_of(TaskSummary) is response_schema_of(TaskSummary)
    detail = response_schema_of(WorkflowRunDetail)().fields["tasks"]
    listed = response_schema_of(TaskList)().fields["tasks"]
    assert detail.inner.nested is listed.inner.nested is response_schema_of(TaskSummary)
    assert response_schema_of(wire.ErrorBody, "Error").__name__ == "ErrorSchema"


def test_the_wire_form_of_a_record_conforms_to_its_schema():
    task_id = uuid.uuid4()
    detail = TaskDetail(
        id=task_id,
        task_name="t",
        status="completed",
        queue_name="q",
        max_attempts=1,
        created_at=NOW,
        start_timeout=0,
        execution_timeout=0,
        runs=[RunSummary(uuid.uuid4(), task_id, 1, "completed", NOW, completed_at=NOW)],
        checkpoints=["a"],
        priority=0,
        params=JSON_NULL,
        result={"ok": True},
        completed_at=NOW,
    )
    wire = to_wire(detail)
    assert "error" not in wire and wire["params"] is None  # never given vs given null
    schema = response_schema_of(TaskDetail)()
    assert schema.validate(wire) == {}
    del wire["runs"]
    assert "runs" in schema.validate(wire)


def test_a_type_without_a_field_is_refused():
    @attrs.frozen
    class Odd:
        value: complex

    with pytest.raises(TypeError, match="complex"):
        response_schema_of(Odd)
