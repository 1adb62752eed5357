"""Rate limits (issue 23, docs/flow-control.md): a token bucket per queue and per key, burst =
limit, refilled by the database's clock, consumed at claim, shared by every claimer.

The long test claims for 20 s with several claimers, each sleeping when it gets nothing
for the `seconds_until_due` the claim answered (the time until the next token, as a long
poll sleeps on its due timer), and then checks the claim times the database recorded:
no one-second window holds more than limit + burst claims, and past the first burst the
rate is the limit's within 5%.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import random
from collections import Counter
from typing import Any

from durable_queue.commands import KeyOverride, NewTask, QueueFlow, QueuePatch, RateLimit
from durable_queue.maintenance import Maintenance
from durable_queue.store import Store
from tests.helpers import run_sql

TIMEOUT = 600
RATE, PERIOD = 50, 1.0
SECONDS = 20.0
CLAIMERS = 4


async def flow_queue(store: Store, name: str, **flow: Any) -> None:
    await store.create_queue(name, None, None, flow=QueueFlow(**flow))


async def add_many(store: Store, queue: str, labels: list[Any], *, key: str | None = None) -> None:
    for start in range(0, len(labels), 1000):
        batch = [
            NewTask(task_name="t", params=label, concurrency_key=key)
            for label in labels[start : start + 1000]
        ]
        answer = await store.create_tasks(queue, batch)
        assert len(json.loads(answer.text)["tasks"]) == len(batch)


def claim_times(db: Any, queue: str) -> list[float]:
    """Claim times of the queue's runs as the database recorded them (epoch seconds), sorted."""
    rows = run_sql(
        db,
        "SELECT extract(epoch FROM r.claimed_at)::float8 FROM runs r"
        " JOIN queues q ON q.id = r.queue_id"
        " WHERE q.name = %s AND r.claimed_at IS NOT NULL ORDER BY 1",
        queue,
    )
    return [row[0] for row in rows]


def most_in_any_window(times: list[float], width: float) -> int:
    """The most claims in a window [t, t + width) starting at any claim time t (sorted input):
    the most in any window at all, since a window holding the most can be slid right to
    start at its first claim."""
    return max((bisect.bisect_left(times, t + width) - i for i, t in enumerate(times)), default=0)


async def test_a_queue_rate_limit_holds_in_every_window_and_on_average(store, db):
    await flow_queue(store, "r", rate_limit=RateLimit(RATE, PERIOD))
    await add_many(store, "r", list(range(int(RATE * (SECONDS + 10)))))
    loop = asyncio.get_running_loop()
    stop = loop.time() + SECONDS
    no_due: list[int] = []  # claims that found nothing yet named no time to come back

    async def claimer(seed: int) -> None:
        rng = random.Random(seed)
        while loop.time() < stop:
            claimed, seconds_until_due = await store.claim_or_due("r", rng.randint(1, 3), TIMEOUT)
            if claimed:
                continue
            if seconds_until_due is None:
                no_due.append(seed)
                seconds_until_due = 0.05
            # the due timer of a long poll: back when the next token is
            await asyncio.sleep(max(seconds_until_due, 0.001))

    await asyncio.gather(*(claimer(seed) for seed in range(CLAIMERS)))
    assert no_due == []
    times = claim_times(db, "r")
    assert len(times) > RATE * SECONDS / 2, len(times)
    most = most_in_any_window(times, PERIOD)
    assert most <= 2 * RATE, f"{most} claims within one period (limit + burst: {2 * RATE})"
    span = times[-1] - times[0]
    rate = (len(times) - RATE) / span  # past the burst the first claims took
    print(
        f"{len(times)} claims over {span:.2f} s, {rate:.2f}/s past the burst; most in 1 s: {most}"
    )
    assert abs(rate - RATE) <= 0.05 * RATE, (
        f"{len(times)} claims over {span:.2f} s: {rate:.2f} per second past the burst"
    )


