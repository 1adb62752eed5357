"""Composition on the client side, without a real server: decoding of result answers,
join answers and a task's parent and children; the create, join and listing requests;
the result wait's loop of bounded waits (`TaskHandle.result`, `wait_for_result`) and the
errors it raises; `ctx.spawn` (a child of the running task, once) and `ctx.gather` (the
results in order, `ChildFailed`, `Suspended`, `GatherTimeout`, groups of 1,000); and
`durablectl tasks wait` / `tasks list --parent` / `tasks create --parent`, all against
a fake server that records the requests."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import pytest
from aiohttp import web
from asyncclick.testing import CliRunner
from durable_queue_client import (
    ChildCounts,
    ChildFailed,
    ClaimedTask,
    CreatedTask,
    CreateTaskRequest,
    DurableClient,
    GatherTimeout,
    NotFound,
    TaskCanceled,
    TaskContext,
    TaskDetail,
    TaskFailed,
    TaskHandle,
    TaskOutcome,
    TaskResult,
    ValidationError,
    WaitForTasksAnswer,
    structure,
    to_dict,
)
from durable_queue_client.claims import HeldRun
from durable_queue_client.context import MAX_GATHER, Keepalive, Suspended
from durable_queue_client.convert import converter, encode
from durable_queue_client.handles import MAX_WAIT_SECONDS, next_wait, raise_for_outcome, seconds_of
from durable_queue_client.models import WaitForTasksRequest

from durablectl.cli import cli

NOW = "2026-11-28T10:00:00Z"
TASK = "01900000-0000-7000-8000-000000000001"
RUN = "01900000-0000-7000-8000-000000000002"
PARENT = "01900000-0000-7000-8000-0000000000aa"
PARENT_RUN = "01900000-0000-7000-8000-0000000000ab"
UTC = dt.UTC


def child_id(n: int) -> str:
    return f"01900000-0000-7000-8000-{n:012x}"


# -- decoding -------------------------------------------------------------------------------


def test_a_result_answer_reads_every_field() -> None:
    done = {"task_id": TASK, "status": "completed", "result": {"n": [1, 2]}, "completed_at": NOW}
    answer = structure(done, TaskResult)
    assert (answer.status, answer.result, answer.finished) == ("completed", {"n": [1, 2]}, True)
    assert answer.completed_at == dt.datetime(2026, 11, 28, 10, tzinfo=UTC)
    assert converter.structure(done, TaskResult) == answer
    assert to_dict(answer) == done
    failed = structure({"task_id": TASK, "status": "failed", "error": "boom"}, TaskResult)
    assert (failed.error, failed.result, failed.finished) == ("boom", None, True)
    pending = structure({"task_id": TASK, "status": "pending"}, TaskResult)
    assert (pending.finished, pending.completed_at) == (False, None)
    assert isinstance(answer, TaskOutcome)  # a result answer is an outcome


def test_a_join_answer_reads_in_each_status() -> None:
    outcomes = [
        {"task_id": child_id(1), "status": "completed", "result": 1, "completed_at": NOW},
        {"task_id": child_id(2), "status": "pending"},
    ]
    timeout = structure({"status": "timeout", "tasks": outcomes}, WaitForTasksAnswer)
    assert [o.status for o in timeout.tasks or []] == ["completed", "pending"]
    assert to_dict(timeout) == {"status": "timeout", "tasks": outcomes}
    sleeping = structure({"status": "sleeping"}, WaitForTasksAnswer)
    assert (sleeping.status, sleeping.tasks) == ("sleeping", None)
    assert converter.structure({"status": "sleeping"}, WaitForTasksAnswer) == sleeping


def test_a_task_shows_its_parent_and_its_children() -> None:
    detail = {
        "id": TASK,
        "task_name": "resize",
        "status": "pending",
        "queue_name": "images",
        "max_attempts": 1,
        "created_at": NOW,
        "parent_task_id": PARENT,
        "parent_close": "abandon",
        "children": {"pending": 2, "completed": 5, "failed": 1, "canceled": 0},
    }
    task = structure(detail, TaskDetail)
    assert (task.parent_task_id, task.parent_close) == (PARENT, "abandon")
    assert task.children == ChildCounts(pending=2, completed=5, failed=1, canceled=0)
    assert task.children is not None and task.children.total == 8
    assert to_dict(task) == {**detail, "runs": [], "checkpoints": []}
    plain = {k: v for k, v in detail.items() if not k.startswith(("parent", "children"))}
    bare = structure(plain, TaskDetail)
    assert (bare.parent_task_id, bare.parent_close, bare.children) == (None, None, None)


# -- request bodies -------------------------------------------------------------------------


def test_a_child_create_sends_its_parent() -> None:
    request = CreateTaskRequest(task_name="resize", parent_task_id=PARENT, parent_close="abandon")
    assert json.loads(encode(request)) == {
        "task_name": "resize",
        "parent_task_id": PARENT,
        "parent_close": "abandon",
    }
    assert json.loads(encode(CreateTaskRequest(task_name="t"))) == {"task_name": "t"}


def test_a_join_sends_its_ids_in_order() -> None:
    ids = [child_id(3), child_id(1), child_id(2)]
    request = WaitForTasksRequest(task_ids=ids, timeout_seconds=30, claim_token="tok")
    assert json.loads(encode(request)) == {
        "task_ids": ids,
        "timeout_seconds": 30,
        "claim_token": "tok",
    }


# -- the result wait's pieces ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("left", "wait"),
    [(None, 60), (0, 0), (-1.5, 0), (0.2, 1), (1, 1), (59.01, 60), (60, 60), (3600, 60)],
)
def test_each_request_waits_whole_seconds_up_to_the_servers_limit(
    left: float | None, wait: int
) -> None:
    assert next_wait(left) == wait
    assert MAX_WAIT_SECONDS == 60


def test_timeouts_in_seconds() -> None:
    assert seconds_of(None) is None
    assert seconds_of(2) == 2.0
    assert seconds_of(dt.timedelta(minutes=2)) == 120.0
    for bad in (-1, float("nan")):
        with pytest.raises(ValueError, match="must not be negative"):
            seconds_of(bad)


def test_outcomes_become_results_or_errors() -> None:
    assert raise_for_outcome(TaskResult(task_id=TASK, status="completed", result=[1])) == [1]
    assert raise_for_outcome(TaskResult(task_id=TASK, status="completed")) is None
    with pytest.raises(TaskFailed) as failed:
        raise_for_outcome(TaskResult(task_id=TASK, status="failed", error="E: x\nTraceback"))
    assert type(failed.value) is TaskFailed
    assert (failed.value.task_id, failed.value.status) == (TASK, "failed")
    assert failed.value.error == "E: x\nTraceback"
    assert str(failed.value) == f"task {TASK} failed: E: x"  # the first line
    with pytest.raises(TaskCanceled) as canceled:
        raise_for_outcome(TaskResult(task_id=TASK, status="canceled"))
    assert isinstance(canceled.value, TaskFailed)
    assert (canceled.value.status, str(canceled.value)) == ("canceled", f"task {TASK} canceled")
    with pytest.raises(TimeoutError, match="still pending"):
        raise_for_outcome(TaskResult(task_id=TASK, status="pending"))


def test_the_composition_errors() -> None:
    outcomes = [TaskOutcome(task_id=TASK, status="failed", error="KeyError: 'x'\nTraceback")]
    error = ChildFailed(TASK, "failed", outcomes[0].error, outcomes)
    assert isinstance(error, TaskFailed) and isinstance(error, Exception)
    assert (error.task_id, error.status, error.outcomes) == (TASK, "failed", outcomes)
    assert str(error) == f"child task {TASK} failed: KeyError: 'x'"
    assert repr(error) == f"ChildFailed({TASK!r}, 'failed', {outcomes[0].error!r})"
    assert str(ChildFailed(TASK, "canceled")) == f"child task {TASK} canceled"
    timeout = GatherTimeout(
        "1 of 2 unfinished",
        [TaskOutcome(task_id=TASK, status="completed"), TaskOutcome(task_id=RUN, status="pending")],
    )
    assert isinstance(timeout, TimeoutError) and isinstance(timeout, asyncio.TimeoutError)
    assert timeout.pending == [RUN]
    assert str(timeout) == "1 of 2 unfinished"


# -- requests, against a fake server --------------------------------------------------------


class Recorder:
    """Answers the composition endpoints and records (method, raw path, query, body).

    `results`: the answers of GET /tasks/{id}/result, one per request (the last one
    repeats); `joins`: the answers of wait-for-tasks, likewise (a callable gets the
    request's body); `checkpoints`: the task's checkpoints; `missing`: task ids the
    server does not know."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        self.results: list[dict[str, Any]] = [{"task_id": TASK, "status": "completed"}]
        self.joins: list[Any] = [{"status": "sleeping"}]
        self.checkpoints: list[dict[str, Any]] = []
        self.missing: set[str] = set()
        self.created = 0

    def paths(self, method: str | None = None) -> list[str]:
        return [r[1] for r in self.requests if method is None or r[0] == method]

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body = json.loads(raw) if raw else None
        path = request.raw_path.split("?", 1)[0]
        self.requests.append((request.method, path, dict(request.query), body))
        rest = path.removeprefix("/api/v1")
        parts = rest.split("/")
        if any(part in self.missing for part in parts):
            return web.json_response({"error": "task not found", "code": "NOT_FOUND"}, status=404)
        if rest.endswith("/result"):
            answer = self.results.pop(0) if len(self.results) > 1 else self.results[0]
            return web.json_response({"task_id": parts[2], **answer})
        if rest.endswith("/wait-for-tasks"):
            answer = self.joins.pop(0) if len(self.joins) > 1 else self.joins[0]
            answer = answer(body) if callable(answer) else answer
            return answer if isinstance(answer, web.Response) else web.json_response(answer)
        if rest.endswith("/checkpoints") and request.method == "GET":
            return web.json_response({"checkpoints": self.checkpoints})
        if "/checkpoints/" in rest:
            saved = {"task_id": parts[2], "step_name": parts[4], "updated_at": NOW}
            return web.json_response(saved)
        if rest.endswith("/tasks") and request.method == "POST":
            self.created += 1
            created = {"task_id": child_id(self.created), "run_id": RUN, "workflow_run_id": None}
            return web.json_response(
                {k: v for k, v in created.items() if v is not None}, status=201
            )
        if rest.endswith("/tasks/batch"):
            items = [
                {"task_id": child_id(i + 1), "run_id": RUN, "created": True}
                for i in range(len(body["tasks"]))
            ]
            return web.json_response({"tasks": items}, status=201)
        if rest == "/tasks":
            return web.json_response({"tasks": []})
        return web.json_response({"error": "no such route", "code": "NOT_FOUND"}, status=404)


@pytest.fixture
async def recorder(aiohttp_server: Any) -> tuple[str, Recorder]:
    recorder = Recorder()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", recorder.handle)
    running = await aiohttp_server(app)
    return str(running.make_url("")).rstrip("/"), recorder


async def test_client_composition_requests(recorder: tuple[str, Recorder]) -> None:
    url, rec = recorder
    async with DurableClient(url, retries=0) as dq:
        answer = await dq.get_task_result(TASK)
        assert (answer.task_id, answer.status) == (TASK, "completed")
        await dq.get_task_result(TASK, wait_seconds=25)
        created = await dq.create_task(
            "images", "resize", parent_task_id=PARENT, parent_close="abandon"
        )
        assert created.task_id == child_id(1)
        await dq.create_tasks(
            "images",
            [CreateTaskRequest(task_name="resize", parent_task_id=PARENT, idempotency_key="k")],
        )
        await dq.list_tasks(parent_task_id=PARENT, limit=10)
        assert [t async for t in dq.iter_tasks(parent_task_id=PARENT, status="failed")] == []
        rec.joins = [{"status": "completed", "tasks": [{"task_id": TASK, "status": "completed"}]}]
        joined = await dq.wait_for_tasks(RUN, [TASK], 30, claim_token="tok")
        assert joined.status == "completed"
    sent = rec.requests
    assert sent[0] == ("GET", f"/api/v1/tasks/{TASK}/result", {}, None)  # no wait: not sent
    assert sent[1] == ("GET", f"/api/v1/tasks/{TASK}/result", {"wait_seconds": "25"}, None)
    assert sent[2][:2] == ("POST", "/api/v1/queues/images/tasks")
    body = sent[2][3]
    assert (body["parent_task_id"], body["parent_close"]) == (PARENT, "abandon")
    assert body["idempotency_key"]  # a random one: the create may be retried
    assert sent[3][3] == {
        "tasks": [{"task_name": "resize", "parent_task_id": PARENT, "idempotency_key": "k"}]
    }
    assert sent[4][:3] == ("GET", "/api/v1/tasks", {"parent_task_id": PARENT, "limit": "10"})
    assert sent[5][2] == {"parent_task_id": PARENT, "status": "failed"}
    assert sent[6] == (
        "POST",
        f"/api/v1/runs/{RUN}/wait-for-tasks",
        {},
        {"task_ids": [TASK], "timeout_seconds": 30, "claim_token": "tok"},
    )


async def test_a_long_result_wait_is_a_loop_of_bounded_waits(
    recorder: tuple[str, Recorder], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server answers "pending" when a wait ends; the handle asks again until the
    task has ended, each request waiting at most 60 s (and its read timeout above it)."""
    url, rec = recorder
    rec.results = [{"status": "pending"}] * 3 + [{"status": "completed", "result": {"ok": 1}}]
    timeouts: list[float | None] = []
    async with DurableClient(url, retries=0, timeout=5) as dq:
        original = dq._request

        async def spy(*args: Any, **kwargs: Any) -> Any:
            timeouts.append(kwargs.get("total_timeout"))
            return await original(*args, **kwargs)

        monkeypatch.setattr(dq, "_request", spy)
        handle = await dq.enqueue("images", "resize", {"url": "u"}, priority=3)
        assert isinstance(handle, TaskHandle)
        assert (handle.task_id, handle.run_id, handle.workflow_run_id) == (child_id(1), RUN, None)
        assert await handle.result() == {"ok": 1}
    create = rec.requests[0]
    assert create[3]["params"] == {"url": "u"} and create[3]["priority"] == 3
    waits = [r[2] for r in rec.requests[1:]]
    assert waits == [{"wait_seconds": "60"}] * 4
    assert timeouts == [None, 65, 65, 65, 65]
    assert TaskHandle(dq, TASK) == TaskHandle(DurableClient(url), TASK)  # by ids


async def test_a_result_wait_with_a_timeout(recorder: tuple[str, Recorder]) -> None:
    url, rec = recorder
    rec.results = [{"status": "pending"}]
    async with DurableClient(url, retries=0) as dq:
        handle = TaskHandle(dq, TASK)
        with pytest.raises(TimeoutError, match=f"task {TASK} is still pending"):
            await handle.result(timeout=0)
        pending = await dq.wait_for_result(TASK, dt.timedelta(seconds=0.3))
        assert pending.status == "pending"
        with pytest.raises(ValueError, match="negative"):
            await handle.result(timeout=-1)
        rec.results = [{"status": "failed", "error": "RuntimeError: boom\nTraceback ..."}]
        with pytest.raises(TaskFailed, match="boom") as failed:
            await handle.result(timeout=10)
        assert failed.value.error == "RuntimeError: boom\nTraceback ..."
        rec.results = [{"status": "canceled"}]
        with pytest.raises(TaskCanceled):
            await handle.result()
        assert (await handle.outcome()).status == "canceled"  # outcome raises nothing
        rec.missing.add(TASK)
        with pytest.raises(NotFound):
            await handle.result()
    waits = [r[2].get("wait_seconds") for r in rec.requests]
    # timeout 0 asks once without waiting; 0.3 s waits a whole second (rounded up), once
    assert waits[:2] == [None, "1"]


# -- the worker SDK: spawn and gather -------------------------------------------------------


def parent_context(dq: DurableClient, token: str | None = "tok") -> TaskContext:
    task = ClaimedTask(
        run_id=PARENT_RUN,
        task_id=PARENT,
        attempt=1,
        task_name="parent",
        max_attempts=1,
        workflow_run_id="01900000-0000-7000-8000-0000000000ff",
    )
    return TaskContext(HeldRun(dq, task, token), "images", 30)


def completed(body: dict[str, Any]) -> dict[str, Any]:
    tasks = [
        {"task_id": task_id, "status": "completed", "result": {"id": task_id}}
        for task_id in body["task_ids"]
    ]
    return {"status": "completed", "tasks": tasks}


async def test_spawn_makes_a_child_of_the_running_task_once(
    recorder: tuple[str, Recorder],
) -> None:
    url, rec = recorder
    async with DurableClient(url, retries=0) as dq:
        ctx = parent_context(dq)
        first = await ctx.spawn("resize", {"n": 1})
        second = await ctx.spawn("resize", {"n": 2}, queue="other", parent_close="abandon")
        assert isinstance(first, TaskHandle)
        assert (first.task_id, second.task_id) == (child_id(1), child_id(2))
        creates = [r for r in rec.requests if r[0] == "POST"]
        assert [r[1] for r in creates] == [
            "/api/v1/queues/images/tasks",
            "/api/v1/queues/other/tasks",
        ]
        assert creates[0][3] == {
            "task_name": "resize",
            "params": {"n": 1},
            "workflow_run_id": "01900000-0000-7000-8000-0000000000ff",
            "idempotency_key": f"{PARENT}:spawn:resize",
            "parent_task_id": PARENT,
        }
        assert creates[1][3]["idempotency_key"] == f"{PARENT}:spawn:resize#2"
        assert creates[1][3]["parent_close"] == "abandon"
        checkpointed = [r[1].rsplit("/", 1)[1] for r in rec.requests if r[0] == "PUT"]
        assert checkpointed == ["spawn%3Aresize", "spawn%3Aresize%232"]

        # a re-execution: the checkpoints hold the children; nothing is created again
        rec.checkpoints = [
            {
                "step_name": "spawn:resize",
                "state": to_dict(CreatedTask(task_id=child_id(1), run_id=RUN)),
                "updated_at": NOW,
            }
        ]
        again = parent_context(dq)
        replayed = await again.spawn("resize", {"n": 1})
        assert replayed == TaskHandle(dq, child_id(1), RUN)
    assert rec.created == 2


async def test_gather_returns_the_results_in_order(recorder: tuple[str, Recorder]) -> None:
    url, rec = recorder
    rec.joins = [completed]
    async with DurableClient(url, retries=0) as dq:
        ctx = parent_context(dq)
        children = [TaskHandle(dq, child_id(n)) for n in (3, 1, 2)]
        results = await ctx.gather(*children, child_id(9), timeout=dt.timedelta(minutes=5))
        assert results == [{"id": child_id(n)} for n in (3, 1, 2, 9)]
        assert await ctx.gather() == []  # nothing to wait for: no request
        default = await ctx.gather(CreatedTask(task_id=child_id(4), run_id=RUN))
        assert default == [{"id": child_id(4)}]
        with pytest.raises(ValueError, match="at least 1 second"):
            await ctx.gather(children[0], timeout=0.5)
        with pytest.raises(TypeError, match="handles from spawn or task ids"):
            await ctx.gather(42)  # type: ignore[arg-type]
    joins = [r for r in rec.requests if r[1].endswith("/wait-for-tasks")]
    assert [r[1] for r in joins] == [f"/api/v1/runs/{PARENT_RUN}/wait-for-tasks"] * 2
    assert joins[0][3] == {
        "task_ids": [child_id(n) for n in (3, 1, 2, 9)],
        "timeout_seconds": 300,
        "claim_token": "tok",
    }
    assert joins[1][3]["timeout_seconds"] == 366 * 24 * 3600  # no timeout given


async def test_gather_raises_child_failed_for_the_first_child_that_did_not_complete(
    recorder: tuple[str, Recorder],
) -> None:
    url, rec = recorder
    outcomes = [
        {"task_id": child_id(1), "status": "completed", "result": 1},
        {"task_id": child_id(2), "status": "canceled", "error": "canceled"},
        {"task_id": child_id(3), "status": "failed", "error": "ValueError: bad\nTraceback"},
    ]
    rec.joins = [{"status": "completed", "tasks": outcomes}]
    async with DurableClient(url, retries=0) as dq:
        ctx = parent_context(dq)
        with pytest.raises(ChildFailed) as raised:
            await ctx.gather(*(child_id(n) for n in (1, 2, 3)), timeout=60)
    error = raised.value
    assert (error.task_id, error.status, error.error) == (child_id(2), "canceled", "canceled")
    assert [o.status for o in error.outcomes] == ["completed", "canceled", "failed"]
    assert error.outcomes[2].error == "ValueError: bad\nTraceback"


async def test_gather_suspends_while_children_run_and_times_out(
    recorder: tuple[str, Recorder],
) -> None:
    url, rec = recorder
    rec.joins = [{"status": "sleeping"}]
    async with DurableClient(url, retries=0) as dq:
        ctx = parent_context(dq)
        with pytest.raises(Suspended, match="waiting for 2 task"):
            await ctx.gather(child_id(1), child_id(2), timeout=60)
        rec.joins = [
            {
                "status": "timeout",
                "tasks": [
                    {"task_id": child_id(1), "status": "completed", "result": 1},
                    {"task_id": child_id(2), "status": "pending"},
                ],
            }
        ]
        with pytest.raises(GatherTimeout, match="1 of 2 task") as raised:
            await ctx.gather(child_id(1), child_id(2), timeout=60)
        assert raised.value.pending == [child_id(2)]
        # a timeout is an ordinary exception: a handler may catch it and go on
        assert not isinstance(raised.value, Suspended)


async def test_heartbeats_pause_around_the_join_and_resume_unless_it_sleeps(
    recorder: tuple[str, Recorder],
) -> None:
    url, rec = recorder
    async with DurableClient(url, retries=0) as dq:
        ctx = parent_context(dq)
        owner = asyncio.current_task()
        assert owner is not None
        keepalive = Keepalive(ctx._run, 30, owner)
        ctx._keepalive = keepalive
        refused = {"error": "task_ids: no task " + child_id(1), "code": "VALIDATION_ERROR"}
        rec.joins = [lambda body: web.json_response(refused, status=400)]
        with pytest.raises(ValidationError, match="task_ids"):
            await ctx.gather(child_id(1))
        assert not keepalive.paused  # refused: the claim is still held
        rec.joins = [completed]
        await ctx.gather(child_id(1))
        assert not keepalive.paused
        rec.joins = [{"status": "sleeping"}]
        with pytest.raises(Suspended):
            await ctx.gather(child_id(1))
        assert keepalive.paused  # the claim is gone: no heartbeat may follow


async def test_gather_of_more_than_a_thousand_waits_in_groups(
    recorder: tuple[str, Recorder],
) -> None:
    url, rec = recorder
    rec.joins = [completed]
    ids = [child_id(n) for n in range(1, 2502)]
    async with DurableClient(url, retries=0) as dq:
        results = await parent_context(dq).gather(*ids, timeout=3600)
    assert results == [{"id": task_id} for task_id in ids]
    sizes = [len(r[3]["task_ids"]) for r in rec.requests if r[1].endswith("/wait-for-tasks")]
    assert sizes == [MAX_GATHER, MAX_GATHER, 501]


async def test_gather_without_a_claim_token_and_a_short_answer(
    recorder: tuple[str, Recorder],
) -> None:
    from durable_queue_client import InvalidResponse

    url, rec = recorder
    rec.joins = [{"status": "completed", "tasks": []}]
    async with DurableClient(url, retries=0) as dq:
        with pytest.raises(InvalidResponse, match="0 of 1 tasks"):
            await parent_context(dq, token=None).gather(child_id(1))
    assert "claim_token" not in rec.requests[-1][3]


# -- durablectl, against the fake server ----------------------------------------------------


async def ctl(url: str, *args: str) -> Any:
    return await CliRunner().invoke(
        cli, ["--server", url, *args], env={"DURABLE_TOKEN": None}, catch_exceptions=False
    )


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        ({"status": "completed", "result": {"ok": True}, "completed_at": NOW}, 0),
        ({"status": "failed", "error": "RuntimeError: boom", "completed_at": NOW}, 1),
        ({"status": "canceled", "completed_at": NOW}, 1),
        ({"status": "pending"}, 3),
    ],
)
async def test_cli_tasks_wait_prints_the_outcome_and_exits_by_status(
    recorder: tuple[str, Recorder], answer: dict[str, Any], code: int
) -> None:
    url, rec = recorder
    rec.results = [answer]
    result = await ctl(url, "tasks", "wait", TASK, "--timeout", "0")
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert json.loads(result.stdout) == {"task_id": TASK, **answer}
    assert rec.requests == [("GET", f"/api/v1/tasks/{TASK}/result", {}, None)]


async def test_cli_tasks_wait_waits_until_the_task_ends(recorder: tuple[str, Recorder]) -> None:
    url, rec = recorder
    rec.results = [{"status": "pending"}, {"status": "completed", "result": 7}]
    result = await ctl(url, "-o", "table", "tasks", "wait", TASK)
    assert result.exit_code == 0, result.stderr
    assert "status   completed" in result.stdout.splitlines()
    assert [r[2] for r in rec.requests] == [{"wait_seconds": "60"}] * 2
    rec.requests.clear()
    await ctl(url, "tasks", "wait", TASK, "--timeout", "30")
    assert rec.requests[0][2] == {"wait_seconds": "30"}


async def test_cli_tasks_wait_unknown_task_and_bad_timeout(recorder: tuple[str, Recorder]) -> None:
    url, rec = recorder
    rec.missing.add(TASK)
    result = await ctl(url, "tasks", "wait", TASK, "--timeout", "0")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: 404 NOT_FOUND: task not found")
    rec.requests.clear()
    for bad in ("-1", "soon"):
        refused = await ctl(url, "tasks", "wait", TASK, "--timeout", bad)
        assert refused.exit_code == 2, refused.stderr
    assert rec.requests == []


async def test_cli_children_and_child_creates(recorder: tuple[str, Recorder]) -> None:
    url, rec = recorder
    listed = await ctl(url, "tasks", "list", "--parent", PARENT, "--status", "failed")
    assert listed.exit_code == 0, listed.stderr
    created = await ctl(
        url,
        "tasks",
        "create",
        "--queue",
        "images",
        "--name",
        "resize",
        "--parent",
        PARENT,
        "--parent-close",
        "abandon",
    )
    assert created.exit_code == 0, created.stderr
    assert rec.requests[0][:3] == (
        "GET",
        "/api/v1/tasks",
        {"status": "failed", "parent_task_id": PARENT, "limit": "50"},
    )
    body = rec.requests[1][3]
    assert (body["parent_task_id"], body["parent_close"]) == (PARENT, "abandon")
    rec.requests.clear()
    for args in (
        ("--name", "resize", "--parent-close", "abandon"),
        ("--name", "resize", "--parent", PARENT, "--parent-close", "orphan"),
    ):
        refused = await ctl(url, "tasks", "create", "--queue", "images", *args)
        assert refused.exit_code == 2, refused.stderr
    assert rec.requests == []


def test_tasks_wait_has_help_with_an_example() -> None:
    command = cli.commands["tasks"].commands["wait"]  # type: ignore[attr-defined]
    assert "Example:\n  durablectl tasks wait " in (command.help or "")
