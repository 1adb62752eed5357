"""Request schemas (no database, no HTTP): loading into commands, defaults, field-path messages,
the string scan, and which parts a handler declares."""

from __future__ import annotations

import datetime as dt
import uuid

import marshmallow
import pytest

from durable_queue.api import checkpoints, queues, runs, tasks
from durable_queue.api.schemas import (
    CheckpointPathSchema,
    ClaimSchema,
    CompleteRunSchema,
    CreateQueueSchema,
    CreateTaskSchema,
    Input,
    ListTasksQuerySchema,
    PatchWorkflowRunSchema,
    QueuePathSchema,
)
from durable_queue.api.validation import check_strings, declared_inputs, first_error, load
from durable_queue.api.wire_fields import ListOf, Nested
from durable_queue.commands import (
    ClaimRequest,
    NewQueue,
    NewTask,
    QueueCleanup,
    RunResult,
    WorkflowRunPatch,
)
from durable_queue.errors import ValidationError
from durable_queue.jsonvalue import JSON_NULL


class BatchSchema(Input):
    """A list of items, as the batch endpoints declare them."""

    tasks = ListOf(Nested(CreateTaskSchema), required=True)


def message(schema: marshmallow.Schema, data: object) -> str:
    with pytest.raises(ValidationError) as raised:
        load(schema, data)
    return raised.value.message


def test_create_task_loads_into_new_task_with_its_defaults():
    assert load(CreateTaskSchema(), {"task_name": "send"}) == NewTask(task_name="send")
    assert NewTask(task_name="send").max_attempts == 1


def test_a_null_where_null_means_absent_takes_the_default():
    body = {"task_name": "x", "max_attempts": None, "headers": None, "retry_strategy": None}
    assert load(CreateTaskSchema(), body) == NewTask(task_name="x")


def test_a_given_null_json_value_is_kept_apart_from_absent():
    assert load(CreateTaskSchema(), {"task_name": "x", "params": None}).params is JSON_NULL
    assert load(CreateTaskSchema(), {"task_name": "x"}).params is None
    assert load(CompleteRunSchema(), {}) == RunResult()
    assert load(CompleteRunSchema(), {"result": None}).result is JSON_NULL


def test_create_task_loads_every_field():
    run_at = "2030-01-02T03:04:05+02:00"
    wf = str(uuid.uuid4())
    loaded = load(
        CreateTaskSchema(),
        {
            "task_name": "x",
            "params": [1],
            "headers": {"h": "v"},
            "retry_strategy": {"kind": "fixed", "base_seconds": 1.5},
            "max_attempts": 3,
            "start_timeout": 4,
            "execution_timeout": 5,
            "workflow_run_id": wf,
            "run_at": run_at,
            "idempotency_key": "k",
            "unknown": "ignored",
        },
    )
    assert loaded == NewTask(
        task_name="x",
        params=[1],
        headers={"h": "v"},
        retry_strategy={"kind": "fixed", "base_seconds": 1.5},
        max_attempts=3,
        start_timeout=4,
        execution_timeout=5,
        workflow_run_id=uuid.UUID(wf),
        run_at=dt.datetime.fromisoformat(run_at),
        idempotency_key="k",
    )


def test_create_queue_loads_its_nested_cleanup():
    assert load(CreateQueueSchema(), {"name": "q"}) == NewQueue("q", QueueCleanup())
    assert load(CreateQueueSchema(), {"name": "q", "cleanup": {"task_ttl_seconds": 0}}) == (
        NewQueue("q", QueueCleanup(task_ttl_seconds=0))
    )


def test_claim_and_patch_load_into_their_commands():
    assert load(ClaimSchema(), {"limit": 2, "claim_timeout": 9}) == ClaimRequest(2, 9)
    assert load(PatchWorkflowRunSchema(), {}) == WorkflowRunPatch()


def test_queries_and_paths_load_into_dicts():
    assert load(ListTasksQuerySchema(), {"limit": "7", "status": "failed"}) == {
        "limit": 7,
        "status": "failed",
    }
    assert load(ListTasksQuerySchema(), {}) == {"limit": 50}
    task_id = uuid.uuid4()
    assert load(CheckpointPathSchema(), {"task_id": str(task_id), "step_name": "s"}) == {
        "task_id": task_id,
        "step_name": "s",
    }


