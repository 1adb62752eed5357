"""The stored-value limits without a database: the depth and finiteness walk
(durable_queue/json_limits.py), the request loading that applies it (compiled and
marshmallow alike), and the readers of stored values at any depth (the record copy in
codec.py, the response writer, the dashboard's JSON, deep_json.py)."""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from durable_queue.api import json_codec, schemas
from durable_queue.api.fast_load import Unsure, loader_of
from durable_queue.api.validation import first_error, load
from durable_queue.codec import to_wire
from durable_queue.deep_json import dumps_iteratively
from durable_queue.errors import ValidationError
from durable_queue.json_limits import MAX_JSON_DEPTH, NOT_FINITE, TOO_DEEP, json_value_problem
from durable_queue.jsonvalue import JSON_NULL, Undecodable, _loads, dumps
from durable_queue.monitoring.views import pretty_json
from durable_queue.wire import Checkpoint, ClaimedTasks

FAR = 100_000  # far deeper than any recursion limit


def chain(depth: int, inner: Any = 1, *, kind: str = "list") -> Any:
    """A value of `depth` nested lists (or objects), `inner` innermost."""
    value = inner
    for _ in range(depth):
        value = [value] if kind == "list" else {"k": value}
    return value


def depth_of(value: Any) -> int:
    """The reference depth: recursive, for the small values hypothesis draws."""
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    return 0


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (1, None),
        ("x", None),
        (None, None),
        (1.5, None),
        ([], None),
        ({}, None),
        (chain(MAX_JSON_DEPTH - 1, []), None),  # the empty list innermost is a level too
        (chain(MAX_JSON_DEPTH - 1, {}, kind="dict"), None),
        (chain(MAX_JSON_DEPTH, []), TOO_DEEP),
        (chain(MAX_JSON_DEPTH, "x", kind="dict"), None),
        (chain(MAX_JSON_DEPTH + 1, "x", kind="dict"), TOO_DEEP),
        (chain(FAR), TOO_DEEP),
        ([1, [2, [3, {"a": chain(MAX_JSON_DEPTH - 4)}]]], None),
        ([1, [2, [3, {"a": chain(MAX_JSON_DEPTH - 3)}]]], TOO_DEEP),
        (math.inf, NOT_FINITE),
        (-math.inf, NOT_FINITE),
        (math.nan, NOT_FINITE),
        ({"a": [1, 2, {"b": -math.inf}]}, NOT_FINITE),
        (chain(MAX_JSON_DEPTH, math.inf), NOT_FINITE),
        (10**400, None),  # an integer has no overflow: stored exactly
    ],
)
def test_json_value_problem(value: Any, problem: str | None) -> None:
    assert json_value_problem(value) == problem


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(value=JSON, extra=st.integers(-3, 3))
def test_the_walk_agrees_with_the_recursive_definition(value: Any, extra: int) -> None:
    wrapped = chain(max(0, MAX_JSON_DEPTH - depth_of(value) + extra), value)
    problems = set()
    if not all(math.isfinite(x) for x in _floats(wrapped)):
        problems.add(NOT_FINITE)
    if depth_of(wrapped) > MAX_JSON_DEPTH:
        problems.add(TOO_DEEP)
    problem = json_value_problem(wrapped)
    assert problem in problems if problems else problem is None


def _floats(value: Any) -> list[float]:
    if isinstance(value, float):
        return [value]
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return [x for item in items for x in _floats(item)]


# -- loading: compiled and marshmallow give the same answer -----------------------------------


def loaded(schema: Any, body: dict) -> str:
    try:
        return repr(load(schema, body))
    except ValidationError as exc:
        return "error: " + exc.message


def marshmallow_only(schema: Any, body: dict) -> str:
    import marshmallow

    try:
        return repr(schema.load(body))
    except marshmallow.ValidationError as exc:
        return "error: " + first_error(exc.messages)


CASES = [
    (schemas.CreateTaskSchema, {"task_name": "t", "params": chain(MAX_JSON_DEPTH)}, None),
    (
        schemas.CreateTaskSchema,
        {"task_name": "t", "params": chain(MAX_JSON_DEPTH + 1)},
        f"params {TOO_DEEP}",
    ),
    (schemas.CreateTaskSchema, {"task_name": "t", "params": chain(FAR)}, f"params {TOO_DEEP}"),
    (schemas.CreateTaskSchema, {"task_name": "t", "params": math.inf}, f"params {NOT_FINITE}"),
    (
        schemas.CreateTasksSchema,
        {"tasks": [{"task_name": "a"}] * 3 + [{"task_name": "b", "params": chain(FAR)}]},
        f"tasks[3].params {TOO_DEEP}",
    ),
    (
        schemas.CompleteRunsSchema,
        {"runs": [{"run_id": "6f1c2a4e-3b5d-4e6f-8a9b-0c1d2e3f4a5b", "result": [math.inf]}]},
        f"runs[0].result {NOT_FINITE}",
    ),
    (schemas.CompleteRunSchema, {"result": chain(MAX_JSON_DEPTH + 1)}, f"result {TOO_DEEP}"),
    (
        schemas.PutCheckpointSchema,
        {"owner_run": "6f1c2a4e-3b5d-4e6f-8a9b-0c1d2e3f4a5b", "state": chain(FAR)},
        f"state {TOO_DEEP}",
    ),
    (schemas.EmitEventSchema, {"event_name": "e", "payload": -math.inf}, f"payload {NOT_FINITE}"),
    (
        schemas.CreateWorkflowRunSchema,
        {"workflow_name": "w", "inputs": chain(MAX_JSON_DEPTH + 1, kind="dict")},
        f"inputs {TOO_DEEP}",
    ),
    (schemas.PatchWorkflowRunSchema, {"result": chain(FAR)}, f"result {TOO_DEEP}"),
    (
        schemas.CreateTaskSchema,
        {"task_name": "t", "retry_strategy": {"kind": "fixed", "base_seconds": math.inf}},
        "retry_strategy.base_seconds must be a finite number",
    ),
]


