"""The client's fast path for bodies (durable_queue_client.convert): `encode` gives the
JSON that `json.dumps(to_dict(record))` gave, `decode` what `json.loads` gave, and the
generated structure functions what the cattrs converter gives, or its very error."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import attrs
import cattrs
import pytest
from aiohttp import web
from durable_queue_client import Conflict, DurableClient, InvalidResponse, convert
from durable_queue_client.convert import converter, decode, encode, structure, to_dict
from durable_queue_client.models import (
    BatchCreatedTask,
    ClaimedTask,
    ClaimTasksRequest,
    CleanupPolicy,
    CompletedRun,
    CompleteRunRequest,
    CompleteRunsRequest,
    CreatedTask,
    CreateQueueRequest,
    CreateTaskRequest,
    CreateTasksRequest,
    FailedRun,
    QueueStats,
    RetryStrategy,
    RunCompletion,
    RunCompletionResult,
    SetCheckpointRequest,
    TaskDetail,
    UpdateWorkflowRunRequest,
    WorkflowRun,
)

RUN = "01a2226e-4232-71e6-a296-4a70a8150bb6"
TASK = "01a2226e-4232-70cc-a2b1-778507de64fe"
TOKEN = "f81c94c1-f74c-425c-a6bf-5f6d28331e4a"
PARIS = dt.timezone(dt.timedelta(hours=1))

FULL_TASK = CreateTaskRequest(
    task_name="send",
    params={"to": ["a@b.c", None], "opts": {"retry": None, "n": 1.5, "deep": [{"x": None}]}},
    headers={"trace": "t-1"},
    retry_strategy=RetryStrategy(kind="exponential", base_seconds=1, factor=2.0),
    max_attempts=5,
    start_timeout=10,
    execution_timeout=60,
    workflow_run_id=RUN,
    run_at=dt.datetime(2026, 11, 28, 13, 0, 0, 123456, tzinfo=dt.UTC),
    idempotency_key="key-1",
)

REQUESTS = [
    CreateTaskRequest(task_name="noop"),
    CreateTaskRequest(task_name="noop", params={"seq": 1}),
    CreateTaskRequest(task_name="noop", params=[1, "two", None, True]),
    CreateTaskRequest(task_name="noop", params={1: "int key", "when": FULL_TASK.run_at}),
    CreateTaskRequest(task_name="noop", run_at=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=PARIS)),
    FULL_TASK,
    CreateTasksRequest(tasks=[FULL_TASK, CreateTaskRequest(task_name="b", params={"seq": 2})]),
    ClaimTasksRequest(limit=100, claim_timeout=30),
    ClaimTasksRequest(limit=1, claim_timeout=30, long_poll_seconds=5),
    CompleteRunRequest(),
    CompleteRunRequest(result={"ok": True, "none": None}, claim_token=TOKEN),
    CompleteRunsRequest(
        runs=[
            RunCompletion(run_id=RUN),
            RunCompletion(run_id=RUN, result=[None], claim_token=TOKEN),
            RunCompletion(run_id=RUN, result="done"),
        ]
    ),
    SetCheckpointRequest(state=None, owner_run=RUN),
    SetCheckpointRequest(state={"step": 1}, owner_run=RUN, extend_claim_by=5),
    CreateQueueRequest(name="q", cleanup=CleanupPolicy(task_ttl_seconds=60)),
    UpdateWorkflowRunRequest(status="running", started_at=FULL_TASK.run_at),
    {"plain": [1, 2, {"x": None}]},
    [CompleteRunRequest(result=1), RunCompletion(run_id=RUN)],
]


def old_encoding(body: Any) -> Any:
    """What the client sent before the fast path (aiohttp's `json=` with to_dict)."""
    return json.loads(json.dumps(to_dict(body)))


@pytest.mark.parametrize("body", REQUESTS, ids=lambda body: type(body).__name__)
def test_encode_sends_what_to_dict_sent(body: Any) -> None:
    assert json.loads(encode(body)) == old_encoding(body)


def test_encode_leaves_out_none_fields_but_keeps_null_inside_json_values() -> None:
    sent = json.loads(encode(CreateTaskRequest(task_name="t", params={"a": None})))
    assert sent == {"task_name": "t", "params": {"a": None}}
    assert json.loads(encode(SetCheckpointRequest(state=None, owner_run=RUN))) == {
        "state": None,
        "owner_run": RUN,
    }


def test_encode_renders_timestamps_as_rfc3339() -> None:
    sent = json.loads(encode(FULL_TASK))
    assert sent["run_at"] == "2026-11-28T13:00:00.123456Z"
    sent = json.loads(encode(REQUESTS[4]))
    assert sent["run_at"] == "2026-01-02T03:04:05+01:00"


def test_encode_falls_back_to_the_stdlib_for_what_orjson_refuses() -> None:
    huge = CreateTaskRequest(task_name="t", params={"n": 2**70})
    assert json.loads(encode(huge)) == {"task_name": "t", "params": {"n": 2**70}}


def test_encode_writes_nan_as_json_did() -> None:
    """orjson would write null; `json` writes NaN (which the server refuses, naming it)."""
    for value in (float("nan"), float("inf")):
        body = CreateTaskRequest(task_name="t", params={"x": value})
        assert encode(body) == json.dumps(to_dict(body)).encode()


def test_encode_refuses_what_to_dict_refused() -> None:
    naive = CreateTaskRequest(task_name="t", run_at=dt.datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="has no time zone"):
        to_dict(naive)
    with pytest.raises(ValueError, match="has no time zone"):
        encode(naive)
    for value in ({1, 2}, dt.date(2026, 1, 1), object()):
        with pytest.raises(TypeError, match="not JSON serializable"):
            encode(CreateTaskRequest(task_name="t", params={"x": value}))


def test_encode_without_orjson(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(convert, "orjson", None)
    for body in REQUESTS:
        assert json.loads(encode(body)) == old_encoding(body)
    assert decode(b'{"a": [1, null]}') == {"a": [1, None]}


def test_decode() -> None:
    assert decode(b'{"tasks": [{"n": 1.5, "s": "\\u00e9"}]}') == {"tasks": [{"n": 1.5, "s": "é"}]}
    assert decode(b'{"n": 123456789012345678901234567890}') == {"n": 123456789012345678901234567890}
    for bad in (b"<html>", b'{"a": 1', b"\xff\xfe{"):
        with pytest.raises(ValueError):
            decode(bad)
        with pytest.raises(ValueError):
            decode(bad, exact_ints=False)


def test_decode_of_ids_only_bodies() -> None:
    body = json.dumps({"runs": [{"run_id": RUN, "status": "completed", "n": 7}]}).encode()
    assert decode(body, exact_ints=False) == json.loads(body)


# -- structuring responses --------------------------------------------------------------

CLAIMED = {
    "run_id": RUN,
    "task_id": TASK,
    "attempt": 2,
    "task_name": "noop",
    "max_attempts": 3,
    "claim_expires_at": "2026-11-28T13:59:13.540496Z",
    "claim_token": TOKEN,
    "params": {"seq": 1, "x": None},
}

RESPONSES: list[tuple[Any, Any]] = [
    (CreatedTask, {"task_id": TASK, "run_id": RUN}),
    (CreatedTask, {"task_id": TASK, "run_id": RUN, "workflow_run_id": RUN, "extra": 1}),
    (list[BatchCreatedTask], [{"task_id": TASK, "run_id": RUN, "created": True}] * 3),
    (list[ClaimedTask], [CLAIMED]),
    (
        ClaimedTask,
        {
            **CLAIMED,
            "headers": {"h": "v"},
            "retry_strategy": {"kind": "fixed", "base_seconds": 1},
            "workflow_run_id": None,
            "claim_expires_at": "2026-11-28T14:59:13+01:00",
        },
    ),
    (list[RunCompletionResult], [{"run_id": RUN, "status": "completed"}]),
    (RunCompletionResult, {"run_id": RUN, "status": "conflict", "error": "claim ended"}),
    (CompletedRun, {"run_id": RUN, "status": "completed"}),
    (FailedRun, {"run_id": RUN, "status": "failed", "attempt": 1, "next_attempt_at": None}),
    (QueueStats, {"queue_name": "q", "pending_runs": 1, "claimed_runs": 0, "completed_runs": 2}),
    (
        WorkflowRun,
        {
            "id": RUN,
            "workflow_run_id": RUN,
            "workflow_name": "w",
            "status": "pending",
            "created_at": "2026-11-28T13:00:00Z",
            "updated_at": "2026-11-28T13:00:01Z",
            "tags": {"a": "b"},
        },
    ),
    (TaskDetail, {"id": TASK, "task_name": "t", "status": "pending", "queue_name": "q",
                  "max_attempts": 1, "created_at": "2026-11-28T13:00:00Z"}),
]  # fmt: skip

CONVERTED: list[tuple[Any, Any]] = [  # what the converter converts, the fast path leaves to it
    (CreatedTask, {"task_id": 5, "run_id": RUN}),
    (ClaimedTask, {**CLAIMED, "attempt": 2.0, "max_attempts": "3"}),
    (BatchCreatedTask, {"task_id": TASK, "run_id": RUN, "created": 1}),
]


@pytest.mark.parametrize(
    "cls,data", RESPONSES + CONVERTED, ids=lambda v: getattr(v, "__name__", "")
)
def test_structure_gives_what_the_converter_gives(cls: Any, data: Any) -> None:
    assert structure(data, cls) == converter.structure(data, cls)


@pytest.mark.parametrize("cls,data", RESPONSES, ids=lambda v: getattr(v, "__name__", ""))
def test_well_formed_responses_take_the_generated_function(cls: Any, data: Any) -> None:
    fast = convert._compile_structure(cls)
    assert fast is None or fast(data) == converter.structure(data, cls)


@pytest.mark.parametrize("cls,data", CONVERTED, ids=lambda v: getattr(v, "__name__", ""))
def test_unexpected_json_types_are_left_to_the_converter(cls: Any, data: Any) -> None:
    fast = convert._compile_structure(cls)
    if fast is not None:
        with pytest.raises(TypeError):
            fast(data)


@pytest.mark.parametrize(
    "cls", [CreatedTask, list[BatchCreatedTask], list[ClaimedTask], list[RunCompletionResult]]
)
def test_the_hot_responses_have_a_generated_structure_function(cls: Any) -> None:
    assert convert._compile_structure(cls) is not None
    assert convert._compile_structure(TaskDetail) is None  # list defaults: the converter's


def test_structure_of_a_claimed_task() -> None:
    task = structure(CLAIMED, ClaimedTask)
    assert task == ClaimedTask(
        run_id=RUN,
        task_id=TASK,
        attempt=2,
        task_name="noop",
        params={"seq": 1, "x": None},
        max_attempts=3,
        claim_expires_at=dt.datetime(2026, 11, 28, 13, 59, 13, 540496, tzinfo=dt.UTC),
        claim_token=TOKEN,
    )
    created = {"task_id": TASK, "run_id": RUN}
    assert hash(structure(created, CreatedTask)) == hash(converter.structure(created, CreatedTask))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        task.attempt = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    "cls,data",
    [
        (CreatedTask, {"run_id": RUN}),
        (ClaimedTask, {**CLAIMED, "claim_expires_at": 5}),
        (list[CreatedTask], {"task_id": TASK}),
        (CreatedTask, [TASK]),
        (BatchCreatedTask, None),
    ],
)
def test_structure_raises_the_converters_error(cls: Any, data: Any) -> None:
    with pytest.raises((cattrs.BaseValidationError, TypeError, KeyError, ValueError)) as fast:
        structure(data, cls)
    with pytest.raises(type(fast.value)) as slow:
        converter.structure(data, cls)
    assert str(fast.value) == str(slow.value)


# -- through the client's transport -----------------------------------------------------


@pytest.fixture
async def fake_url(aiohttp_server: Any) -> tuple[str, list[tuple[str, str, Any]]]:
    """A server that records each request (path, Content-Type, JSON body) and answers
    with canned bodies, some of them odd."""
    seen: list[tuple[str, str, Any]] = []

    async def handle(request: web.Request) -> web.Response:
        raw = await request.read()
        seen.append((request.path, request.content_type, json.loads(raw) if raw else None))
        queue = request.match_info.get("queue", "")
        if request.path.endswith("/claim"):
            task = {**CLAIMED, "params": {"big": 2**70, "small": -(2**63)}}
            return web.json_response({"tasks": [task]})
        if request.path == "/api/v1/runs/complete":
            runs = [{"run_id": r["run_id"], "status": "completed"} for r in json.loads(raw)["runs"]]
            return web.json_response({"runs": runs})
        if queue == "html":
            return web.Response(status=201, body=b"<html>oops</html>")
        if queue == "conflict":
            return web.Response(status=409, body=b"\xffnot json at all")
        if queue == "odd":
            return web.json_response({"task_id": 5, "run_id": RUN}, status=201)
        return web.json_response({"task_id": TASK, "run_id": RUN}, status=201)

    app = web.Application()
    app.router.add_post("/api/v1/queues/{queue}/tasks", handle)
    app.router.add_post("/api/v1/queues/{queue}/tasks/claim", handle)
    app.router.add_post("/api/v1/runs/complete", handle)
    server = await aiohttp_server(app)
    return str(server.make_url("")), seen


async def test_the_client_sends_json_and_reads_answers(
    fake_url: tuple[str, list[tuple[str, str, Any]]],
) -> None:
    url, seen = fake_url
    async with DurableClient(url, retries=0) as client:
        created = await client.create_task(
            "q",
            FULL_TASK.task_name,
            params=FULL_TASK.params,
            headers=FULL_TASK.headers,
            retry_strategy=FULL_TASK.retry_strategy,
            max_attempts=FULL_TASK.max_attempts,
            run_at=FULL_TASK.run_at,
        )
        assert created == CreatedTask(task_id=TASK, run_id=RUN)
        [task] = await client.claim_tasks("q", limit=100)
        assert task.params == {"big": 2**70, "small": -(2**63)}
        results = await client.complete_runs([RunCompletion(run_id=RUN, claim_token=TOKEN)])
        assert results == [RunCompletionResult(run_id=RUN, status="completed")]
        assert await client.create_task("odd", "t") == CreatedTask(task_id="5", run_id=RUN)
        with pytest.raises(InvalidResponse, match="response is not JSON"):
            await client.create_task("html", "t")
        with pytest.raises(Conflict, match="not json at all"):
            await client.create_task("conflict", "t")
    expected = CreateTaskRequest(
        task_name=FULL_TASK.task_name,
        params=FULL_TASK.params,
        headers=FULL_TASK.headers,
        retry_strategy=FULL_TASK.retry_strategy,
        max_attempts=FULL_TASK.max_attempts,
        run_at=FULL_TASK.run_at,
    )
    sent_key = seen[0][2].pop("idempotency_key")  # none given: a new random one is sent
    assert isinstance(sent_key, str) and len(sent_key) == 36
    assert seen[:3] == [
        ("/api/v1/queues/q/tasks", "application/json", old_encoding(expected)),
        ("/api/v1/queues/q/tasks/claim", "application/json", {"limit": 100, "claim_timeout": 30}),
        (
            "/api/v1/runs/complete",
            "application/json",
            {"runs": [{"run_id": RUN, "claim_token": TOKEN}]},
        ),
    ]
