"""Spawn and gather in the worker SDK, against the real server, with real `Worker`s in the
test's event loop: a fan-out of 100 children joined with their results in order (the
parent sleeping on the server meanwhile), a child that fails permanently (`ChildFailed`
caught by the parent, or failing it), a gather that times out, and a parent that dies
after spawning 50 of its 100 children and is retried: exactly 100 children."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from durable_queue_client import (
    ChildCounts,
    ChildFailed,
    DurableClient,
    GatherTimeout,
    RetryStrategy,
    TaskContext,
    Worker,
)

from tests.worker_fixtures import finished, running

NO_DELAY = RetryStrategy(kind="fixed", base_seconds=0)


@pytest.fixture
async def dq(server_url: str) -> AsyncIterator[DurableClient]:
    async with DurableClient(server_url, retries=0) as client:
        yield client


def worker_of(dq: DurableClient, queue: str = "w", **options: Any) -> Worker:
    options.setdefault("long_poll_seconds", 2)
    return Worker(dq, queue, **options)


async def children_of(dq: DurableClient, task_id: str) -> list[str]:
    return [task.id async for task in dq.iter_tasks(parent_task_id=task_id, page_size=500)]


async def test_fan_out_of_100_children_joined_in_order(dq: DurableClient) -> None:
    worker = worker_of(dq, concurrency=16)
    executions: Counter[int] = Counter()

    @worker.task()
    async def square(ctx: TaskContext, params: dict[str, int]) -> dict[str, int]:
        await asyncio.sleep(0.001 * (params["n"] % 7))  # finish out of order
        return {"n": params["n"], "square": params["n"] ** 2}

    @worker.task()
    async def fan_out(ctx: TaskContext, params: dict[str, int]) -> dict[str, Any]:
        executions[ctx.attempt] += 1
        children = [await ctx.spawn("square", {"n": n}) for n in range(params["count"])]
        results = await ctx.gather(*children, timeout=120)
        return {"squares": [r["square"] for r in results], "ns": [r["n"] for r in results]}

    async with running(worker):
        parent = await dq.enqueue("w", "fan_out", {"count": 100})
        result = await parent.result(timeout=120)
    assert result["ns"] == list(range(100))
    assert result["squares"] == [n * n for n in range(100)]
    # the first execution spawned and went to sleep; the one woken by the last child
    # found every child checkpointed and joined them (one execution only if every child
    # had ended before the join)
    assert set(executions) == {1} and executions[1] in (1, 2)
    detail = await dq.get_task(parent.task_id)
    assert detail.children == ChildCounts(completed=100)
    assert len(await children_of(dq, parent.task_id)) == 100


async def test_a_child_that_fails_permanently_is_child_failed_in_the_parent(
    dq: DurableClient,
) -> None:
    worker = worker_of(dq)

    @worker.task()
    async def maybe(ctx: TaskContext, params: dict[str, Any]) -> str:
        if params["fail"]:
            raise ValueError(f"child {params['n']} cannot")
        return f"ok {params['n']}"

    @worker.task()
    async def careful(ctx: TaskContext, params: Any) -> dict[str, Any]:
        children = [
            await ctx.spawn(
                "maybe", {"n": n, "fail": n == 2}, max_attempts=2, retry_strategy=NO_DELAY
            )
            for n in range(4)
        ]
        try:
            return {"results": await ctx.gather(*children, timeout=60)}
        except ChildFailed as failed:
            return {
                "failed": failed.task_id,
                "status": failed.status,
                "error": (failed.error or "").splitlines()[0],
                "index": [c.task_id for c in children].index(failed.task_id),
            }

    @worker.task()
    async def careless(ctx: TaskContext, params: Any) -> list[Any]:
        child = await ctx.spawn("maybe", {"n": 9, "fail": True})
        return await ctx.gather(child, timeout=60)

    async with running(worker):
        handled = await dq.enqueue("w", "careful")
        answer = await handled.result(timeout=60)
        unhandled = await dq.create_task("w", "careless")
        failed = await finished(dq, unhandled.task_id)
    assert answer["status"] == "failed" and answer["index"] == 2
    assert answer["error"] == "ValueError: child 2 cannot"  # after its two attempts
    child = await dq.get_task(answer["failed"])
    assert (child.status, child.parent_task_id) == ("failed", handled.task_id)
    assert len(child.runs) == 2
    assert (await dq.get_task(handled.task_id)).children == ChildCounts(completed=3, failed=1)

    assert failed.status == "failed"
    assert failed.error.startswith("durable_queue_client.errors.ChildFailed: child task ")
    assert "ValueError: child 9 cannot" in failed.error


async def test_gather_times_out(dq: DurableClient) -> None:
    await dq.create_queue("slow")  # no worker serves it: its child never runs
    worker = worker_of(dq)

    @worker.task()
    async def impatient(ctx: TaskContext, params: Any) -> dict[str, Any]:
        child = await ctx.spawn("never", queue="slow")
        try:
            await ctx.gather(child, timeout=1)
        except GatherTimeout as timeout:
            return {"pending": timeout.pending, "child": child.task_id}
        raise AssertionError("the child cannot have ended")

    async with running(worker):
        handle = await dq.enqueue("w", "impatient")
        answer = await handle.result(timeout=30)
    assert answer["pending"] == [answer["child"]]
    assert (await dq.get_task(answer["child"])).status == "pending"  # the parent completed


async def test_a_parent_that_died_after_50_children_has_exactly_100(dq: DurableClient) -> None:
    """The first attempt raises after spawning 50 of its 100 children (as a worker killed
    there would leave it); the retry re-executes the handler: the 50 spawns return their
    checkpoints, the other 50 are created, and no child exists twice."""
    await dq.create_queue("kids")  # not served: the children stay pending
    worker = worker_of(dq)
    spawned: Counter[int] = Counter()

    @worker.task()
    async def parent(ctx: TaskContext, params: Any) -> dict[str, Any]:
        ids = []
        for n in range(100):
            if ctx.attempt == 1 and n == 50:
                raise RuntimeError("died after spawning 50 children")
            ids.append((await ctx.spawn("kid", {"n": n}, queue="kids")).task_id)
            spawned[ctx.attempt] += 1
        return {"children": ids}

    async with running(worker):
        created = await dq.create_task("w", "parent", max_attempts=2, retry_strategy=NO_DELAY)
        detail = await finished(dq, created.task_id)
    assert detail.status == "completed", detail
    assert spawned == Counter({1: 50, 2: 100})
    ids = detail.result["children"]
    assert len(ids) == len(set(ids)) == 100
    listed = await children_of(dq, created.task_id)
    assert sorted(listed) == sorted(ids)
    assert detail.children == ChildCounts(pending=100)
    kids = (await dq.get_queue_stats("kids")).tasks_by_status
    assert kids == {"pending": 100}
