"""Long polls under flow control (issue 23): a long poll whose due work is held back by a
concurrency limit, a rate limit or a pause sleeps without polling, and is answered when a
slot frees (the release's NOTIFY), when the next token is due (its due timer), or when a
PATCH lifts the limit (the PATCH's NOTIFY) — never lost until its long_poll_seconds end.

Synchronisation polls observable state (sleeping waiters) with a deadline. The "< 10 s"
bounds are liveness checks against a 30 s long poll, not performance asserts; the one
fixed sleep (NO_POLLING_WINDOW) is an observation window in which a polling waiter would
have sent claim statements, not a wait for anything to happen.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest

from durable_queue.api.keys import LISTENER, STORE
from durable_queue.db import create_pool
from durable_queue.maintenance import Maintenance
from durable_queue.store import Store
from tests.helpers import (
    call,
    claim,
    connect_autocommit,
    eventually,
    make_queue,
    make_task,
    query_one,
    run_sql,
)

LONG_POLL_SECONDS = 30
ANSWERED_WITHIN = 10.0  # liveness: far below LONG_POLL_SECONDS
NO_POLLING_WINDOW = 0.5  # a waiter polling every 50 ms would claim ~10 times in it
# claim statements a woken long poll may send: its first claim, the one after its wake,
# and one spare (a wake that raced its first claim)
MAX_CLAIMS = 3


@pytest.fixture
async def other_process(database_url: str) -> AsyncIterator[Store]:
    """A store on a pool of its own, as another server process's: what it does reaches
    this app's long polls only through the database's NOTIFY."""
    pool = await create_pool(database_url, maxsize=2)
    yield Store(pool)
    pool.close()
    await pool.wait_closed()


class Poll:
    """A long-polling claim running in the background; when it was answered."""

    def __init__(self, client, queue: str, limit: int) -> None:
        self.answered_at: float | None = None
        self.task = asyncio.create_task(self._go(client, queue, limit))

    async def _go(self, client, queue: str, limit: int) -> list[dict[str, Any]]:
        body = await call(
            client,
            "POST",
            f"/queues/{queue}/tasks/claim",
            200,
            json={"limit": limit, "claim_timeout": 60, "long_poll_seconds": LONG_POLL_SECONDS},
        )
        self.answered_at = asyncio.get_running_loop().time()
        return body["tasks"]

    async def answer_after(self, released_at: float) -> list[dict[str, Any]]:
        """The claimed tasks; asserts the answer came soon after `released_at`."""
        tasks = await self.task
        assert tasks, "the long poll timed out: its wake-up was lost"
        assert self.answered_at is not None
        waited = self.answered_at - released_at
        assert waited < ANSWERED_WITHIN, f"answered {waited:.1f} s after the release"
        return tasks


async def sleeping_waiters(app, count: int) -> None:
    waiters = app[LISTENER].waiters

    def settled() -> bool:
        return len(waiters) == count and waiters.idle_count() == count

    await eventually(settled, what=f"{count} sleeping waiters")


async def asleep_without_polling(app, count: int = 1) -> int:
    """Wait until `count` long polls sleep, then watch them sleep without claiming for
    NO_POLLING_WINDOW; the app's claim statements so far."""
    await sleeping_waiters(app, count)
    before = app[STORE].claim_queries
    await asyncio.sleep(NO_POLLING_WINDOW)  # an observation window, not synchronisation
    assert app[STORE].claim_queries == before, "a sleeping long poll polled"
    await sleeping_waiters(app, count)
    return before


def now() -> float:
    return asyncio.get_running_loop().time()


def claimed_at(database_url: str, run_id: str) -> dt.datetime:
    return query_one(database_url, "SELECT claimed_at FROM runs WHERE id = %s", (run_id,))[0]


# -- a slot frees ----------------------------------------------------------------------


