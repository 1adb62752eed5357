"""Flow control in the claim (issue 23, docs/flow-control.md): concurrency limits per queue
and per key, exact at every instant; no head-of-line blocking; fair sharing across keys;
priority; pause; claim expiry and every other way a run leaves `claimed` freeing its slot;
limits changed between claims applying to the next one.

Every check reads what the store answered or what the database recorded; nothing sleeps.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections import Counter
from typing import Any

import pytest

from durable_queue.commands import KeyOverride, NewTask, QueueFlow, QueuePatch
from durable_queue.errors import Conflict, NotFound
from durable_queue.maintenance import Maintenance
from durable_queue.store import Store
from durable_queue.wire import ClaimedTask
from tests.helpers import run_sql

TIMEOUT = 600  # claim timeout of the claims below: no claim expires unless a test says so


# -- helpers -------------------------------------------------------------------------


async def flow_queue(store: Store, name: str, **flow: Any) -> None:
    await store.create_queue(name, None, None, flow=QueueFlow(**flow))


async def patch_queue(store: Store, name: str, **flow: Any) -> None:
    await store.update_queue(name, QueuePatch(given=frozenset(flow), flow=QueueFlow(**flow)))


async def add(
    store: Store, queue: str, label: Any, *, key: str | None = None, priority: int = 0, **more: Any
) -> uuid.UUID:
    """Create a task whose params are `label`; its task id."""
    created, _ = await store.create_task(
        queue,
        NewTask(task_name="t", params=label, concurrency_key=key, priority=priority, **more),
    )
    return created.task_id


async def add_many(
    store: Store, queue: str, labels: list[Any], *, key: str | None = None, priority: int = 0
) -> None:
    """Create tasks in batches of 1,000 (one statement each), in the order given."""
    for start in range(0, len(labels), 1000):
        batch = [
            NewTask(task_name="t", params=label, concurrency_key=key, priority=priority)
            for label in labels[start : start + 1000]
        ]
        answer = await store.create_tasks(queue, batch)
        assert len(json.loads(answer.text)["tasks"]) == len(batch)


async def claim(store: Store, queue: str = "q", limit: int = 100) -> list[ClaimedTask]:
    return await store.claim(queue, limit, TIMEOUT)


async def labels(store: Store, queue: str = "q", limit: int = 100) -> list[Any]:
    return [task.params for task in await claim(store, queue, limit)]


async def claim_all_one_by_one(store: Store, queue: str = "q") -> list[Any]:
    """Labels in claim order, one claim per run, until a claim finds nothing."""
    order = []
    while claimed := await claim(store, queue, 1):
        assert len(claimed) == 1
        order.append(claimed[0].params)
    return order


async def complete(store: Store, *tasks: ClaimedTask) -> None:
    for task in tasks:
        await store.complete_run(task.run_id, None, claim_token=task.claim_token)


def ago(seconds: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)


@pytest.fixture
def sweeper(store: Store, database_url: str) -> Maintenance:
    return Maintenance(store.pool, database_url, interval=1.0, max_claim_expiries=3)


# -- concurrency limits ----------------------------------------------------------------


async def test_key_concurrency_caps_each_key_and_a_completion_frees_one_slot(store):
    await flow_queue(store, "k", key_concurrency=2)
    for i in range(5):
        await add(store, "k", f"a{i}", key="a")
    for i in range(3):
        await add(store, "k", f"b{i}", key="b")
    first = await claim(store, "k", 100)
    assert Counter(t.concurrency_key for t in first) == {"a": 2, "b": 2}
    assert {t.params for t in first} == {"a0", "a1", "b0", "b1"}  # each key's oldest
    assert await claim(store, "k", 100) == []
    await complete(store, next(t for t in first if t.params == "a0"))
    assert await labels(store, "k") == ["a2"]
    assert await claim(store, "k", 100) == []


async def test_max_concurrency_caps_the_queue_across_keys_and_unkeyed_runs(store):
    await flow_queue(store, "m", max_concurrency=3)
    for i in range(4):
        await add(store, "m", f"a{i}", key="a")
        await add(store, "m", f"u{i}")
    first = await claim(store, "m", 100)
    assert len(first) == 3
    assert await claim(store, "m", 100) == []
    await complete(store, *first[:2])
    assert len(await claim(store, "m", 100)) == 2
    assert await claim(store, "m", 1) == []


async def test_concurrent_claims_never_exceed_the_queue_limit(store):
    """Twenty claims at once on ten connections: the limit holds (claims serialize)."""
    await flow_queue(store, "c", max_concurrency=5, key_concurrency=2)
    await add_many(store, "c", list(range(30)), key="x")
    await add_many(store, "c", list(range(30, 60)), key="y")
    await add_many(store, "c", list(range(60, 90)))  # unkeyed
    results = await asyncio.gather(*(claim(store, "c", 3) for _ in range(20)))
    claimed = [t for batch in results for t in batch]
    assert len(claimed) == 5
    keys = Counter(t.concurrency_key for t in claimed)
    assert keys["x"] <= 2 and keys["y"] <= 2


async def test_a_key_override_replaces_the_default_and_delete_restores_it(store):
    await flow_queue(store, "o", key_concurrency=2)
    key = await store.put_key_override("o", "hot", KeyOverride(max_concurrency=1))
    assert (key.key, key.max_concurrency) == ("hot", 1)
    assert key.override is not None and key.override.max_concurrency == 1
    for i in range(4):
        await add(store, "o", f"hot{i}", key="hot")
        await add(store, "o", f"cold{i}", key="cold")
    first = await claim(store, "o", 100)
    assert Counter(t.concurrency_key for t in first) == {"hot": 1, "cold": 2}
    await store.delete_key_override("o", "hot")
    assert await labels(store, "o") == ["hot1"]  # the default (2) applies again
    with pytest.raises(NotFound):
        await store.delete_key_override("o", "hot")


async def test_an_override_limits_a_key_of_a_queue_without_defaults(store):
    """Only an override set: the queue takes the limited path for that key alone."""
    await store.put_key_override("q", "one", KeyOverride(max_concurrency=1))
    for i in range(3):
        await add(store, "q", f"one{i}", key="one")
        await add(store, "q", f"free{i}", key="free")
    first = await claim(store, "q", 100)
    assert Counter(t.concurrency_key for t in first) == {"one": 1, "free": 3}


@pytest.mark.parametrize("leave", ["complete", "fail", "retry", "schedule", "wait", "cancel"])
async def test_every_way_out_of_claimed_frees_the_slot(store, leave):
    await flow_queue(store, "s", key_concurrency=1)
    retry = {"max_attempts": 2, "retry_strategy": {"kind": "fixed", "base_seconds": 3600}}
    holder_task = await add(store, "s", "holder", key="k", **(retry if leave == "retry" else {}))
    await add(store, "s", "next", key="k")
    [holder] = await claim(store, "s")
    assert holder.params == "holder"
    assert await claim(store, "s") == []  # the key is at its limit
    token = holder.claim_token
    if leave == "complete":
        await store.complete_run(holder.run_id, 1, claim_token=token)
    elif leave in ("fail", "retry"):
        await store.fail_run(holder.run_id, "boom", claim_token=token)
    elif leave == "schedule":
        await store.schedule_run(holder.run_id, ago(-3600), claim_token=token)
    elif leave == "wait":
        outcome = await store.wait_for_event(
            holder.run_id,
            task_id=holder_task,
            event_name="never",
            step_name="w",
            timeout_seconds=3600,
            claim_token=token,
        )
        assert outcome.status == "sleeping"
    else:
        await store.cancel_task(holder_task)
    assert await labels(store, "s") == ["next"]


async def test_an_expired_claim_frees_its_slot_when_the_sweep_fails_it(store, sweeper, db):
    await flow_queue(store, "e", key_concurrency=1)
    await add(store, "e", "holder", key="k")
    await add(store, "e", "next", key="k")
    [holder] = await store.claim("e", 1, 1)  # a one-second claim
    # its second passes (moved back rather than waited for)
    run_sql(
        db,
        "UPDATE runs SET claim_expires_at = now() - interval '1 second' WHERE id = %s",
        holder.run_id,
    )
    # expired, but still claimed until the sweep fails it: the slot is still held
    assert await claim(store, "e") == []
    report = await sweeper.sweep_once()
    assert report.expired_claims == 1
    [(status,)] = run_sql(db, "SELECT status FROM runs WHERE id = %s", holder.run_id)
    assert status == "failed"
    assert await labels(store, "e") == ["next"]


async def test_an_expired_claim_with_attempts_left_goes_back_in_line(store, sweeper, db):
    """The retry keeps its key and priority and waits behind the key's pending run."""
    await flow_queue(store, "e", key_concurrency=1)
    await add(store, "e", "holder", key="k", priority=3, max_attempts=2)
    await add(store, "e", "next", key="k", priority=3)
    [holder] = await store.claim("e", 1, 1)
    assert holder.params == "holder"
    run_sql(db, "UPDATE runs SET claim_expires_at = now() - interval '1 second'")
    assert (await sweeper.sweep_once()).retried_runs == 1
    [second] = await claim(store, "e")
    assert second.params == "next"  # the retry took a rank behind the key's pending run
    await complete(store, second)
    [retry] = await claim(store, "e")
    assert (retry.params, retry.attempt) == ("holder", 2)
    assert (retry.priority, retry.concurrency_key) == (3, "k")


