"""The compiled loader (api/fast_load.py) against marshmallow: over generated bodies of every
request schema, `validation.load` (compiled first, marshmallow when unsure) gives exactly
what marshmallow alone gives, the same command or the same message; and the bodies the
endpoints live on are loaded without marshmallow."""

from __future__ import annotations

import inspect
import uuid
from typing import Any

import marshmallow
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from durable_queue.api import schemas, wire_fields
from durable_queue.api.fast_load import Unsure, loader_of
from durable_queue.api.validation import first_error, load
from durable_queue.commands import NewTask, NewTasks, RunsToComplete
from durable_queue.errors import ValidationError

SCHEMAS = sorted(
    (
        cls
        for _, cls in inspect.getmembers(schemas, inspect.isclass)
        if issubclass(cls, schemas.Input) and cls is not schemas.Input
    ),
    key=lambda cls: cls.__name__,
)
UUID = "6f1c2a4e-3b5d-4e6f-8a9b-0c1d2e3f4a5b"

# Values any field may be given: each type's edge cases, and every other type's.
JUNK = st.sampled_from(
    [
        None,
        True,
        False,
        0,
        1,
        -1,
        3,
        30,
        31,
        1.0,
        1.5,
        -0.5,
        2**31 - 1,
        2**31,
        -(2**31),
        2**63,
        2**70,
        1e308,
        "",
        "x",
        "3",
        "1.5",
        "true",
        "yes",
        "null",
        "a" * 1024,
        "a" * 1025,
        "\x00",
        "nul\x00inside",
        "\ud800",
        "é😀",
        ".",
        "..",
        "q\n",
        "queue-1.a_b",
        "fixed",
        "exponential",
        "pending",
        "completed",
        UUID,
        UUID.upper(),
        UUID.replace("-", ""),
        "{" + UUID + "}",
        "urn:uuid:" + UUID,
        UUID[:-1],
        "2030-01-02T03:04:05Z",
        "2030-01-02T03:04:05.123456+02:00",
        "2030-01-02T03:04:05",
        "2030-01-02",
        "1969-12-31T23:59:59Z",
        "9000-01-01T00:00:01Z",
        [],
        [1, "a"],
        {},
        {"h": "v"},
        {"h": 1},
        {"kind": "fixed", "base_seconds": 1},
    ]
)
JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


def _typed(field: marshmallow.fields.Field, depth: int) -> st.SearchStrategy[Any]:
    """Values near what `field` accepts."""
    if isinstance(field, marshmallow.fields.List):
        return st.lists(_value(field.inner, depth + 1), max_size=4)
    if isinstance(field, marshmallow.fields.Nested):
        return _body(type(field.schema), depth + 1)
    if isinstance(field, marshmallow.fields.Dict):
        return st.dictionaries(st.text(max_size=3), st.text(max_size=3) | JUNK, max_size=3)
    if isinstance(field, marshmallow.fields.Integer):
        return st.integers(min_value=-3, max_value=2**32) | st.integers()
    if isinstance(field, marshmallow.fields.Float):
        return st.floats(allow_nan=False) | st.integers()
    if isinstance(field, marshmallow.fields.UUID):
        return st.uuids().map(str)
    if isinstance(field, marshmallow.fields.DateTime):
        return st.datetimes(timezones=st.timezones()).map(lambda t: t.isoformat())
    if isinstance(field, marshmallow.fields.String):
        return st.text(max_size=8) | st.text(min_size=1020, max_size=1030)
    return JSON


def _value(field: marshmallow.fields.Field, depth: int) -> st.SearchStrategy[Any]:
    if depth > 2:
        return JUNK
    return st.one_of(_typed(field, depth), _typed(field, depth), JUNK)


