"""The client's attrs models checked field by field against the committed openapi.json.

For every client method: the request model's fields are all declared by the operation's
request body (with compatible types, and every field the document requires always sent),
its query parameters are declared by the operation, and the response model's fields are
all properties of the documented success response, with compatible types; a field the
client requires is one the document requires and never null. A property of a response the
client does not read must be listed in IGNORED, so a new server field is a decision.
"""

from __future__ import annotations

import inspect
import json
import types
import typing
from pathlib import Path
from typing import Any

import attrs
import pytest
from durable_queue_client import DurableClient, models
from durable_queue_client.models import KEEP_NULL

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = json.loads((ROOT / "openapi.json").read_text())
PREFIX = "/api/v1"


@attrs.frozen
class Op:
    """One client method and the operation it calls. `items`: the response field the method
    returns the elements of (e.g. `queues` of GET /queues), when it unwraps a list."""

    method: str
    path: str
    request: type | None
    response: type | None
    items: str | None = None


OPERATIONS: dict[str, Op] = {
    "create_queue": Op("post", "/queues", models.CreateQueueRequest, models.QueueSummary),
    "list_queues": Op("get", "/queues", None, models.QueueSummary, "queues"),
    "delete_queue": Op("delete", "/queues/{queue_name}", None, None),
    "get_queue_stats": Op("get", "/queues/{queue_name}/stats", None, models.QueueStats),
    "get_queue": Op("get", "/queues/{queue_name}", None, models.QueueSummary),
    "update_queue": Op(
        "patch", "/queues/{queue_name}", models.UpdateQueueRequest, models.QueueSummary
    ),
    "list_keys": Op("get", "/queues/{queue_name}/keys", None, models.ConcurrencyKeyPage),
    "set_key": Op(
        "put", "/queues/{queue_name}/keys/{key}", models.SetKeyRequest, models.ConcurrencyKey
    ),
    "delete_key": Op("delete", "/queues/{queue_name}/keys/{key}", None, None),
    "set_task_priority": Op(
        "patch", "/tasks/{task_id}", models.SetTaskPriorityRequest, models.TaskDetail
    ),
    "create_task": Op(
        "post", "/queues/{queue_name}/tasks", models.CreateTaskRequest, models.CreatedTask
    ),
    "claim_tasks": Op(
        "post",
        "/queues/{queue_name}/tasks/claim",
        models.ClaimTasksRequest,
        models.ClaimedTask,
        "tasks",
    ),
    "list_tasks": Op("get", "/tasks", None, models.TaskPage),
    "get_task": Op("get", "/tasks/{task_id}", None, models.TaskDetail),
    "cancel_task": Op("post", "/tasks/{task_id}/cancel", None, models.CanceledTask),
    "list_runs": Op("get", "/runs", None, models.RunPage),
    "complete_run": Op(
        "post", "/runs/{run_id}/complete", models.CompleteRunRequest, models.CompletedRun
    ),
    "fail_run": Op("post", "/runs/{run_id}/fail", models.FailRunRequest, models.FailedRun),
    "schedule_run": Op(
        "post", "/runs/{run_id}/schedule", models.ScheduleRunRequest, models.ScheduledRun
    ),
    "wait_for_event": Op(
        "post",
        "/runs/{run_id}/wait-for-event",
        models.WaitForEventRequest,
        models.WaitForEventResult,
    ),
    "heartbeat": Op("post", "/runs/{run_id}/heartbeat", models.HeartbeatRequest, models.Heartbeat),
    "set_checkpoint": Op(
        "put",
        "/tasks/{task_id}/checkpoints/{step_name}",
        models.SetCheckpointRequest,
        models.CheckpointSaved,
    ),
    "get_checkpoint": Op(
        "get", "/tasks/{task_id}/checkpoints/{step_name}", None, models.Checkpoint
    ),
    "list_checkpoints": Op(
        "get", "/tasks/{task_id}/checkpoints", None, models.CheckpointEntry, "checkpoints"
    ),
    "emit_event": Op("post", "/events", models.EmitEventRequest, models.EventCreated),
    "create_workflow_run": Op(
        "post", "/workflow-runs", models.CreateWorkflowRunRequest, models.WorkflowRunCreated
    ),
    "update_workflow_run": Op(
        "patch",
        "/workflow-runs/{workflow_run_id}",
        models.UpdateWorkflowRunRequest,
        models.WorkflowRunUpdated,
    ),
    "get_workflow_run": Op(
        "get", "/workflow-runs/{workflow_run_id}", None, models.WorkflowRunDetail
    ),
    "list_workflow_runs": Op("get", "/workflow-runs", None, models.WorkflowRunPage),
    "create_tasks": Op(
        "post",
        "/queues/{queue_name}/tasks/batch",
        models.CreateTasksRequest,
        models.BatchCreatedTask,
        "tasks",
    ),
    "complete_runs": Op(
        "post", "/runs/complete", models.CompleteRunsRequest, models.RunCompletionResult, "runs"
    ),
    "create_schedule": Op("post", "/schedules", models.CreateScheduleRequest, models.ScheduleInfo),
    "list_schedules": Op("get", "/schedules", None, models.SchedulePage),
    "get_schedule": Op("get", "/schedules/{schedule_name}", None, models.ScheduleInfo),
    "update_schedule": Op(
        "patch", "/schedules/{schedule_name}", models.UpdateScheduleRequest, models.ScheduleInfo
    ),
    "delete_schedule": Op("delete", "/schedules/{schedule_name}", None, None),
    "trigger_schedule": Op(
        "post", "/schedules/{schedule_name}/trigger", None, models.ScheduleTriggered
    ),
    "backfill_schedule": Op(
        "post", "/schedules/{schedule_name}/backfill", None, models.BackfillResult
    ),
    "get_task_result": Op("get", "/tasks/{task_id}/result", None, models.TaskResult),
    "wait_for_tasks": Op(
        "post",
        "/runs/{run_id}/wait-for-tasks",
        models.WaitForTasksRequest,
        models.WaitForTasksAnswer,
    ),
}

