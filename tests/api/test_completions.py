"""CompletionBatcher (clients/python): completions gathered into complete_runs calls, by size
and by delay, each add answered with its own run's outcome, against the real server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest
from durable_queue_client import (
    ClaimedTask,
    CompletionBatcher,
    ConnectionFailed,
    DurableClient,
    RunCompletion,
    RunCompletionResult,
)

MISSING_ID = "01900000-0000-7000-8000-000000000000"
NEVER = 3600.0  # a max_delay that never fires within a test: only size or flush sends


class CountingClient(DurableClient):
    """The client, recording the size of every complete_runs call."""

    calls: list[int]

    async def complete_runs(self, runs: Sequence[RunCompletion]) -> list[RunCompletionResult]:
        self.calls.append(len(runs))
        return await super().complete_runs(runs)


@pytest.fixture
async def dq(server_url: str) -> AsyncIterator[CountingClient]:
    async with CountingClient(server_url, retries=0) as client:
        client.calls = []
        yield client


async def claimed(dq: DurableClient, queue: str, count: int) -> list[ClaimedTask]:
    await dq.create_queue(queue)
    for i in range(count):
        await dq.create_task(queue, "t", params={"i": i})
    tasks = await dq.claim_tasks(queue, limit=count)
    assert len(tasks) == count
    return tasks


async def test_a_full_batch_is_sent_at_once(dq: CountingClient) -> None:
    tasks = await claimed(dq, "full", 3)
    batcher = CompletionBatcher(dq, max_batch=3, max_delay=NEVER)
    outcomes = [batcher.add(t.run_id, result={"n": i}) for i, t in enumerate(tasks)]
    assert [o.status for o in await asyncio.gather(*outcomes)] == ["completed"] * 3
    assert dq.calls == [3] and batcher.waiting == 0
    for i, task in enumerate(tasks):
        assert (await dq.get_task(task.task_id)).result == {"n": i}


async def test_fewer_than_a_batch_go_out_after_the_delay(dq: CountingClient) -> None:
    tasks = await claimed(dq, "delay", 2)
    batcher = CompletionBatcher(dq, max_batch=100, max_delay=0.001)
    outcomes = [batcher.add(t.run_id, claim_token=t.claim_token) for t in tasks]
    # nobody flushes: the timer sends them
    assert [o.status for o in await asyncio.gather(*outcomes)] == ["completed"] * 2
    assert dq.calls == [2]


async def test_more_than_a_batch_is_split_and_flush_sends_the_rest(dq: CountingClient) -> None:
    tasks = await claimed(dq, "split", 7)
    async with CompletionBatcher(dq, max_batch=3, max_delay=NEVER) as batcher:
        outcomes = [batcher.add(t.run_id) for t in tasks]
        assert batcher.waiting == 1
    # leaving the block flushed the last one and waited for every batch
    assert all(o.done() and o.result().status == "completed" for o in outcomes)
    assert dq.calls == [3, 3, 1]


async def test_each_add_gets_its_own_outcome(dq: CountingClient) -> None:
    first, second = await claimed(dq, "outcomes", 2)
    async with CompletionBatcher(dq, max_batch=10, max_delay=NEVER) as batcher:
        done = batcher.add(first.run_id, claim_token=first.claim_token)
        missing = batcher.add(MISSING_ID)
        stale = batcher.add(second.run_id, claim_token=first.claim_token)  # not its token
        twice = batcher.add(first.run_id)
    assert done.result().status == "completed"
    assert missing.result().status == "not_found" and missing.result().error
    assert stale.result().status == "conflict" and stale.result().error
    assert twice.result().status == "conflict"
    assert dq.calls == [4]
    assert (await dq.get_task(second.task_id)).status == "pending"  # its run still claimed


async def test_a_failed_call_fails_its_batch(unused_tcp_port: int) -> None:
    async with DurableClient(f"http://127.0.0.1:{unused_tcp_port}", retries=0) as dead:
        batcher = CompletionBatcher(dead, max_batch=2, max_delay=NEVER)
        outcomes = [batcher.add(MISSING_ID), batcher.add(MISSING_ID)]
        await batcher.flush()
        for outcome in outcomes:
            with pytest.raises(ConnectionFailed):
                outcome.result()


@pytest.mark.parametrize(("max_batch", "max_delay"), [(0, 0.01), (1001, 0.01), (10, -1.0)], ids=str)
def test_bounds_are_checked(max_batch: int, max_delay: float) -> None:
    with pytest.raises(ValueError, match="max_"):
        CompletionBatcher(
            DurableClient("http://127.0.0.1:1"), max_batch=max_batch, max_delay=max_delay
        )
