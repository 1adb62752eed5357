"""The flow-control request schemas (issue 23) without a database: what each body loads
into, the field-named messages, and the compiled loader agreeing with marshmallow."""

from __future__ import annotations

from typing import Any

import marshmallow
import pytest

from durable_queue.api import schemas
from durable_queue.api.fast_load import Unsure, loader_of
from durable_queue.api.validation import first_error, load
from durable_queue.commands import (
    KeyOverride,
    NewQueue,
    NewTask,
    QueueCleanup,
    QueueFlow,
    QueuePatch,
    RateLimit,
    TaskPatch,
)
from durable_queue.errors import ValidationError


def loaded(schema: marshmallow.Schema, body: Any) -> str:
    try:
        return repr(load(schema, body))
    except ValidationError as exc:
        return "error: " + exc.message


def marshmallow_only(schema: marshmallow.Schema, body: Any) -> str:
    try:
        return repr(schema.load(body))
    except marshmallow.ValidationError as exc:
        return "error: " + first_error(exc.messages)


def message(schema: marshmallow.Schema, body: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        load(schema, body)
    return caught.value.message


EDGE_CASES = [
    (schemas.CreateTaskSchema, {"task_name": "x", "priority": 0}),
    (schemas.CreateTaskSchema, {"task_name": "x", "priority": -1000}),
    (schemas.CreateTaskSchema, {"task_name": "x", "priority": 1000}),
    (schemas.CreateTaskSchema, {"task_name": "x", "priority": 1001}),
    (schemas.CreateTaskSchema, {"task_name": "x", "priority": True}),
    (schemas.CreateTaskSchema, {"task_name": "x", "priority": 1.0}),
    (schemas.CreateTaskSchema, {"task_name": "x", "priority": None}),
    (schemas.CreateTaskSchema, {"task_name": "x", "concurrency_key": ""}),
    (schemas.CreateTaskSchema, {"task_name": "x", "concurrency_key": "k" * 255}),
    (schemas.CreateTaskSchema, {"task_name": "x", "concurrency_key": "k" * 256}),
    (schemas.CreateTaskSchema, {"task_name": "x", "concurrency_key": None}),
    (schemas.CreateTaskSchema, {"task_name": "x", "concurrency_key": 1}),
    (
        schemas.CreateTasksSchema,
        {"tasks": [{"task_name": "a"}, {"task_name": "b", "priority": 2000}]},
    ),
    (schemas.CreateTasksSchema, {"tasks": [{"task_name": "a", "concurrency_key": ""}]}),
    (schemas.CreateQueueSchema, {"name": "q", "max_concurrency": 0}),
    (schemas.CreateQueueSchema, {"name": "q", "rate_limit": {"limit": 1, "period_seconds": 0}}),
    (schemas.CreateQueueSchema, {"name": "q", "rate_limit": {"limit": 1, "period_seconds": 1}}),
    (schemas.CreateQueueSchema, {"name": "q", "paused": 0}),
    (schemas.PatchQueueSchema, {"key_rate_limit": None, "cleanup": None}),
    (schemas.PatchQueueSchema, {"key_rate_limit": {"limit": True, "period_seconds": 1}}),
    (schemas.KeyOverrideSchema, {"max_concurrency": 1_000_001}),
    (schemas.KeyOverrideSchema, {"rate_limit": {"limit": 3, "period_seconds": 86_400}}),
    (schemas.PatchTaskSchema, {"priority": 3}),
    (schemas.PatchTaskSchema, {}),
    (schemas.ListKeysQuerySchema, {"limit": "1000", "cursor": "a"}),
    (schemas.ListKeysQuerySchema, {"cursor": ""}),
    (schemas.KeyPathSchema, {"queue_name": "q", "key": "k" * 256}),
]


@pytest.mark.parametrize(("schema_class", "body"), EDGE_CASES)
def test_edge_cases_load_as_marshmallow_alone(schema_class: type, body: dict) -> None:
    schema = schema_class()
    assert loaded(schema, body) == marshmallow_only(schema, body)


def test_a_task_with_priority_and_key_is_loaded_by_the_compiled_loader() -> None:
    body = {"task_name": "t", "priority": -5, "concurrency_key": "tenant"}
    try:
        task = loader_of(schemas.CreateTaskSchema())(body)
    except Unsure:
        pytest.fail("the compiled loader deferred a task with priority and key")
    assert task == NewTask(task_name="t", priority=-5, concurrency_key="tenant")
    batch = loader_of(schemas.CreateTasksSchema())({"tasks": [body, {"task_name": "u"}]})
    assert batch.tasks[1] == NewTask(task_name="u")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"tasks": [{"task_name": "a"}, {"task_name": "b", "priority": True}]},
            "tasks[1].priority must be an integer",
        ),
        (
            {"tasks": [{"task_name": "a", "priority": -1001}]},
            "tasks[0].priority must be between -1000 and 1000",
        ),
        (
            {"tasks": [{"task_name": "a", "concurrency_key": "k" * 256}]},
            "tasks[0].concurrency_key must be 1 to 255 characters long",
        ),
    ],
)
def test_batch_messages_name_the_item(body: dict, expected: str) -> None:
    assert message(schemas.CreateTasksSchema(), body) == expected