# Methods that send a plain JSON object, not a request model: its keys, all required
# (`from` is a Python keyword, so no attrs model can name it).
DICT_BODIES = {"backfill_schedule": {"from", "to"}}

# Client methods that only combine others (no request of their own).
DERIVED = {
    "iter_tasks",
    "iter_runs",
    "iter_workflow_runs",
    "iter_keys",
    "pause_queue",
    "resume_queue",
    "iter_schedules",
    "pause_schedule",
    "resume_schedule",
    "upsert_schedule",  # POST /schedules, on 409 PATCH /schedules/{schedule_name}
    "enqueue",  # create_task (POST /queues/{queue_name}/tasks), answered as a TaskHandle
    "wait_for_result",  # get_task_result in a loop of waits of at most 60 s
}

# (schema name, property): documented response properties the client deliberately skips.
IGNORED: set[tuple[str, str]] = set()


# -- the document -------------------------------------------------------------------------


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    """`$ref` followed, and a lone `allOf: [$ref]` (how a nullable reference is written)
    merged with its siblings."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return {**DOCUMENT["components"]["schemas"][name], "x-name": name}
    if len(schema.get("allOf", [])) == 1:
        rest = {k: v for k, v in schema.items() if k != "allOf"}
        return {**resolve(schema["allOf"][0]), **rest}
    return schema


def operation(op: Op) -> dict[str, Any]:
    path_item = DOCUMENT["paths"].get(PREFIX + op.path)
    assert path_item is not None, f"{op.path} is not in openapi.json"
    assert op.method in path_item, f"{op.method.upper()} {op.path} is not in openapi.json"
    return path_item[op.method]


def success_schemas(op: Op) -> list[dict[str, Any]]:
    found = []
    for status, response in operation(op)["responses"].items():
        schema = response.get("content", {}).get("application/json", {}).get("schema")
        if status.startswith("2") and schema is not None:
            found.append(resolve(schema))
    return found


def request_schema(op: Op) -> dict[str, Any] | None:
    body = operation(op).get("requestBody", {}).get("content", {}).get("application/json")
    return None if body is None else resolve(body["schema"])


# -- comparing ----------------------------------------------------------------------------


def unwrap_optional(hint: Any) -> tuple[Any, bool]:
    """(the type without None, whether None was allowed); a PATCH field's `Unset` (the
    field left out) is dropped as well."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None) and a != models.Unset]
        if len(args) == 1:
            return args[0], type(None) in typing.get_args(hint)
    return hint, False


def type_problems(hint: Any, schema: dict[str, Any], where: str, direction: str) -> list[str]:
    """How `hint` (a model field's type) and `schema` (the document's) disagree."""
    schema = resolve(schema)
    hint, _ = unwrap_optional(hint)
    kind, fmt = schema.get("type"), schema.get("format")
    if hint is Any:
        return []  # any JSON value
    if attrs.has(hint):
        if kind not in (None, "object"):
            return [f"{where}: {hint.__name__} is an object, the document says {kind}"]
        return model_problems(hint, schema, where, direction)
    origin = typing.get_origin(hint)
    if origin is list:
        if kind != "array":
            return [f"{where}: a list in the client, {kind} in the document"]
        return type_problems(
            typing.get_args(hint)[0], schema.get("items", {}), f"{where}[]", direction
        )
    if origin is dict:
        values = schema.get("additionalProperties")
        if kind != "object" or not isinstance(values, dict):
            return [f"{where}: a map in the client, {kind} without additionalProperties there"]
        return type_problems(typing.get_args(hint)[1], values, f"{where}{{}}", direction)
    expected = {
        str: ("string", lambda f: f != "date-time"),
        dt_type(): ("string", lambda f: f == "date-time"),
        int: ("integer", lambda f: True),
        float: ("number", lambda f: True),
        bool: ("boolean", lambda f: True),
    }.get(hint)
    assert expected is not None, f"{where}: no rule for {hint!r}"
    want_kind, format_ok = expected
    if hint is float and kind == "integer":
        return []  # an integer is a number
    if kind != want_kind or not format_ok(fmt):
        return [f"{where}: {getattr(hint, '__name__', hint)} in the client, {kind}/{fmt} there"]
    return []


