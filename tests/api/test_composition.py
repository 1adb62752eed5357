"""Composition over HTTP (issue 25): the result wait, child tasks and their listing and
counts, parent-close, and joins (wait-for-tasks), against PostgreSQL.

A wait is observed registered (the process's result waiters) before the change that
should wake it is made, so no test sleeps in place of synchronisation.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from durable_queue.api.keys import LISTENER, MAINTENANCE, STORE
from tests.helpers import call, claim, error, eventually, make_queue, make_task

MISSING_ID = "01900000-0000-7000-8000-000000000000"


@pytest.fixture
async def queue(client) -> dict[str, Any]:
    return await make_queue(client, "q")


def waiting(client) -> int:
    return len(client.app[LISTENER].result_waiters)


async def complete(client, run: dict[str, Any], result: Any = None) -> None:
    body = {"result": result, "claim_token": run["claim_token"]}
    await call(client, "POST", f"/runs/{run['run_id']}/complete", 200, json=body)


async def fail(client, run: dict[str, Any], message: str = "boom") -> None:
    body = {"error": message, "claim_token": run["claim_token"]}
    await call(client, "POST", f"/runs/{run['run_id']}/fail", 200, json=body)


# -- the result wait -------------------------------------------------------------------


async def test_a_finished_task_answers_at_once(client, queue):
    created = await make_task(client)
    [run] = await claim(client)
    await complete(client, run, {"n": 1})
    answer = await call(client, "GET", f"/tasks/{created['task_id']}/result?wait_seconds=30", 200)
    assert answer["status"] == "completed" and answer["result"] == {"n": 1}
    assert answer["task_id"] == created["task_id"] and "completed_at" in answer


async def test_a_pending_task_answers_pending_without_a_wait(client, queue):
    created = await make_task(client)
    answer = await call(client, "GET", f"/tasks/{created['task_id']}/result", 200)
    assert answer == {"task_id": created["task_id"], "status": "pending"}


@pytest.mark.parametrize("ending", ["complete", "fail", "cancel"])
async def test_the_wait_is_woken_when_the_task_finishes(client, queue, ending):
    created = await make_task(client)
    [run] = await claim(client)
    path = f"/tasks/{created['task_id']}/result?wait_seconds=60"
    started = time.monotonic()
    answer = asyncio.create_task(call(client, "GET", path, 200))
    await eventually(lambda: waiting(client) == 1, what="the wait registered")
    if ending == "complete":
        await complete(client, run, [1, 2])
    elif ending == "fail":
        await fail(client, run)
    else:
        await call(client, "POST", f"/tasks/{created['task_id']}/cancel", 200)
    body = await answer
    assert time.monotonic() - started < 30  # woken, not the end of its 60 s
    expected = {"complete": "completed", "fail": "failed", "cancel": "canceled"}[ending]
    assert body["status"] == expected
    if ending == "complete":
        assert body["result"] == [1, 2]
    else:
        assert body["error"]
    assert waiting(client) == 0


async def test_the_wait_ends_pending(client, queue):
    created = await make_task(client)
    answer = await call(client, "GET", f"/tasks/{created['task_id']}/result?wait_seconds=1", 200)
    assert answer["status"] == "pending"
    assert waiting(client) == 0


async def test_result_errors(client, queue):
    await error(client, "GET", f"/tasks/{MISSING_ID}/result?wait_seconds=5", 404, "NOT_FOUND")
    created = await make_task(client)
    for bad in ("61", "-1", "x"):
        message = await error(
            client,
            "GET",
            f"/tasks/{created['task_id']}/result?wait_seconds={bad}",
            400,
            "VALIDATION_ERROR",
        )
        assert "wait_seconds" in message


async def test_sleeping_waits_send_no_statements(client, queue, monkeypatch):
    """100 waits asleep for 10 s: no statement at all on their behalf (no polling)."""
    composition = client.app[STORE].composition
    calls = []
    original = composition.task_result

    async def counted(task_id, **kwargs):
        calls.append(task_id)
        return await original(task_id, **kwargs)

    monkeypatch.setattr(composition, "task_result", counted)
    tasks = [await make_task(client) for _ in range(100)]
    waits = [
        asyncio.create_task(
            call(client, "GET", f"/tasks/{t['task_id']}/result?wait_seconds=30", 200)
        )
        for t in tasks
    ]
    await eventually(lambda: waiting(client) == 100, what="100 waits registered")
    before = len(calls)
    assert before == 200  # a read, then a read that marks the task watched, per wait
    await asyncio.sleep(10)  # the idle window itself
    assert len(calls) == before
    for task in tasks[:3]:  # by the store: the client's 100 connections are all waiting
        await client.app[STORE].cancel_task(uuid.UUID(task["task_id"]))
    await eventually(lambda: waiting(client) == 97, what="three woken")
    assert len(calls) == before + 3  # only the woken ones read again
    client.app[LISTENER].result_waiters.close()
    answers = await asyncio.gather(*waits)
    assert sorted(a["status"] for a in answers).count("canceled") == 3


# -- children --------------------------------------------------------------------------


async def test_a_child_takes_its_parents_run_priority_and_key(client, queue):
    flow = await call(client, "POST", "/workflow-runs", 201, json={"workflow_name": "wf"})
    parent = await make_task(
        client, workflow_run_id=flow["workflow_run_id"], priority=7, concurrency_key="tenant"
    )
    child = await make_task(client, parent_task_id=parent["task_id"])
    detail = await call(client, "GET", f"/tasks/{child['task_id']}", 200)
    assert detail["parent_task_id"] == parent["task_id"]
    assert detail["parent_close"] == "cancel"
    assert detail["workflow_run_id"] == flow["workflow_run_id"]
    assert (detail["priority"], detail["concurrency_key"]) == (7, "tenant")
    own = await make_task(
        client, parent_task_id=parent["task_id"], priority=0, concurrency_key="other",
        parent_close="abandon",
    )  # fmt: skip
    detail = await call(client, "GET", f"/tasks/{own['task_id']}", 200)
    assert (detail["priority"], detail["concurrency_key"]) == (0, "other")
    assert detail["parent_close"] == "abandon"
    parent_detail = await call(client, "GET", f"/tasks/{parent['task_id']}", 200)
    assert parent_detail["children"] == {"pending": 2, "completed": 0, "failed": 0, "canceled": 0}
    assert "parent_task_id" not in parent_detail


async def test_children_are_listed_by_parent(client, queue):
    parent = await make_task(client)
    children = [await make_task(client, parent_task_id=parent["task_id"]) for _ in range(3)]
    await make_task(client)  # not a child
    page = await call(client, "GET", f"/tasks?parent_task_id={parent['task_id']}&limit=2", 200)
    ids = [t["id"] for t in page["tasks"]]
    rest = await call(
        client,
        "GET",
        f"/tasks?parent_task_id={parent['task_id']}&cursor={page['next_cursor']}",
        200,
    )
    ids += [t["id"] for t in rest["tasks"]]
    assert ids == [c["task_id"] for c in reversed(children)]


async def test_a_batch_creates_children(client, queue):
    parent = await make_task(client, priority=3)
    items = [{"task_name": "c", "parent_task_id": parent["task_id"]} for _ in range(5)]
    items.append({"task_name": "free"})
    body = await call(client, "POST", "/queues/q/tasks/batch", 200, json={"tasks": items})
    children = [t["task_id"] for t in body["tasks"][:5]]
    for task_id in children:
        detail = await call(client, "GET", f"/tasks/{task_id}", 200)
        assert (detail["parent_task_id"], detail["priority"]) == (parent["task_id"], 3)
    free = await call(client, "GET", f"/tasks/{body['tasks'][5]['task_id']}", 200)
    assert "parent_task_id" not in free and free["priority"] == 0
    detail = await call(client, "GET", f"/tasks/{parent['task_id']}", 200)
    assert detail["children"]["pending"] == 5


async def test_child_errors(client, queue):
    message = await error(
        client, "POST", "/queues/q/tasks", 404, "NOT_FOUND",
        json={"task_name": "t", "parent_task_id": MISSING_ID},
    )  # fmt: skip
    assert MISSING_ID in message
    await error(
        client, "POST", "/queues/q/tasks/batch", 404, "NOT_FOUND",
        json={"tasks": [{"task_name": "t", "parent_task_id": MISSING_ID}]},
    )  # fmt: skip
    message = await error(
        client, "POST", "/queues/q/tasks", 400, "VALIDATION_ERROR",
        json={"task_name": "t", "parent_close": "abandon"},
    )  # fmt: skip
    assert message.startswith("parent_close")
    parent = await make_task(client)
    message = await error(
        client, "POST", "/queues/q/tasks", 400, "VALIDATION_ERROR",
        json={"task_name": "t", "parent_task_id": parent["task_id"], "parent_close": "keep"},
    )  # fmt: skip
    assert message.startswith("parent_close")


# -- parent-close --------------------------------------------------------------------------


async def statuses(client, ids: list[str]) -> list[str]:
    return [(await call(client, "GET", f"/tasks/{i}", 200))["status"] for i in ids]


@pytest.mark.parametrize("ending", ["cancel", "fail"])
async def test_a_parent_that_ends_badly_cancels_its_cancel_children(client, queue, ending):
    parent = await make_task(client)
    [held] = await claim(client)  # the parent's run
    cancel_child = await make_task(client, parent_task_id=parent["task_id"])
    grandchild = await make_task(client, parent_task_id=cancel_child["task_id"])
    abandoned = await make_task(client, parent_task_id=parent["task_id"], parent_close="abandon")
    done = await make_task(client, parent_task_id=parent["task_id"])
    runs = await claim(client, limit=10)
    done_run = next(r for r in runs if r["task_id"] == done["task_id"])
    await complete(client, done_run, "ok")
    if ending == "cancel":
        await call(client, "POST", f"/tasks/{parent['task_id']}/cancel", 200)
    else:
        await fail(client, held)
    ids = [cancel_child["task_id"], grandchild["task_id"], abandoned["task_id"], done["task_id"]]
    assert await statuses(client, ids) == ["canceled", "canceled", "pending", "completed"]
    child = await call(client, "GET", f"/tasks/{cancel_child['task_id']}", 200)
    assert child["error"] == ("parent canceled" if ending == "cancel" else "parent failed")
    assert child["runs"][0]["status"] == "canceled"


async def test_a_completed_parent_leaves_its_children(client, queue):
    parent = await make_task(client)
    [held] = await claim(client)
    child = await make_task(client, parent_task_id=parent["task_id"])
    await complete(client, held)
    assert await statuses(client, [child["task_id"]]) == ["pending"]


# -- joins -----------------------------------------------------------------------------------


async def join(client, run: dict[str, Any], task_ids: list[str], seconds: int = 60) -> Any:
    body = {"task_ids": task_ids, "timeout_seconds": seconds, "claim_token": run["claim_token"]}
    return await call(client, "POST", f"/runs/{run['run_id']}/wait-for-tasks", 200, json=body)


async def test_a_join_of_finished_tasks_answers_at_once_in_input_order(client, queue):
    a, b = await make_task(client, task_name="a"), await make_task(client, task_name="b")
    for run in await claim(client, limit=2):
        await complete(client, run, run["task_name"])
    parent = await make_task(client, task_name="parent")
    [held] = await claim(client)
    answer = await join(client, held, [b["task_id"], a["task_id"], b["task_id"]])
    assert answer["status"] == "completed"
    assert [t["result"] for t in answer["tasks"]] == ["b", "a", "b"]
    assert all(t["completed_at"].endswith("Z") for t in answer["tasks"])
    assert [t["task_id"] for t in answer["tasks"]] == [b["task_id"], a["task_id"], b["task_id"]]
    assert parent["task_id"] == held["task_id"]


async def test_a_join_sleeps_until_the_last_task_finishes(client, queue):
    parent = await make_task(client, task_name="parent")
    [held] = await claim(client)
    children = [await make_task(client, parent_task_id=parent["task_id"]) for _ in range(3)]
    ids = [c["task_id"] for c in children]
    assert await join(client, held, ids) == {"status": "sleeping"}
    run = await call(client, "GET", f"/runs?task_id={parent['task_id']}", 200)
    assert run["runs"][0]["status"] == "sleeping"
    child_runs = await claim(client, limit=10)
    assert {r["task_id"] for r in child_runs} == set(ids)  # the parent sleeps: not claimable
    await complete(client, child_runs[0], None)  # a JSON null result
    await fail(client, child_runs[1])
    assert await claim(client) == []
    await complete(client, child_runs[2], 2)
    [again] = await claim(client)  # the last one woke the parent
    assert again["task_id"] == parent["task_id"]
    answer = await join(client, again, ids)
    assert answer["status"] == "completed"
    null_result = next(t for t in answer["tasks"] if t["task_id"] == child_runs[0]["task_id"])
    assert "result" in null_result and null_result["result"] is None
    by_id = {t["task_id"]: t for t in answer["tasks"]}
    assert [by_id[i]["status"] for i in ids] == [
        next(s for r, s in zip(child_runs, ["completed", "failed", "completed"], strict=True)
             if r["task_id"] == i)
        for i in ids
    ]  # fmt: skip


async def test_a_join_times_out(client, queue):
    parent = await make_task(client, task_name="parent")
    [held] = await claim(client)
    child = await make_task(client, parent_task_id=parent["task_id"])
    assert (await join(client, held, [child["task_id"]], seconds=1))["status"] == "sleeping"
    maintenance = client.app[MAINTENANCE]

    async def swept() -> bool:  # by this sweep, or the app's own maintenance loop
        await maintenance.sweep_once()
        runs = await call(client, "GET", f"/runs?task_id={parent['task_id']}", 200)
        return runs["runs"][0]["status"] == "pending"

    await eventually(swept, what="the join's timeout swept")
    runs = await claim(client, limit=5)
    [again] = [r for r in runs if r["task_id"] == parent["task_id"]]
    answer = await join(client, again, [child["task_id"]])
    assert answer["status"] == "timeout"
    assert answer["tasks"] == [{"task_id": child["task_id"], "status": "pending"}]


async def test_join_errors(client, queue):
    parent = await make_task(client)
    [held] = await claim(client)
    message = await error(
        client, "POST", f"/runs/{held['run_id']}/wait-for-tasks", 400, "VALIDATION_ERROR",
        json={"task_ids": [MISSING_ID], "timeout_seconds": 5, "claim_token": held["claim_token"]},
    )  # fmt: skip
    assert message.startswith("task_ids")
    await error(
        client, "POST", f"/runs/{held['run_id']}/wait-for-tasks", 400, "VALIDATION_ERROR",
        json={"task_ids": [], "timeout_seconds": 5},
    )  # fmt: skip
    await error(
        client, "POST", f"/runs/{MISSING_ID}/wait-for-tasks", 404, "NOT_FOUND",
        json={"task_ids": [parent["task_id"]], "timeout_seconds": 5},
    )  # fmt: skip
    await complete(client, held)
    await error(
        client, "POST", f"/runs/{held['run_id']}/wait-for-tasks", 409, "CONFLICT",
        json={"task_ids": [parent["task_id"]], "timeout_seconds": 5},
    )  # fmt: skip