# -- changing limits -------------------------------------------------------------------


async def test_raising_and_lowering_a_limit_applies_to_the_next_claim(store):
    await flow_queue(store, "p", key_concurrency=1)
    for i in range(6):
        await add(store, "p", i, key="k")
    first = await claim(store, "p")
    assert [t.params for t in first] == [0]
    await patch_queue(store, "p", key_concurrency=3)
    second = await claim(store, "p")
    assert [t.params for t in second] == [1, 2]  # 3 slots, one held
    await patch_queue(store, "p", key_concurrency=1)
    await complete(store, *first, second[0])
    assert await claim(store, "p") == []  # one still claimed: at the new limit
    await complete(store, second[1])
    assert await labels(store, "p") == [3]
    await patch_queue(store, "p", key_concurrency=None)  # cleared: no limit
    assert await labels(store, "p") == [4, 5]


async def test_a_queue_limit_set_on_a_busy_queue_counts_runs_claimed_before(store):
    """Runs claimed while the queue had no limit hold slots once one is set."""
    await add_many(store, "q", list(range(10)))
    early = await claim(store, "q", 4)
    assert len(early) == 4
    await patch_queue(store, "q", max_concurrency=5)
    assert len(await claim(store, "q", 100)) == 1
    await complete(store, *early)
    assert len(await claim(store, "q", 100)) == 4