def dt_type() -> type:
    import datetime as dt

    return dt.datetime


def model_problems(cls: type, schema: dict[str, Any], where: str, direction: str) -> list[str]:
    properties = schema.get("properties", {})
    required = set(schema.get("required", []))
    hints = typing.get_type_hints(cls, vars(models))
    name = schema.get("x-name", cls.__name__)
    problems: list[str] = []
    fields = attrs.fields(cls)
    for field in fields:
        at = f"{where}.{field.name}"
        if field.name not in properties:
            problems.append(f"{at}: not declared by the document ({name})")
            continue
        prop = resolve(properties[field.name])
        _, optional = unwrap_optional(hints[field.name])
        client_requires = field.default is attrs.NOTHING
        if direction == "response" and client_requires:
            if field.name not in required:
                problems.append(f"{at}: the client requires it, the document does not")
            if prop.get("nullable") and not optional:
                problems.append(f"{at}: the document allows null, the client does not")
        if direction == "request":
            always_sent = client_requires or field.metadata.get(KEEP_NULL)
            if field.name in required and not always_sent:
                problems.append(f"{at}: required by the document, optional in the client")
            if field.metadata.get(KEEP_NULL) and prop.get("type") and not prop.get("nullable"):
                problems.append(f"{at}: the client may send null, the document does not allow it")
        problems.extend(type_problems(hints[field.name], prop, at, direction))
    if direction == "request":
        missing = required - {f.name for f in fields}
        problems.extend(
            f"{where}.{prop}: required by the document, never sent" for prop in sorted(missing)
        )
    if direction == "response":
        skipped = set(properties) - {f.name for f in fields}
        problems.extend(
            f"{where}.{prop}: documented ({name}), not read by the client"
            for prop in sorted(skipped)
            if (name, prop) not in IGNORED
        )
    return problems


# -- tests --------------------------------------------------------------------------------


def public_methods() -> set[str]:
    return {
        name
        for name, member in inspect.getmembers(DurableClient, inspect.isfunction)
        if not name.startswith("_") and name != "close"
    }


def test_every_client_method_is_mapped_to_a_documented_operation():
    assert public_methods() == set(OPERATIONS) | DERIVED
    for op in OPERATIONS.values():
        operation(op)


def test_allowances_are_current():
    """An allowance goes once the document catches up: a skipped property is still
    documented."""
    schemas = DOCUMENT["components"]["schemas"]
    for name, prop in IGNORED:
        assert prop in schemas[name]["properties"], (name, prop)


def test_every_documented_api_operation_has_a_client_method():
    mapped = {(PREFIX + op.path, op.method) for op in OPERATIONS.values()}
    documented = {
        (path, method)
        for path, item in DOCUMENT["paths"].items()
        if path.startswith(PREFIX + "/")
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    assert documented - mapped == set()


@pytest.mark.parametrize("name", sorted(n for n, op in OPERATIONS.items() if op.response))
def test_response_model_matches_the_documented_response(name):
    op = OPERATIONS[name]
    schemas = success_schemas(op)
    assert schemas, f"{name}: no documented JSON success response"
    problems = []
    for schema in schemas:
        if op.items:
            assert op.items in schema.get("properties", {}), (name, schema)
            assert set(schema["properties"]) == {op.items}, (
                f"{name}: the client reads only {op.items}"
            )
            schema = resolve(schema["properties"][op.items]["items"])
        problems += model_problems(op.response, schema, name, "response")
    assert problems == []


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_request_body_uses_only_documented_fields(name):
    op = OPERATIONS[name]
    schema = request_schema(op)
    if name in DICT_BODIES:
        assert set(schema["properties"]) == set(schema["required"]) == DICT_BODIES[name]
        return
    if op.request is None:
        assert schema is None or not schema.get("required"), f"{name} sends no body"
        return
    assert schema is not None, f"{name}: the document declares no request body"
    assert model_problems(op.request, schema, name, "request") == []


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_query_parameters_are_documented(name):
    """The listing methods send their keyword arguments as query parameters under the same
    names (`_query`); `delete_queue` sends `force`."""
    op = OPERATIONS[name]
    declared = {p["name"]: p for p in operation(op).get("parameters", []) if p["in"] == "query"}
    if op.method in ("get", "delete"):
        signature = inspect.signature(getattr(DurableClient, name))
        sent = {
            p.name
            for p in signature.parameters.values()
            if p.name != "self" and p.kind != p.VAR_KEYWORD
        }
        path_params = {p["name"] for p in operation(op).get("parameters", []) if p["in"] == "path"}
        # the queue methods' name / queue is the path's queue_name
        sent -= path_params | {"name", "queue"}
        assert sent <= set(declared), f"{name}: {sorted(sent - set(declared))} undeclared"
    else:
        assert not declared or name == "delete_queue"