def test_create_queue_loads_the_settings_into_its_flow() -> None:
    body = {
        "name": "q",
        "max_concurrency": 10,
        "key_concurrency": None,
        "rate_limit": {"limit": 5, "period_seconds": 2},
        "paused": True,
        "cleanup": {"task_ttl_seconds": 0},
    }
    assert load(schemas.CreateQueueSchema(), body) == NewQueue(
        name="q",
        cleanup=QueueCleanup(task_ttl_seconds=0),
        flow=QueueFlow(max_concurrency=10, rate_limit=RateLimit(5, 2.0), paused=True),
    )
    assert load(schemas.CreateQueueSchema(), {"name": "q"}) == NewQueue(name="q")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, QueuePatch(given=frozenset())),
        ({"unknown": 1}, QueuePatch(given=frozenset())),
        (
            {"max_concurrency": 4, "rate_limit": None, "paused": None},
            QueuePatch(
                given=frozenset({"max_concurrency", "rate_limit", "paused"}),
                flow=QueueFlow(max_concurrency=4),
            ),
        ),
        (
            {"key_rate_limit": {"limit": 1, "period_seconds": 0.5}, "paused": True},
            QueuePatch(
                given=frozenset({"key_rate_limit", "paused"}),
                flow=QueueFlow(key_rate_limit=RateLimit(1, 0.5), paused=True),
            ),
        ),
        (
            {"cleanup": {"task_ttl_seconds": 5, "event_ttl_seconds": None}},
            QueuePatch(
                given=frozenset({"task_ttl_seconds", "event_ttl_seconds"}),
                cleanup=QueueCleanup(task_ttl_seconds=5),
            ),
        ),
        ({"cleanup": {}}, QueuePatch(given=frozenset())),
        (
            {"cleanup": None},
            QueuePatch(given=frozenset({"task_ttl_seconds", "event_ttl_seconds"})),
        ),
    ],
)
def test_patch_queue_names_what_is_given(body: dict, expected: QueuePatch) -> None:
    assert load(schemas.PatchQueueSchema(), body) == expected


@pytest.mark.parametrize(
    ("schema_class", "body", "expected"),
    [
        (
            schemas.CreateQueueSchema,
            {"name": "q", "rate_limit": {"limit": 1, "period_seconds": 0}},
            "rate_limit.period_seconds must be more than 0 and at most 86400",
        ),
        (
            schemas.PatchQueueSchema,
            {"key_rate_limit": {"limit": 1, "period_seconds": 86401}},
            "key_rate_limit.period_seconds must be more than 0 and at most 86400",
        ),
        (
            schemas.PatchQueueSchema,
            {"rate_limit": {"period_seconds": 1}},
            "rate_limit.limit is required",
        ),
        (
            schemas.PatchQueueSchema,
            {"rate_limit": {"limit": 1_000_001, "period_seconds": 1}},
            "rate_limit.limit must be between 1 and 1000000",
        ),
        (
            schemas.PatchQueueSchema,
            {"max_concurrency": 0},
            "max_concurrency must be between 1 and 1000000",
        ),
        (schemas.PatchQueueSchema, {"paused": "yes"}, "paused must be a boolean"),
        (
            schemas.PatchQueueSchema,
            {"cleanup": {"event_ttl_seconds": 1.5}},
            "cleanup.event_ttl_seconds must be an integer",
        ),
        (
            schemas.KeyOverrideSchema,
            {"max_concurrency": False},
            "max_concurrency must be an integer",
        ),
        (schemas.PatchTaskSchema, {"priority": None}, "priority may not be null"),
        (
            schemas.KeyPathSchema,
            {"queue_name": "q", "key": ""},
            "key must be 1 to 255 characters long",
        ),
    ],
)
def test_messages_name_the_field(schema_class: type, body: dict, expected: str) -> None:
    assert message(schema_class(), body) == expected


def test_key_override_and_task_patch() -> None:
    assert load(schemas.KeyOverrideSchema(), {}) == KeyOverride()
    body = {"max_concurrency": 2, "rate_limit": {"limit": 3, "period_seconds": 60}}
    assert load(schemas.KeyOverrideSchema(), body) == KeyOverride(2, RateLimit(3, 60.0))
    assert load(schemas.PatchTaskSchema(), {"priority": -1000}) == TaskPatch(-1000)
    assert load(schemas.ListKeysQuerySchema(), {}) == {"limit": 100}
