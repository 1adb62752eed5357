"""Flow control through the async client against the real server: queue settings (create,
get, PATCH with set / clear / keep), pause and resume, task priority and concurrency key on
creates, claims and PATCH, per-key overrides with keys that need percent-encoding, paging
over keys, and the worker SDK's `ctx.spawn`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from durable_queue_client import (
    ConcurrencyKey,
    Conflict,
    CreateTaskRequest,
    DurableClient,
    KeyLimits,
    NotFound,
    RateLimit,
    RetryStrategy,
    TaskContext,
    ValidationError,
    Worker,
)

from tests.worker_fixtures import finished, running

MISSING_ID = "01900000-0000-7000-8000-000000000000"
DEFAULT_TTL = 259200
ODD_KEYS = ["a/b", "tenant 42", "ünïcødé", "100%", "a?b#c", ".", "..", "-dash", "k" * 255]


@pytest.fixture
async def dq(server_url: str) -> AsyncIterator[DurableClient]:
    async with DurableClient(server_url, retries=0) as client:
        yield client


# -- queue settings -----------------------------------------------------------------------


async def test_create_queue_with_settings_and_get_it(dq: DurableClient) -> None:
    created = await dq.create_queue(
        "limited",
        max_concurrency=25,
        key_concurrency=2,
        rate_limit=RateLimit(limit=50, period_seconds=1),
        key_rate_limit=RateLimit(limit=600, period_seconds=60),
        paused=True,
    )
    assert created.max_concurrency == 25
    assert created.key_concurrency == 2
    assert created.rate_limit == RateLimit(limit=50, period_seconds=1.0)
    assert created.key_rate_limit == RateLimit(limit=600, period_seconds=60.0)
    assert created.paused is True
    assert await dq.get_queue("limited") == created
    plain = await dq.create_queue("plain")
    assert (plain.max_concurrency, plain.key_concurrency, plain.rate_limit) == (None, None, None)
    assert plain.paused is False
    listed = {q.name: q for q in await dq.list_queues()}
    assert listed["limited"] == created
    with pytest.raises(NotFound):
        await dq.get_queue("nope")


async def test_update_queue_sets_clears_and_keeps(dq: DurableClient) -> None:
    await dq.create_queue("q")
    updated = await dq.update_queue(
        "q", max_concurrency=3, rate_limit=RateLimit(limit=10, period_seconds=2)
    )
    assert (updated.max_concurrency, updated.rate_limit) == (
        3,
        RateLimit(limit=10, period_seconds=2.0),
    )
    # what is left out stays
    updated = await dq.update_queue("q", key_concurrency=1)
    assert (updated.max_concurrency, updated.key_concurrency) == (3, 1)
    assert updated.rate_limit == RateLimit(limit=10, period_seconds=2.0)
    # None clears
    updated = await dq.update_queue("q", max_concurrency=None, rate_limit=None)
    assert (updated.max_concurrency, updated.rate_limit, updated.key_concurrency) == (
        None,
        None,
        1,
    )
    # nothing given: no change
    assert await dq.update_queue("q") == updated
    # cleanup: a ttl set, then restored to its default with None
    updated = await dq.update_queue("q", task_ttl_seconds=60, event_ttl_seconds=0)
    assert updated.cleanup is not None
    assert (updated.cleanup.task_ttl_seconds, updated.cleanup.event_ttl_seconds) == (60, 0)
    updated = await dq.update_queue("q", task_ttl_seconds=None)
    assert updated.cleanup is not None
    assert (updated.cleanup.task_ttl_seconds, updated.cleanup.event_ttl_seconds) == (
        DEFAULT_TTL,
        0,
    )
    assert await dq.get_queue("q") == updated


async def test_update_queue_errors(dq: DurableClient) -> None:
    with pytest.raises(NotFound):
        await dq.update_queue("nope", max_concurrency=1)
    await dq.create_queue("q")
    with pytest.raises(ValidationError):
        await dq.update_queue("q", max_concurrency=0)
    with pytest.raises(ValidationError):
        await dq.update_queue("q", rate_limit=RateLimit(limit=1, period_seconds=0))
    with pytest.raises(ValidationError):
        await dq.update_queue("q", key_rate_limit=RateLimit(limit=1, period_seconds=86401))


async def test_pause_holds_claims_and_resume_wakes_a_long_poll(dq: DurableClient) -> None:
    await dq.create_queue("q")
    assert (await dq.pause_queue("q")).paused is True
    created = await dq.create_task("q", "job")  # creates are accepted while paused
    assert await dq.claim_tasks("q", limit=1) == []
    stats = await dq.get_queue_stats("q")
    assert stats.held_back_runs == 1
    poll = asyncio.create_task(dq.claim_tasks("q", limit=1, long_poll_seconds=10))
    await asyncio.sleep(0.3)
    assert not poll.done()
    assert (await dq.resume_queue("q")).paused is False
    [task] = await asyncio.wait_for(poll, timeout=5)
    assert task.task_id == created.task_id


# -- tasks --------------------------------------------------------------------------------


async def test_priority_and_key_on_create_get_and_claim(dq: DurableClient) -> None:
    await dq.create_queue("q")
    low = await dq.create_task("q", "job", priority=-5, concurrency_key="tenant/1")
    high = await dq.create_task("q", "job", priority=10)
    detail = await dq.get_task(low.task_id)
    assert (detail.priority, detail.concurrency_key) == (-5, "tenant/1")
    detail = await dq.get_task(high.task_id)
    assert (detail.priority, detail.concurrency_key) == (10, None)
    first, second = await dq.claim_tasks("q", limit=2)
    assert (first.task_id, first.priority, first.concurrency_key) == (high.task_id, 10, None)
    assert (second.task_id, second.priority, second.concurrency_key) == (
        low.task_id,
        -5,
        "tenant/1",
    )


async def test_batch_create_carries_priority_and_key(dq: DurableClient) -> None:
    await dq.create_queue("q")
    created = await dq.create_tasks(
        "q",
        [
            CreateTaskRequest(task_name="a", priority=1, concurrency_key="k"),
            CreateTaskRequest(task_name="b", priority=1000),
            CreateTaskRequest(task_name="c"),
        ],
    )
    details = [await dq.get_task(c.task_id) for c in created]
    assert [(d.priority, d.concurrency_key) for d in details] == [(1, "k"), (1000, None), (0, None)]
    claimed = await dq.claim_tasks("q", limit=3)
    assert [t.task_name for t in claimed] == ["b", "a", "c"]


async def test_create_refuses_out_of_range_priority_and_bad_keys(dq: DurableClient) -> None:
    await dq.create_queue("q")
    for bad in ({"priority": 1001}, {"priority": -1001}, {"concurrency_key": ""}):
        with pytest.raises(ValidationError):
            await dq.create_task("q", "job", **bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        await dq.create_task("q", "job", concurrency_key="k" * 256)


async def test_set_task_priority(dq: DurableClient) -> None:
    await dq.create_queue("q")
    first = await dq.create_task("q", "job")
    second = await dq.create_task("q", "job")
    detail = await dq.set_task_priority(second.task_id, 7)
    assert (detail.id, detail.priority) == (second.task_id, 7)
    assert (await dq.get_task(second.task_id)).priority == 7
    [claimed] = await dq.claim_tasks("q", limit=1)
    assert claimed.task_id == second.task_id  # its pending run took the new priority
    assert claimed.priority == 7
    await dq.complete_run(claimed.run_id, claim_token=claimed.claim_token)
    with pytest.raises(Conflict):
        await dq.set_task_priority(second.task_id, 1)
    with pytest.raises(NotFound):
        await dq.set_task_priority(MISSING_ID, 1)
    with pytest.raises(ValidationError):
        await dq.set_task_priority(first.task_id, 5000)


# -- concurrency keys ---------------------------------------------------------------------


async def test_key_limit_holds_claims_and_shows_in_the_listing(dq: DurableClient) -> None:
    await dq.create_queue("q", key_concurrency=1)
    for _ in range(3):
        await dq.create_task("q", "job", concurrency_key="a")
    await dq.create_task("q", "job", concurrency_key="b")
    claimed = await dq.claim_tasks("q", limit=4)
    assert sorted(t.concurrency_key or "" for t in claimed) == ["a", "b"]
    stats = await dq.get_queue_stats("q")
    assert stats.held_back_runs == 2
    page = await dq.list_keys("q")
    assert page.next_cursor is None
    assert [(k.key, k.in_flight, k.pending, k.max_concurrency) for k in page.keys] == [
        ("a", 1, 2, 1),
        ("b", 1, 0, 1),
    ]
    assert all(k.override is None for k in page.keys)


async def test_set_list_and_delete_key_overrides_with_odd_keys(dq: DurableClient) -> None:
    await dq.create_queue(
        "q", key_concurrency=4, key_rate_limit=RateLimit(limit=9, period_seconds=3)
    )
    for key in ODD_KEYS:
        answer = await dq.set_key("q", key, max_concurrency=2)
        assert isinstance(answer, ConcurrencyKey)
        assert answer.key == key
        assert answer.override == KeyLimits(max_concurrency=2, rate_limit=None)
        assert answer.max_concurrency == 2
        assert answer.rate_limit == RateLimit(limit=9, period_seconds=3.0)  # the default's
    listed = [k async for k in dq.iter_keys("q", page_size=2)]
    assert sorted(k.key for k in listed) == sorted(ODD_KEYS)  # each once, across pages
    assert all(k.override == KeyLimits(max_concurrency=2) for k in listed)
    # a PUT replaces the override whole
    answer = await dq.set_key("q", "a/b", rate_limit=RateLimit(limit=1, period_seconds=0.5))
    assert answer.override == KeyLimits(rate_limit=RateLimit(limit=1, period_seconds=0.5))
    assert answer.max_concurrency == 4
    for key in ODD_KEYS:
        await dq.delete_key("q", key)
    assert (await dq.list_keys("q")).keys == []
    with pytest.raises(NotFound):
        await dq.delete_key("q", "a/b")


async def test_key_paging_by_cursor(dq: DurableClient) -> None:
    await dq.create_queue("q")
    for key in ("k1", "k2", "k3"):
        await dq.set_key("q", key, max_concurrency=1)
    first = await dq.list_keys("q", limit=2)
    assert [k.key for k in first.keys] == ["k1", "k2"]
    assert first.next_cursor == "k2"
    second = await dq.list_keys("q", cursor=first.next_cursor, limit=2)
    assert [k.key for k in second.keys] == ["k3"]
    assert second.next_cursor is None


async def test_key_errors(dq: DurableClient) -> None:
    with pytest.raises(NotFound):
        await dq.set_key("nope", "k", max_concurrency=1)
    with pytest.raises(NotFound):
        await dq.list_keys("nope")
    await dq.create_queue("q")
    with pytest.raises(ValidationError):
        await dq.set_key("q", "k" * 256, max_concurrency=1)
    with pytest.raises(ValidationError):
        await dq.set_key("q", "k", max_concurrency=0)
    with pytest.raises(NotFound):
        await dq.delete_key("q", "never-set")


# -- worker SDK ---------------------------------------------------------------------------


async def test_spawn_passes_priority_and_key_once_per_task(dq: DurableClient) -> None:
    worker = Worker(dq, "w", long_poll_seconds=2)
    spawned: list[str] = []
    contexts: list[tuple[int | None, str | None]] = []

    @worker.task()
    async def parent(ctx: TaskContext, params: dict[str, int]) -> dict[str, str]:
        contexts.append((ctx.priority, ctx.concurrency_key))
        child = await ctx.spawn(
            "child",
            {"n": params["n"]},
            queue="children",
            priority=ctx.priority,
            concurrency_key=ctx.concurrency_key,
        )
        spawned.append(child.task_id)
        if ctx.attempt == 1:
            raise RuntimeError("fail once: the retry must not spawn again")
        return {"child": child.task_id}

    await dq.create_queue("children")
    async with running(worker):
        created = await dq.create_task(
            "w",
            "parent",
            params={"n": 1},
            priority=42,
            concurrency_key="tenant/7",
            max_attempts=2,
            retry_strategy=RetryStrategy(kind="fixed", base_seconds=0),
        )
        detail = await finished(dq, created.task_id)
    assert detail.status == "completed", detail
    assert contexts == [(42, "tenant/7"), (42, "tenant/7")]
    assert len(set(spawned)) == 1
    child = await dq.get_task(spawned[0])
    assert (child.queue_name, child.priority, child.concurrency_key) == (
        "children",
        42,
        "tenant/7",
    )
    assert child.params == {"n": 1}
    assert child.idempotency_key == f"{created.task_id}:spawn:child"
    assert len((await dq.list_tasks(queue_name="children")).tasks) == 1
