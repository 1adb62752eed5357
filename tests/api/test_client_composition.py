"""Composition through the async client against the real server: the result wait
(`get_task_result`, `TaskHandle.result`) answered at once for an ended task and woken
while it waits by the task's completion, failure or cancel, bounded by its timeout;
children (`create_task(parent_task_id=)`, single and batch) with what they inherit, the
listing of a task's children and their counts on the parent; parent-close as the client
sees it; and the raw join (`wait_for_tasks`): at once, sleeping, then answered by the
next claim."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from durable_queue_client import (
    ChildCounts,
    CreateTaskRequest,
    DurableClient,
    NotFound,
    TaskCanceled,
    TaskFailed,
    TaskHandle,
    ValidationError,
)

from tests.helpers import eventually

MISSING = "01900000-0000-7000-8000-000000000000"


@pytest.fixture
async def dq(server_url: str) -> AsyncIterator[DurableClient]:
    async with DurableClient(server_url, retries=0) as client:
        await client.create_queue("q")
        yield client


async def claim_one(dq: DurableClient, queue: str = "q") -> tuple[str, str | None, str]:
    """(run_id, claim_token, task_id) of the one due task of `queue`."""
    [task] = await dq.claim_tasks(queue, limit=1, claim_timeout=60)
    return task.run_id, task.claim_token, task.task_id


async def waiting(handle: TaskHandle, seconds: float = 30) -> asyncio.Task[object]:
    """`handle.outcome(seconds)` in the background, once its request is on the server."""
    started = asyncio.create_task(handle.outcome(seconds))
    await asyncio.sleep(0.3)  # the request reaches the server and sleeps there
    assert not started.done()
    return started


# -- the result wait ----------------------------------------------------------------------


async def test_an_ended_task_answers_at_once(dq: DurableClient) -> None:
    handle = await dq.enqueue("q", "work", {"n": 1})
    pending = await dq.get_task_result(handle.task_id)
    assert (pending.task_id, pending.status, pending.finished) == (handle.task_id, "pending", False)
    assert (pending.result, pending.error, pending.completed_at) == (None, None, None)
    run_id, token, _ = await claim_one(dq)
    await dq.complete_run(run_id, {"twice": 2}, claim_token=token)
    done = await dq.get_task_result(handle.task_id, wait_seconds=30)
    assert (done.status, done.result) == ("completed", {"twice": 2})
    assert done.completed_at is not None and done.completed_at.tzinfo is not None
    started = time.monotonic()
    assert await handle.result(timeout=30) == {"twice": 2}
    assert time.monotonic() - started < 1
    with pytest.raises(NotFound):
        await dq.get_task_result(MISSING)
    with pytest.raises(NotFound):
        await TaskHandle(dq, MISSING).result()
    with pytest.raises(ValidationError):
        await dq.get_task_result(handle.task_id, wait_seconds=61)


async def test_the_wait_is_woken_by_completion(dq: DurableClient) -> None:
    handle = await dq.enqueue("q", "work")
    wait = await waiting(handle)
    run_id, token, _ = await claim_one(dq)
    completed_at = time.monotonic()
    await dq.complete_run(run_id, [1, "two"], claim_token=token)
    answer = await asyncio.wait_for(wait, 10)
    woke_after = time.monotonic() - completed_at
    assert answer.status == "completed" and answer.result == [1, "two"]  # type: ignore[attr-defined]
    assert woke_after < 2, f"woken {woke_after:.2f}s after the completion"


async def test_the_wait_is_woken_by_failure(dq: DurableClient) -> None:
    handle = await dq.enqueue("q", "work", max_attempts=1)
    result = asyncio.create_task(handle.result(timeout=30))
    await asyncio.sleep(0.3)
    run_id, token, _ = await claim_one(dq)
    await dq.fail_run(run_id, "RuntimeError: boom", claim_token=token)
    with pytest.raises(TaskFailed) as failed:
        await asyncio.wait_for(result, 10)
    assert type(failed.value) is TaskFailed
    assert (failed.value.task_id, failed.value.status) == (handle.task_id, "failed")
    assert failed.value.error is not None and "boom" in failed.value.error


async def test_a_failed_attempt_with_retries_left_does_not_end_the_wait(
    dq: DurableClient,
) -> None:
    handle = await dq.enqueue("q", "work", max_attempts=2)
    wait = await waiting(handle, seconds=2)
    run_id, token, _ = await claim_one(dq)
    await dq.fail_run(run_id, "first attempt", claim_token=token)
    answer = await asyncio.wait_for(wait, 10)
    assert answer.status == "pending"  # type: ignore[attr-defined]


async def test_the_wait_is_woken_by_cancel(dq: DurableClient) -> None:
    handle = await dq.enqueue("q", "work")
    result = asyncio.create_task(handle.result())
    await asyncio.sleep(0.3)
    await dq.cancel_task(handle.task_id)
    with pytest.raises(TaskCanceled) as canceled:
        await asyncio.wait_for(result, 10)
    assert (canceled.value.task_id, canceled.value.status) == (handle.task_id, "canceled")


async def test_the_wait_ends_at_its_timeout(dq: DurableClient) -> None:
    handle = await dq.enqueue("q", "work")
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="still pending"):
        await handle.result(timeout=1)
    took = time.monotonic() - started
    assert 0.9 < took < 3, took
    assert (await dq.wait_for_result(handle.task_id, 0)).status == "pending"
    assert (await dq.get_task(handle.task_id)).status == "pending"  # the task goes on


# -- children -----------------------------------------------------------------------------


async def test_children_inherit_and_are_listed_and_counted(dq: DurableClient) -> None:
    run = await dq.create_workflow_run("import")
    parent = await dq.create_task(
        "q",
        "parent",
        workflow_run_id=run.workflow_run_id,
        priority=7,
        concurrency_key="tenant/1",
    )
    plain = await dq.create_task("q", "child", parent_task_id=parent.task_id)
    own = await dq.create_task(
        "q",
        "child",
        parent_task_id=parent.task_id,
        parent_close="abandon",
        priority=-3,
        concurrency_key="other",
    )
    batch = await dq.create_tasks(
        "q",
        [CreateTaskRequest(task_name="child", parent_task_id=parent.task_id) for _ in range(3)],
    )
    child = await dq.get_task(plain.task_id)
    assert (child.parent_task_id, child.parent_close) == (parent.task_id, "cancel")
    assert (child.workflow_run_id, child.priority, child.concurrency_key) == (
        run.workflow_run_id,
        7,
        "tenant/1",
    )
    assert plain.workflow_run_id == run.workflow_run_id
    other = await dq.get_task(own.task_id)
    assert (other.parent_close, other.priority, other.concurrency_key) == ("abandon", -3, "other")
    assert other.children is None  # no children of its own

    ids = [plain.task_id, own.task_id, *(item.task_id for item in batch)]
    page = await dq.list_tasks(parent_task_id=parent.task_id, limit=2)
    assert len(page.tasks) == 2 and page.next_cursor is not None
    listed = [task.id async for task in dq.iter_tasks(parent_task_id=parent.task_id)]
    assert sorted(listed) == sorted(ids)
    assert listed == sorted(listed, reverse=True)  # newest first

    await dq.cancel_task(own.task_id)
    detail = await dq.get_task(parent.task_id)
    assert detail.parent_task_id is None
    assert detail.children == ChildCounts(pending=4, canceled=1)
    canceled = [t.id async for t in dq.iter_tasks(parent_task_id=parent.task_id, status="canceled")]
    assert canceled == [own.task_id]

    with pytest.raises(NotFound):
        await dq.create_task("q", "child", parent_task_id=MISSING)
    with pytest.raises(NotFound):
        await dq.create_tasks(
            "q",
            [
                CreateTaskRequest(task_name="ok"),
                CreateTaskRequest(task_name="orphan", parent_task_id=MISSING),
            ],
        )
    assert (await dq.get_task(parent.task_id)).children == ChildCounts(pending=4, canceled=1)


async def test_parent_close_as_the_client_sees_it(dq: DurableClient) -> None:
    parent = await dq.enqueue("q", "parent")
    kept = await dq.enqueue("q", "child", parent_task_id=parent.task_id, parent_close="abandon")
    closed = await dq.enqueue("q", "child", parent_task_id=parent.task_id)
    waits = asyncio.gather(closed.outcome(30), kept.outcome(2))
    await asyncio.sleep(0.3)
    await dq.cancel_task(parent.task_id)
    closed_answer, kept_answer = await asyncio.wait_for(waits, 10)
    assert closed_answer.status == "canceled"
    assert kept_answer.status == "pending"
    with pytest.raises(TaskCanceled):
        await closed.result(timeout=0)
    assert (await dq.get_task(parent.task_id)).children == ChildCounts(pending=1, canceled=1)


# -- the raw join -------------------------------------------------------------------------


async def test_wait_for_tasks_at_once_sleeping_then_answered_by_the_next_claim(
    dq: DurableClient,
) -> None:
    await dq.create_queue("children")
    parent = await dq.create_task("q", "parent")
    kids = [
        await dq.create_task("children", "child", params={"n": n}, parent_task_id=parent.task_id)
        for n in range(3)
    ]
    ids = [kid.task_id for kid in kids]
    run_id, token, _ = await claim_one(dq)

    # one child done, two not: the run sleeps, holding no claim
    first_child = await dq.claim_tasks("children", limit=1, claim_timeout=60)
    await dq.complete_run(first_child[0].run_id, "r0", claim_token=first_child[0].claim_token)
    asleep = await dq.wait_for_tasks(run_id, ids, 60, claim_token=token)
    assert (asleep.status, asleep.tasks) == ("sleeping", None)
    assert await dq.claim_tasks("q", limit=1, claim_timeout=60) == []

    rest = await dq.claim_tasks("children", limit=2, claim_timeout=60)
    for task in rest:
        await dq.complete_run(task.run_id, f"r{task.params['n']}", claim_token=task.claim_token)

    async def parent_again() -> object:
        claimed = await dq.claim_tasks("q", limit=1, claim_timeout=60)
        return claimed[0] if claimed else None

    again = await eventually(parent_again, what="the parent to be claimable again")
    assert again.run_id == run_id  # type: ignore[attr-defined]
    joined = await dq.wait_for_tasks(run_id, ids, 60, claim_token=again.claim_token)  # type: ignore[attr-defined]
    assert joined.status == "completed"
    assert [(o.task_id, o.status, o.result) for o in joined.tasks or []] == [
        (ids[0], "completed", "r0"),
        (ids[1], "completed", "r1"),
        (ids[2], "completed", "r2"),
    ]


async def test_wait_for_tasks_refusals(dq: DurableClient) -> None:
    from durable_queue_client import Conflict

    task = await dq.create_task("q", "parent")
    run_id, token, _ = await claim_one(dq)
    with pytest.raises(ValidationError, match="task_ids"):
        await dq.wait_for_tasks(run_id, [MISSING], 60, claim_token=token)
    with pytest.raises(ValidationError):
        await dq.wait_for_tasks(run_id, [], 60, claim_token=token)
    with pytest.raises(NotFound):
        await dq.wait_for_tasks(MISSING, [task.task_id], 60)
    with pytest.raises(Conflict):
        await dq.wait_for_tasks(run_id, [task.task_id], 60, claim_token="not-the-token")