async def test_update_queue_changes_only_what_is_given(store):
    await flow_queue(store, "u", max_concurrency=7, key_concurrency=2)
    queue = await store.update_queue(
        "u", QueuePatch(given=frozenset({"paused"}), flow=QueueFlow(paused=True))
    )
    assert queue.flow == QueueFlow(max_concurrency=7, key_concurrency=2, paused=True)
    queue = await store.update_queue("u", QueuePatch(given=frozenset()))
    assert queue.flow == QueueFlow(max_concurrency=7, key_concurrency=2, paused=True)
    assert (await store.get_queue("u")).flow == queue.flow
    with pytest.raises(NotFound):
        await store.update_queue("nope", QueuePatch(given=frozenset()))


# -- no head-of-line blocking ----------------------------------------------------------


async def test_a_key_at_its_limit_does_not_block_other_keys_of_lower_priority(store):
    await flow_queue(store, "h", key_concurrency=1)
    await add(store, "h", "a-holder", key="a", priority=100)
    [holder] = await claim(store, "h", 1)
    assert holder.params == "a-holder"
    await add_many(store, "h", [f"a{i}" for i in range(50)], key="a", priority=100)
    await add(store, "h", "b", key="b", priority=0)
    await add(store, "h", "u", priority=-5)
    assert await labels(store, "h", 5) == ["b", "u"]
    stats = await store.queue_stats("h")
    assert stats.held_back_runs == 50