@pytest.mark.parametrize(
    ("schema", "data", "expected"),
    [
        (CreateTaskSchema(), {}, "task_name is required"),
        (CreateTaskSchema(), {"task_name": ""}, "task_name must be 1 to 1024 characters long"),
        (
            CreateTaskSchema(),
            {"task_name": "x", "max_attempts": True},
            "max_attempts must be an integer",
        ),
        (
            CreateTaskSchema(),
            {"task_name": "x", "max_attempts": 0},
            "max_attempts must be between 1 and 2147483647",
        ),
        (
            CreateTaskSchema(),
            {"task_name": "x", "retry_strategy": 3},
            "retry_strategy must be an object",
        ),
        (
            CreateTaskSchema(),
            {"task_name": "x", "retry_strategy": {"kind": "fixed", "base_seconds": "1"}},
            "retry_strategy.base_seconds must be a number",
        ),
        (
            CreateTaskSchema(),
            {"task_name": "x", "retry_strategy": {"kind": "fixed", "base_seconds": -1}},
            "retry_strategy.base_seconds must be at least 0",
        ),
        (
            CreateTaskSchema(),
            {"task_name": "x", "run_at": "tomorrow"},
            "run_at must be an RFC 3339 timestamp with a zone",
        ),
        (
            CreateTaskSchema(),
            {"task_name": "x", "run_at": "2030-01-01T00:00:00"},
            "run_at must be an RFC 3339 timestamp with a zone",
        ),
        (
            ClaimSchema(),
            {"limit": 1, "claim_timeout": 1, "long_poll_seconds": 31},
            "long_poll_seconds must be between 0 and 30",
        ),
        (
            ListTasksQuerySchema(),
            {"status": "done"},
            "status must be one of: pending, completed, failed, canceled",
        ),
        (ListTasksQuerySchema(), {"limit": "2.5"}, "limit must be an integer"),
        (QueuePathSchema(), {"queue_name": "."}, "queue_name must be 1-128 characters"),
        (QueuePathSchema(), {"queue_name": ".."}, "queue_name must be 1-128 characters"),
        (QueuePathSchema(), {"queue_name": "q\n"}, "queue_name must be 1-128 characters"),
        (CreateQueueSchema(), {"name": "a/b"}, "name must be 1-128 characters"),
        (BatchSchema(), {"tasks": [{"task_name": "a"}, {}]}, "tasks[1].task_name is required"),
        (BatchSchema(), {"tasks": [{"task_name": "a", "headers": {"h": 1}}]}, "tasks[0].headers.h"),
        (CreateTaskSchema(), [1], "request body must be a JSON object"),
    ],
)
def test_messages_name_the_field(schema, data, expected):
    assert message(schema, data).startswith(expected)


@pytest.mark.parametrize("name", ["q", ".x", "...", "a.b-c_D9", "x" * 128])
def test_queue_names_that_are_accepted(name):
    assert load(QueuePathSchema(), {"queue_name": name}) == {"queue_name": name}


def test_first_error_formats_nested_paths():
    assert first_error({"tasks": {3: {"task_name": ["is required"]}}}) == (
        "tasks[3].task_name is required"
    )
    assert first_error({"cleanup": {"_schema": ["must be an object"]}}) == (
        "cleanup must be an object"
    )
    assert first_error({"_schema": ["must be an object"]}) == "must be an object"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"task_name": "a\x00"}, "task_name must not contain NUL characters"),
        ({"task_name": "\ud800"}, "task_name must not contain unpaired surrogates"),
        ({"params": {"a": ["ok", "\udfff"]}}, "params.a[1] must not contain unpaired surrogates"),
        ({"params": {"\ud800": 1}}, "a key of params must not contain unpaired surrogates"),
        ({"\x00": 1}, "a key must not contain NUL characters"),
        ({"tasks": [{"task_name": "ok"}, {"task_name": "\x00"}]}, "tasks[1].task_name must not"),
    ],
)
def test_forbidden_characters_are_refused_by_path(data, expected):
    with pytest.raises(ValidationError) as raised:
        check_strings(data)
    assert raised.value.message.startswith(expected)


def test_strings_postgresql_can_store_pass():
    check_strings({"a": "\U0001f600 é", "b": [{"c": "d"}], "n": 1, "z": None})
    deep: object = "end"
    for _ in range(100_000):
        deep = [deep]
    check_strings({"deep": deep})  # iterative: no recursion limit


def test_handlers_declare_path_then_query_then_body():
    assert [part for part, _ in declared_inputs(tasks.create_task)] == ["path", "body"]
    assert [part for part, _ in declared_inputs(queues.delete_queue)] == ["path", "query"]
    assert [part for part, _ in declared_inputs(tasks.list_tasks)] == ["query"]
    assert [part for part, _ in declared_inputs(runs.complete_run)] == ["path", "body"]
    assert [part for part, _ in declared_inputs(checkpoints.get_checkpoint)] == ["path"]
    assert declared_inputs(queues.list_queues) == ()