@pytest.mark.parametrize("release", ["complete", "fail", "schedule", "cancel", "expiry"])
async def test_a_long_poll_on_a_saturated_key_wakes_when_the_holder_leaves(
    client, app, database_url, other_process, release
):
    await make_queue(client, "k", key_concurrency=1)
    holder_task = await make_task(client, "k", concurrency_key="tenant")
    waiting_task = await make_task(client, "k", concurrency_key="tenant")
    [holder] = await claim(client, "k", limit=10)
    assert holder["task_id"] == holder_task["task_id"]  # the key's only slot

    start = app[STORE].claim_queries
    poll = Poll(client, "k", limit=10)
    await asleep_without_polling(app)

    released_at = now()
    token = holder["claim_token"]
    if release == "complete":
        await other_process.complete_run(holder["run_id"], None, claim_token=token)
    elif release == "fail":
        await other_process.fail_run(holder["run_id"], "boom", claim_token=token)
    elif release == "schedule":
        later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        await other_process.schedule_run(holder["run_id"], later, claim_token=token)
    elif release == "cancel":
        await other_process.cancel_task(holder["task_id"])
    else:
        db = connect_autocommit(database_url)
        try:
            run_sql(
                db,
                "UPDATE runs SET claim_expires_at = now() - interval '1 second' WHERE id = %s",
                holder["run_id"],
            )
        finally:
            db.close()
        sweeper = Maintenance(other_process.pool, database_url, interval=1.0, max_claim_expiries=3)
        await sweeper.sweep_once()  # (or the app's own sweeper, if it came first)
    tasks = await poll.answer_after(released_at)
    assert [t["task_id"] for t in tasks] == [waiting_task["task_id"]]
    assert app[STORE].claim_queries - start <= MAX_CLAIMS


async def test_a_long_poll_on_a_full_queue_wakes_when_a_run_completes(client, app, other_process):
    await make_queue(client, "full", max_concurrency=2)
    for i in range(3):
        await make_task(client, "full", params=i)
    held = await claim(client, "full", limit=10)
    assert [t["params"] for t in held] == [0, 1]
    poll = Poll(client, "full", limit=10)
    await asleep_without_polling(app)
    released_at = now()
    await other_process.complete_run(held[0]["run_id"], None, claim_token=held[0]["claim_token"])
    assert [t["params"] for t in await poll.answer_after(released_at)] == [2]


# -- a token comes due -----------------------------------------------------------------


async def test_a_long_poll_on_a_rate_limited_queue_answers_when_the_token_is_due(
    client, app, database_url
):
    await make_queue(client, "r", rate_limit={"limit": 1, "period_seconds": 2})
    await make_task(client, "r", params="first")
    second = await make_task(client, "r", params="second")
    [first] = await claim(client, "r", limit=10)  # the bucket's only token
    assert first["params"] == "first"
    start = app[STORE].claim_queries
    started_at = now()
    poll = Poll(client, "r", limit=10)
    tasks = await poll.answer_after(started_at)
    assert [t["task_id"] for t in tasks] == [second["task_id"]]
    # it slept on its due timer: a first claim, then the one when the token was due
    assert app[STORE].claim_queries - start <= MAX_CLAIMS
    # and the database's clock says the token was not spent early
    gap = claimed_at(database_url, tasks[0]["run_id"]) - claimed_at(database_url, first["run_id"])
    assert gap >= dt.timedelta(seconds=1.99), gap


async def test_a_long_poll_on_a_key_rate_limit_answers_when_the_key_token_is_due(client, app):
    await make_queue(client, "kr")
    await call(
        client,
        "PUT",
        "/queues/kr/keys/slow",
        200,
        json={"rate_limit": {"limit": 1, "period_seconds": 1}},
    )
    await make_task(client, "kr", concurrency_key="slow", params=1)
    await make_task(client, "kr", concurrency_key="slow", params=2)
    assert [t["params"] for t in await claim(client, "kr", limit=10)] == [1]
    start = app[STORE].claim_queries
    started_at = now()
    tasks = await Poll(client, "kr", limit=10).answer_after(started_at)
    assert [t["params"] for t in tasks] == [2]
    assert app[STORE].claim_queries - start <= MAX_CLAIMS