def _body(schema: type[marshmallow.Schema], depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    """An object with some of the schema's fields (any value) and maybe unknown keys."""
    declared = schema().load_fields
    return st.fixed_dictionaries(
        {},
        optional={
            **{name: _value(field, depth) for name, field in declared.items()},
            "unknown_key": JUNK,
            "status_": JSON,
        },
    )


def marshmallow_only(schema: marshmallow.Schema, data: Any) -> str:
    """What marshmallow alone makes of `data`: the command's repr (types included: 1 is not
    1.0, a UUID is not its text) or the field-path message."""
    try:
        return repr(schema.load(data))
    except marshmallow.ValidationError as exc:
        return "error: " + first_error(exc.messages)


def loaded(schema: marshmallow.Schema, data: Any) -> str:
    try:
        return repr(load(schema, data))
    except ValidationError as exc:
        return "error: " + exc.message


@pytest.mark.parametrize("schema_class", SCHEMAS, ids=lambda cls: cls.__name__)
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_load_equals_marshmallow_alone(schema_class: type, data: st.DataObject) -> None:
    body = data.draw(_body(schema_class))
    schema = schema_class()
    assert loaded(schema, body) == marshmallow_only(schema, body)


EDGE_CASES = [
    (schemas.CreateTaskSchema, {"task_name": "x", "max_attempts": True}),
    (schemas.CreateTaskSchema, {"task_name": "x", "max_attempts": 2.0}),
    (schemas.CreateTaskSchema, {"task_name": "x", "max_attempts": 2**31}),
    (schemas.CreateTaskSchema, {"task_name": "x", "start_timeout": -1}),
    (schemas.CreateTaskSchema, {"task_name": ""}),
    (schemas.CreateTaskSchema, {"task_name": "a" * 1025}),
    (schemas.CreateTaskSchema, {"task_name": "nul\x00"}),
    (schemas.CreateTaskSchema, {"task_name": "\udc00"}),
    (schemas.CreateTaskSchema, {"task_name": None}),
    (schemas.CreateTaskSchema, {"params": 1}),
    (schemas.CreateTaskSchema, {"task_name": "x", "params": None, "headers": None}),
    (schemas.CreateTaskSchema, {"task_name": "x", "retry_strategy": {"kind": "fixed"}}),
    (
        schemas.CreateTaskSchema,
        {"task_name": "x", "retry_strategy": {"kind": "f", "base_seconds": 1}},
    ),
    (
        schemas.CreateTaskSchema,
        {"task_name": "x", "retry_strategy": {"kind": "fixed", "base_seconds": 1}},
    ),
    (
        schemas.CreateTaskSchema,
        {
            "task_name": "x",
            "retry_strategy": {
                "kind": "exponential",
                "base_seconds": 1,
                "factor": 1.5,
                "max_seconds": None,
            },
        },
    ),
    (schemas.CreateTaskSchema, {"task_name": "x", "workflow_run_id": UUID.replace("-", "")}),
    (schemas.CreateTaskSchema, {"task_name": "x", "run_at": "2030-01-02T03:04:05"}),
    (schemas.CreateTaskSchema, {"task_name": "x", "headers": {"a": 1}}),
    (schemas.CreateTasksSchema, {"tasks": []}),
    (schemas.CreateTasksSchema, {"tasks": {}}),
    (schemas.CreateTasksSchema, {"tasks": [{"task_name": "a"}] * 1001}),
    (schemas.CreateTasksSchema, {"tasks": [{"task_name": "a"}] * 1000}),
    (schemas.CreateTasksSchema, {"tasks": [{"task_name": "a"}, {}, {"task_name": 1}]}),
    (schemas.CreateTasksSchema, {"tasks": [{"task_name": "a"}, None]}),
    (schemas.CreateTasksSchema, {"tasks": [{"task_name": "a"}, "b"]}),
    (schemas.CreateTasksSchema, {"tasks": None}),
    (schemas.CompleteRunsSchema, {"runs": [{"run_id": UUID, "result": None}, {"run_id": "x"}]}),
    (schemas.CompleteRunsSchema, {"runs": [{"run_id": UUID, "claim_token": ""}]}),
    (schemas.ClaimSchema, {"limit": 100, "claim_timeout": 30, "long_poll_seconds": 31}),
    (schemas.ClaimSchema, {"limit": 0, "claim_timeout": 30}),
    (schemas.ClaimSchema, {"limit": "1", "claim_timeout": 30}),
    (schemas.ListTasksQuerySchema, {"limit": "3", "status": "pending"}),
    (schemas.ListTasksQuerySchema, {"limit": "1001"}),
    (schemas.DeleteQueueQuerySchema, {"force": "true"}),
    (schemas.QueuePathSchema, {"queue_name": ".."}),
    (schemas.QueuePathSchema, {"queue_name": "q\n"}),
    (schemas.CreateQueueSchema, {"name": "q", "cleanup": {"task_ttl_seconds": 5}}),
    (schemas.CreateQueueSchema, {"name": "q", "cleanup": []}),
]


@pytest.mark.parametrize(("schema_class", "body"), EDGE_CASES)
def test_edge_cases_load_as_marshmallow_alone(schema_class: type, body: dict) -> None:
    schema = schema_class()
    assert loaded(schema, body) == marshmallow_only(schema, body)


def compiled(schema: marshmallow.Schema, body: dict) -> Any:
    """The compiled loader's result; fails the test where it defers to marshmallow."""
    try:
        return loader_of(schema)(body)
    except Unsure:
        pytest.fail(f"the compiled loader deferred {body!r} to marshmallow")


def test_the_hot_bodies_are_loaded_by_the_compiled_loader() -> None:
    task = {
        "task_name": "send",
        "params": {"to": "a@b"},
        "headers": {"h": "v"},
        "max_attempts": 3,
        "idempotency_key": "k",
        "retry_strategy": {"kind": "exponential", "base_seconds": 1, "factor": 2},
    }
    batch = compiled(schemas.CreateTasksSchema(), {"tasks": [task, {"task_name": "b"}]})
    assert isinstance(batch, NewTasks)
    assert batch.tasks[1] == NewTask(task_name="b")
    assert batch.tasks[0].retry_strategy == {
        "kind": "exponential",
        "base_seconds": 1.0,
        "factor": 2.0,
    }
    runs = compiled(schemas.CompleteRunsSchema(), {"runs": [{"run_id": UUID, "result": 1}]})
    assert isinstance(runs, RunsToComplete)
    assert runs.runs[0].run_id == uuid.UUID(UUID)
    compiled(schemas.ClaimSchema(), {"limit": 100, "claim_timeout": 30})
    compiled(schemas.QueuePathSchema(), {"queue_name": "emails"})
    compiled(schemas.CreateTaskSchema(), {"task_name": "x", "run_at": "2030-01-02T03:04:05Z"})


def test_every_request_field_type_has_its_compiled_loader() -> None:
    for schema_class in SCHEMAS:
        for name, field in schema_class().load_fields.items():
            assert hasattr(field, "fast_loader"), f"{schema_class.__name__}.{name}"
    assert wire_fields.Batch(schemas.CreateTaskSchema).fast_loader() is not None


def test_a_schema_with_its_own_hooks_is_always_loaded_by_marshmallow() -> None:
    class Checked(schemas.Input):
        name = wire_fields.String()

        @marshmallow.validates_schema
        def _never(self, data: dict, **_: Any) -> None:
            raise marshmallow.ValidationError("never")

    with pytest.raises(Unsure):
        loader_of(Checked())({"name": "x"})
    with pytest.raises(ValidationError, match="never"):
        load(Checked(), {"name": "x"})