async def test_a_queue_at_its_limit_holds_back_everything(store):
    await flow_queue(store, "full", max_concurrency=2)
    await add_many(store, "full", list(range(5)))
    assert len(await claim(store, "full")) == 2
    stats = await store.queue_stats("full")
    assert (stats.max_concurrency, stats.held_back_runs) == (2, 3)


# -- pause -----------------------------------------------------------------------------


async def test_a_paused_queue_hands_out_nothing_and_accepts_creates(store):
    await flow_queue(store, "z", paused=True)
    await add(store, "z", "made-while-paused", key="k")
    await add(store, "z", "unkeyed")
    assert await claim(store, "z") == []
    claimed, _ = await store.claim_or_due("z", 10, TIMEOUT)
    assert claimed == []
    assert (await store.queue_stats("z")).held_back_runs == 2
    await patch_queue(store, "z", paused=False)
    assert sorted(await labels(store, "z")) == ["made-while-paused", "unkeyed"]


async def test_pausing_a_plain_queue_stops_its_claims(store):
    """A queue with no limit (the fast path) pauses too."""
    await add_many(store, "q", list(range(3)))
    assert await labels(store, "q", 1) == [0]
    await patch_queue(store, "q", paused=True)
    assert await claim(store, "q") == []
    await patch_queue(store, "q", paused=None)  # null: not paused
    assert await labels(store, "q") == [1, 2]


# -- fair sharing ----------------------------------------------------------------------


async def test_a_small_key_created_after_a_large_one_is_served_within_200_claims(store):
    await add_many(store, "q", [f"a{i}" for i in range(10_000)], key="A")
    await add_many(store, "q", [f"b{i}" for i in range(10)], key="B")
    first = []
    for _ in range(200):
        [task] = await claim(store, "q", 1)
        first.append(task.params)
    assert {f"b{i}" for i in range(10)} <= set(first)
    # rounds: one run per key per round, so B is done by claim 20
    assert {f"b{i}" for i in range(10)} <= set(first[:20])


async def test_a_new_key_starts_at_the_current_round(store):
    """After 500 of A's runs went (claimed in batches of 10, completed), B's first
    run joins the round A's head is in, not round 0 nor the back of A's line."""
    await add_many(store, "q", [f"a{i}" for i in range(10_000)], key="A")
    for _ in range(50):
        batch = await claim(store, "q", 10)
        assert [t.concurrency_key for t in batch] == ["A"] * 10
        await complete(store, *batch)
    await add_many(store, "q", [f"b{i}" for i in range(10)], key="B")
    nxt = [t.params for _ in range(2) for t in await claim(store, "q", 10)]
    assert {f"b{i}" for i in range(10)} <= set(nxt)


async def test_keys_take_turns_one_run_per_round(store):
    for key in "xyz":
        await add_many(store, "q", [f"{key}{i}" for i in range(3)], key=key)
    assert await claim_all_one_by_one(store) == [
        "x0", "y0", "z0", "x1", "y1", "z1", "x2", "y2", "z2",
    ]  # fmt: skip


async def test_keys_take_turns_in_batches_too(store):
    for key in "xy":
        await add_many(store, "q", [f"{key}{i}" for i in range(4)], key=key)
    assert await labels(store, "q", 3) == ["x0", "y0", "x1"]
    assert await labels(store, "q", 3) == ["y1", "x2", "y2"]


# -- priority --------------------------------------------------------------------------


async def test_within_a_key_higher_priority_first_then_creation_order(store):
    for label, priority in [("p0-first", 0), ("p5-first", 5), ("p5-second", 5), ("p-3", -3),
                            ("p10", 10), ("p0-second", 0)]:  # fmt: skip
        await add(store, "q", label, key="k", priority=priority)
    assert await claim_all_one_by_one(store) == [
        "p10", "p5-first", "p5-second", "p0-first", "p0-second", "p-3",
    ]  # fmt: skip


async def test_a_higher_priority_run_of_another_key_goes_first(store):
    await add_many(store, "q", [f"a{i}" for i in range(3)], key="a")
    await add(store, "q", "b-high", key="b", priority=5)
    await add(store, "q", "u-higher", priority=6)
    await add(store, "q", "c-low", key="c", priority=-1)
    assert await claim_all_one_by_one(store) == ["u-higher", "b-high", "a0", "a1", "a2", "c-low"]