# -- a PATCH lifts the limit -----------------------------------------------------------


async def test_a_long_poll_on_a_paused_queue_answers_after_resume(client, app):
    await make_queue(client, "p", paused=True)
    created = await make_task(client, "p")  # accepted while paused
    poll = Poll(client, "p", limit=10)
    await asleep_without_polling(app)
    released_at = now()
    summary = await call(client, "PATCH", "/queues/p", 200, json={"paused": False})
    assert summary["paused"] is False
    tasks = await poll.answer_after(released_at)
    assert [t["task_id"] for t in tasks] == [created["task_id"]]


async def test_raising_a_key_limit_wakes_a_long_poll_and_applies_to_its_claim(client, app):
    await make_queue(client, "c", key_concurrency=1)
    for i in range(4):
        await make_task(client, "c", concurrency_key="k", params=i)
    assert [t["params"] for t in await claim(client, "c", limit=10)] == [0]
    poll = Poll(client, "c", limit=10)
    await asleep_without_polling(app)
    released_at = now()
    await call(client, "PATCH", "/queues/c", 200, json={"key_concurrency": 3})
    tasks = await poll.answer_after(released_at)
    assert [t["params"] for t in tasks] == [1, 2]  # three slots, one held


async def test_raising_a_key_override_wakes_a_long_poll(client, app):
    await make_queue(client, "o")
    await call(client, "PUT", "/queues/o/keys/k", 200, json={"max_concurrency": 1})
    for i in range(3):
        await make_task(client, "o", concurrency_key="k", params=i)
    assert [t["params"] for t in await claim(client, "o", limit=10)] == [0]
    poll = Poll(client, "o", limit=10)
    await asleep_without_polling(app)
    released_at = now()
    await call(client, "PUT", "/queues/o/keys/k", 200, json={"max_concurrency": 2})
    assert [t["params"] for t in await poll.answer_after(released_at)] == [1]


async def test_deleting_a_key_override_wakes_a_long_poll(client, app):
    await make_queue(client, "d")
    await call(client, "PUT", "/queues/d/keys/k", 200, json={"max_concurrency": 1})
    for i in range(3):
        await make_task(client, "d", concurrency_key="k", params=i)
    assert [t["params"] for t in await claim(client, "d", limit=10)] == [0]
    poll = Poll(client, "d", limit=10)
    await asleep_without_polling(app)
    released_at = now()
    await call(client, "DELETE", "/queues/d/keys/k", 204)
    assert [t["params"] for t in await poll.answer_after(released_at)] == [1, 2]


async def test_a_new_run_of_another_key_wakes_a_long_poll_past_a_saturated_key(client, app):
    """The held key's due runs do not keep the waiter from hearing of other work."""
    await make_queue(client, "n", key_concurrency=1)
    for i in range(3):
        await make_task(client, "n", concurrency_key="busy", params=i)
    assert [t["params"] for t in await claim(client, "n", limit=10)] == [0]
    poll = Poll(client, "n", limit=10)
    await asleep_without_polling(app)
    released_at = now()
    await make_task(client, "n", concurrency_key="idle", params="other")
    assert [t["params"] for t in await poll.answer_after(released_at)] == ["other"]


async def test_a_run_claimed_before_the_limit_was_set_wakes_a_long_poll_when_it_leaves(
    client, app, other_process
):
    """Claimed while the queue had no limit, then counted by one: its release must wake
    the long polls its slot held back, as a run claimed under the limit does."""
    await make_queue(client, "late")
    for i in range(2):
        await make_task(client, "late", concurrency_key="k", params=i)
    [early] = await claim(client, "late", limit=1)
    await call(client, "PATCH", "/queues/late", 200, json={"key_concurrency": 1})
    poll = Poll(client, "late", limit=10)
    await asleep_without_polling(app)
    released_at = now()
    await other_process.complete_run(early["run_id"], None, claim_token=early["claim_token"])
    assert [t["params"] for t in await poll.answer_after(released_at)] == [1]