async def test_the_burst_is_the_limit_and_the_claim_says_when_the_next_token_is_due(store):
    await flow_queue(store, "b", rate_limit=RateLimit(5, 10.0))
    await add_many(store, "b", list(range(20)))
    assert len(await store.claim("b", 20, TIMEOUT)) == 5
    claimed, seconds_until_due = await store.claim_or_due("b", 20, TIMEOUT)
    assert claimed == []
    assert seconds_until_due is not None and 0 < seconds_until_due <= 2.0  # 10 s / 5


async def test_a_rate_limited_key_does_not_hold_back_unlimited_keys(store):
    await store.put_key_override("q", "slow", KeyOverride(rate_limit=RateLimit(2, 1.0)))
    for i in range(20):
        await store.create_task(
            "q", NewTask(task_name="t", params=f"s{i}", concurrency_key="slow", priority=10)
        )
    for i in range(20):
        await store.create_task("q", NewTask(task_name="t", params=i, concurrency_key=f"f{i}"))
    first = await store.claim("q", 100, TIMEOUT)
    keys = Counter(t.concurrency_key for t in first)
    assert keys.pop("slow") == 2  # its burst
    assert keys == {f"f{i}": 1 for i in range(20)}  # every other key's run, whatever priority
    claimed, seconds_until_due = await store.claim_or_due("q", 100, TIMEOUT)
    assert claimed == []
    assert seconds_until_due is not None and 0 < seconds_until_due <= 0.5
    # more of the unlimited keys: claimed at once past slow's due runs
    await store.create_task("q", NewTask(task_name="t", params="late", concurrency_key="f0"))
    assert "late" in [t.params for t in await store.claim("q", 100, TIMEOUT)]


async def test_the_queue_key_rate_limit_applies_to_each_key(store):
    await flow_queue(store, "kr", key_rate_limit=RateLimit(1, 3600.0))
    for key in "abc":
        await add_many(store, "kr", [f"{key}{i}" for i in range(3)], key=key)
    await add_many(store, "kr", ["u0", "u1"])  # no key: no key bucket
    claimed = await store.claim("kr", 100, TIMEOUT)
    assert sorted(t.params for t in claimed) == ["a0", "b0", "c0", "u0", "u1"]
    assert await store.claim("kr", 100, TIMEOUT) == []


async def test_full_buckets_are_purged_and_a_missing_bucket_is_full(store, database_url, db):
    await flow_queue(store, "old", rate_limit=RateLimit(2, 60.0))
    await flow_queue(store, "new", rate_limit=RateLimit(2, 3600.0))
    for queue in ("old", "new"):
        await add_many(store, queue, list(range(6)))
        assert len(await store.claim(queue, 1, TIMEOUT)) == 1
    assert run_sql(db, "SELECT count(*) FROM rate_buckets")[0][0] == 2
    # "old"'s bucket was last touched a day ago: full again by now
    run_sql(
        db,
        "UPDATE rate_buckets SET updated_at = now() - interval '1 day',"
        " full_at = now() - interval '1 day' + interval '30 seconds'"
        " WHERE queue_id = (SELECT id FROM queues WHERE name = 'old')",
    )
    sweeper = Maintenance(store.pool, database_url, interval=1.0, max_claim_expiries=3)
    await sweeper.sweep_once()
    [(left,)] = run_sql(db, "SELECT q.name FROM rate_buckets b JOIN queues q ON q.id = b.queue_id")
    assert left == "new"  # not full: kept
    assert len(await store.claim("old", 10, TIMEOUT)) == 2  # purged: a full burst
    assert len(await store.claim("new", 10, TIMEOUT)) == 1  # what was left of its burst


async def test_clearing_a_rate_limit_applies_to_the_next_claim(store):
    await flow_queue(store, "c", rate_limit=RateLimit(1, 3600.0))
    await add_many(store, "c", list(range(5)))
    assert len(await store.claim("c", 10, TIMEOUT)) == 1
    assert await store.claim("c", 10, TIMEOUT) == []
    await store.update_queue(
        "c", QueuePatch(given=frozenset({"rate_limit"}), flow=QueueFlow(rate_limit=None))
    )
    assert len(await store.claim("c", 10, TIMEOUT)) == 4