@pytest.mark.parametrize(("schema_class", "body", "message"), CASES)
def test_compiled_and_marshmallow_loading_agree(
    schema_class: type, body: dict, message: str | None
) -> None:
    schema = schema_class()
    got = loaded(schema, body)
    assert got == marshmallow_only(schema, body)
    if message is None:
        assert not got.startswith("error:")
        loader_of(schema)(body)  # the compiled loader vouches for a value at the limit
    else:
        assert got == "error: " + message
        with pytest.raises(Unsure):
            loader_of(schema)(body)


# orjson reads 1,024 levels since 3.9 (earlier releases, any depth): every body up to that
# depth is parsed, and a too-deep value in it is named by its field
PARSED_DEPTH = 1_000


def test_a_body_as_deep_as_orjson_reads_is_read() -> None:
    raw = b'{"task_name": "t", "params": ' + b"[" * PARSED_DEPTH + b"]" * PARSED_DEPTH + b"}"
    data = json_codec.loads(raw)
    assert json_value_problem(data["params"]) == TOO_DEEP


def test_a_body_of_any_depth_is_read_or_refused_as_too_deep() -> None:
    """Beyond what orjson reads, `json` recurses: RecursionError, which read_json answers
    with a 400 (tests/api/test_json_limits.py); never a crash."""
    raw = b'{"task_name": "t", "params": ' + b"[" * FAR + b"]" * FAR + b"}"
    try:
        data = json_codec.loads(raw)
    except RecursionError:
        return
    assert json_value_problem(data["params"]) == TOO_DEEP


def test_1e999_is_read_as_infinity_and_refused() -> None:
    data = json_codec.loads(b'{"task_name": "t", "params": {"x": 1e999}}')
    assert data["params"]["x"] == math.inf
    assert loaded(schemas.CreateTaskSchema(), data) == f"error: params {NOT_FINITE}"


# -- reading back: any depth, no recursion ------------------------------------------------------


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH, 300, 2_000, FAR])
def test_a_stored_value_of_any_depth_renders_and_serialises(depth: int) -> None:
    value = chain(depth // 2, chain(depth - depth // 2, None), kind="dict")
    text = json_codec.dumps(to_wire(ClaimedTasks([])))  # the envelope alone
    assert text == b'{"tasks":[]}'
    record = Checkpoint(task_id=None, step_name="s", state=value, updated_at=None)  # type: ignore[arg-type]
    body = json_codec.dumps(to_wire(record))
    expected_state = ('{"k":' * (depth // 2)) + "[" * (depth - depth // 2) + "null"
    assert expected_state in body.decode()
    assert dumps(value).startswith(expected_state)
    shown = pretty_json(value)
    assert shown.count('"k"') == depth // 2


def test_the_record_copy_keeps_order_and_types() -> None:
    value = {"b": [1, 2.5, {"c": None, "a": [True, "x"]}], "a": {}, "z": []}
    record = Checkpoint(task_id=None, step_name="s", state=value, updated_at=None)  # type: ignore[arg-type]
    state = to_wire(record)["state"]
    assert state == value and list(state) == ["b", "a", "z"]
    assert state is not value and state["b"] is not value["b"]


@settings(max_examples=300, deadline=None)
@given(
    value=st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.tuples(inner, inner)
            | st.dictionaries(
                st.text(max_size=2) | st.integers() | st.booleans() | st.none(), inner
            )
        ),
        max_leaves=20,
    ),
    indent=st.none() | st.just(2),
    ensure_ascii=st.booleans(),
)
def test_the_iterative_writer_writes_what_json_writes(
    value: Any, indent: int | None, ensure_ascii: bool
) -> None:
    separators = None if indent else (",", ":")
    expected = json.dumps(value, indent=indent, ensure_ascii=ensure_ascii, separators=separators)
    assert dumps_iteratively(value, indent=indent, ensure_ascii=ensure_ascii) == expected


def test_the_iterative_writer_uses_default_and_refuses_the_rest() -> None:
    assert dumps_iteratively([JSON_NULL, {"a": JSON_NULL}], default=lambda v: None) == (
        '[null,{"a":null}]'
    )
    with pytest.raises(TypeError):
        dumps_iteratively([object()])
    with pytest.raises(TypeError):
        dumps_iteratively({(1, 2): 1})


def test_orjson_is_used_at_the_limit_inside_any_envelope() -> None:
    # the fast writer takes every accepted value, whatever the response wraps it in
    orjson.dumps({"a": [{"b": [{"c": chain(MAX_JSON_DEPTH)}]}]})


def test_a_stored_text_no_parser_reads_decodes_to_a_marker_that_does_not_render() -> None:
    assert _loads("[1]") == [1] and _loads("null") is JSON_NULL
    deepest = "[" * PARSED_DEPTH + "]" * PARSED_DEPTH  # deeper than the old server stored
    assert type(_loads(deepest)) is list
    marker = _loads("9" * 5000)  # beyond the digits Python converts, and a double's range
    assert type(marker) is Undecodable
    record = Checkpoint(task_id=None, step_name="s", state=marker, updated_at=None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        json_codec.dumps(to_wire(record))
    assert "undecodable stored JSON" in pretty_json(marker)