async def test_claimed_tasks_and_task_detail_carry_priority_and_key(store):
    task_id = await add(store, "q", "x", key="k", priority=-1000)
    plain_id = await add(store, "q", "y")
    detail = await store.get_task(task_id)
    assert (detail.priority, detail.concurrency_key) == (-1000, "k")
    plain = await store.get_task(plain_id)
    assert (plain.priority, plain.concurrency_key) == (0, None)
    by_label = {t.params: t for t in await claim(store, "q")}
    assert (by_label["x"].priority, by_label["x"].concurrency_key) == (-1000, "k")
    assert (by_label["y"].priority, by_label["y"].concurrency_key) == (0, None)


async def test_unkeyed_runs_of_equal_priority_go_oldest_due_first(store):
    """An ordered queue (it has seen a priority) still orders unkeyed runs by due time."""
    for label, seconds_ago in [("due-1s", 1), ("due-3s", 3), ("due-2s", 2)]:
        await add(store, "q", label, run_at=ago(seconds_ago))
    await add(store, "q", "high", priority=1)
    assert await claim_all_one_by_one(store) == ["high", "due-3s", "due-2s", "due-1s"]


async def test_a_plain_queue_keeps_oldest_due_first(store, db):
    for label, seconds_ago in [("due-1s", 1), ("due-3s", 3), ("due-2s", 2), ("due-0s", 0)]:
        await add(store, "q", label, run_at=ago(seconds_ago))
    assert await claim_all_one_by_one(store) == ["due-3s", "due-2s", "due-1s", "due-0s"]
    [(ordered, ranks)] = run_sql(
        db,
        "SELECT q.ordered, (SELECT count(*) FROM runs r WHERE r.fair_rank <> 0)"
        " FROM queues q WHERE q.name = 'q'",
    )
    assert (ordered, ranks) == (False, 0)


async def test_set_task_priority_reorders_a_pending_task(store):
    ids = [await add(store, "q", label, key="k") for label in ("t1", "t2", "t3")]
    detail = await store.set_task_priority(ids[2], 10)
    assert detail.priority == 10
    assert (await store.get_task(ids[2])).priority == 10
    assert await claim_all_one_by_one(store) == ["t3", "t1", "t2"]


async def test_set_task_priority_across_unkeyed_runs(store):
    ids = [await add(store, "q", label) for label in ("t1", "t2", "t3")]
    await store.set_task_priority(ids[1], -1)
    await store.set_task_priority(ids[2], 1)
    assert await claim_all_one_by_one(store) == ["t3", "t1", "t2"]


async def test_set_task_priority_on_a_finished_task_is_a_conflict(store):
    done = await add(store, "q", "done")
    canceled = await add(store, "q", "canceled")
    await store.cancel_task(canceled)
    [task] = await claim(store, "q")
    await complete(store, task)
    for task_id in (done, canceled):
        with pytest.raises(Conflict):
            await store.set_task_priority(task_id, 5)
    with pytest.raises(NotFound):
        await store.set_task_priority(uuid.uuid4(), 5)


async def test_set_task_priority_of_a_claimed_task_applies_to_its_retry(store):
    task_id = await add(
        store, "q", "retried", max_attempts=2, retry_strategy={"kind": "fixed", "base_seconds": 0}
    )
    await add(store, "q", "other")
    [first] = await claim(store, "q", 1)
    assert first.params == "retried"
    await store.set_task_priority(task_id, 9)
    await store.fail_run(first.run_id, "boom", claim_token=first.claim_token)
    [retry] = await claim(store, "q", 1)
    assert (retry.params, retry.attempt, retry.priority) == ("retried", 2, 9)


# -- ranks: batches, retries, releases -------------------------------------------------


async def test_one_batch_of_several_keys_takes_turns(store):
    batch = [
        NewTask(task_name="t", params=f"{key}{i}", concurrency_key=key, priority=priority)
        for key, priority in (("x", 0), ("y", 0), ("h", 1))
        for i in range(3)
    ]
    await store.create_tasks("q", batch)
    assert await claim_all_one_by_one(store) == [
        "h0", "h1", "h2", "x0", "y0", "x1", "y1", "x2", "y2",
    ]  # fmt: skip


async def test_a_retry_after_a_failure_goes_to_the_back_of_its_keys_line(store):
    retry = {"max_attempts": 2, "retry_strategy": {"kind": "fixed", "base_seconds": 0}}
    await add(store, "q", "failing", key="k", **retry)
    await add(store, "q", "second", key="k")
    await add(store, "q", "third", key="k")
    [failing] = await claim(store, "q", 1)
    assert failing.params == "failing"
    await store.fail_run(failing.run_id, "boom", claim_token=failing.claim_token)
    assert await claim_all_one_by_one(store) == ["second", "third", "failing"]


async def test_a_released_run_keeps_its_place_in_its_keys_line(store):
    """A run moved by schedule (released by its claim) keeps its rank."""
    await flow_queue(store, "r", key_concurrency=1)
    for label in ("first", "second", "third"):
        await add(store, "r", label, key="k")
    [first] = await claim(store, "r", 1)
    await store.schedule_run(first.run_id, ago(0), claim_token=first.claim_token)
    order = []
    while claimed := await claim(store, "r", 10):
        assert len(claimed) == 1  # the key's limit
        order.append(claimed[0].params)
        await complete(store, *claimed)
    assert order == ["first", "second", "third"]


async def test_a_woken_run_keeps_its_place_in_its_keys_line(store):
    task_id = await add(store, "q", "waiting", key="k")
    await add(store, "q", "second", key="k")
    [waiting] = await claim(store, "q", 1)
    outcome = await store.wait_for_event(
        waiting.run_id,
        task_id=task_id,
        event_name="go",
        step_name="w",
        timeout_seconds=3600,
        claim_token=waiting.claim_token,
    )
    assert outcome.status == "sleeping"
    await store.set_task_priority(task_id, 0)  # a sleeping run's task may be changed
    await store.emit_event("go")
    assert await claim_all_one_by_one(store) == ["waiting", "second"]


async def test_set_task_priority_changes_a_sleeping_run(store):
    task_id = await add(store, "q", "sleeper", key="k")
    [run] = await claim(store, "q", 1)
    await store.wait_for_event(
        run.run_id,
        task_id=task_id,
        event_name="go",
        step_name="w",
        timeout_seconds=3600,
        claim_token=run.claim_token,
    )
    await add(store, "q", "other", key="o", priority=5)
    await store.set_task_priority(task_id, 9)
    await store.emit_event("go")
    [first] = await claim(store, "q", 1)
    assert (first.params, first.priority) == ("sleeper", 9)


# -- limits set while runs are claimed -------------------------------------------------


async def test_an_override_set_while_runs_of_the_key_are_claimed_counts_them(store):
    """Runs claimed on the fast path (no limit then) hold slots once an override applies."""
    for i in range(5):
        await add(store, "q", i, key="k")
    early = await claim(store, "q", 3)
    assert len(early) == 3
    await store.put_key_override("q", "k", KeyOverride(max_concurrency=2))
    assert await claim(store, "q") == []
    await complete(store, early[0])
    assert await claim(store, "q") == []  # two of the three still held: at the limit
    await complete(store, early[1])
    assert await labels(store, "q") == [3]


async def test_limits_of_one_queue_leave_other_queues_alone(store):
    await flow_queue(store, "limited", max_concurrency=1, key_concurrency=1)
    for queue in ("limited", "q"):
        for i in range(3):
            await add(store, queue, i, key="shared")
    assert len(await claim(store, "limited")) == 1
    assert len(await claim(store, "q")) == 3


async def test_across_keys_in_one_round_the_older_due_run_goes_first(store):
    await add(store, "q", "b-now", key="b")
    await add(store, "q", "a-due-10s-ago", key="a", run_at=ago(10))
    await add(store, "q", "u-due-5s-ago", run_at=ago(5))
    assert await claim_all_one_by_one(store) == ["a-due-10s-ago", "u-due-5s-ago", "b-now"]
