"""long_poll.claim against a store whose answers the test hands out: which claims are sent,
and who is woken after them. No database, no HTTP, no sleeps."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from durable_queue import long_poll
from durable_queue.waiters import DUE_MARGIN_SECONDS, MIN_SLEEP_SECONDS, Waiters
from tests.unit.test_waiters import ManualClock

LONG = 3600


class ScriptedStore:
    """`claim_or_due` waits until the test answers it with (claimed, seconds_until_due)."""

    def __init__(self) -> None:
        self.pending: list[asyncio.Future[tuple[list[Any], float | None]]] = []

    async def claim_or_due(
        self, queue_name: str, limit: int, claim_timeout: int
    ) -> tuple[list[Any], float | None]:
        answer: asyncio.Future[tuple[list[Any], float | None]] = (
            asyncio.get_running_loop().create_future()
        )
        self.pending.append(answer)
        return await answer

    def answer(self, claimed: list[Any], seconds_until_due: float | None) -> None:
        self.pending.pop(0).set_result((claimed, seconds_until_due))


async def turn() -> None:
    for _ in range(5):  # a few loop turns: each task runs until it blocks
        await asyncio.sleep(0)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def waiters(clock: ManualClock) -> Waiters:
    registry = Waiters(clock)
    registry.listening = True
    return registry


def poll(store: ScriptedStore, waiters: Waiters, limit: int = 5) -> asyncio.Task[list[Any]]:
    return asyncio.create_task(
        long_poll.claim(store, waiters, "q", limit, 60, long_poll_seconds=LONG)  # type: ignore[arg-type]
    )


async def claiming_and_sleeping(
    store: ScriptedStore, waiters: Waiters, limit: int = 5
) -> tuple[asyncio.Task[list[Any]], asyncio.Task[list[Any]]]:
    """A poll whose claim is under way, and a second poll that arrived meanwhile and
    sleeps on it (`covered`)."""
    first = poll(store, waiters, limit)
    await turn()
    second = poll(store, waiters, limit)
    await turn()
    return first, second


async def test_a_poll_arriving_during_a_claim_sleeps_instead_of_claiming(waiters) -> None:
    store = ScriptedStore()
    first = poll(store, waiters)
    await turn()
    assert len(store.pending) == 1  # the first poll's claim is under way
    second = poll(store, waiters)
    await turn()
    assert len(store.pending) == 1  # the newcomer sent no claim: it sleeps
    store.answer(["run"], None)  # fewer than asked, nothing else pending
    assert await first == ["run"]
    await turn()
    assert not second.done() and len(store.pending) == 0
    waiters.notified("q")  # the next run wakes the sleeper, which claims it
    await turn()
    store.answer(["next"], None)
    assert await second == ["next"]


async def test_a_full_batch_hands_the_wake_to_the_sleeper(waiters) -> None:
    store = ScriptedStore()
    first, second = await claiming_and_sleeping(store, waiters, limit=1)
    store.answer(["run"], 0.0)  # a full batch, and more due now
    assert await first == ["run"]
    await turn()
    assert len(store.pending) == 1  # handed on: the sleeper claims at once
    store.answer(["more"], None)
    assert await second == ["more"]


async def test_runs_locked_by_another_claimer_send_the_sleeper_back_soon(waiters, clock) -> None:
    store = ScriptedStore()
    first, second = await claiming_and_sleeping(store, waiters)
    # fewer than asked, yet a run is due: another claimer holds it locked
    store.answer(["run"], 0.0)
    assert await first == ["run"]
    await turn()
    assert clock.pending() == [MIN_SLEEP_SECONDS]
    clock.advance_to(MIN_SLEEP_SECONDS)
    await turn()
    assert len(store.pending) == 1  # the sleeper looks again
    store.answer([], None)
    await turn()
    assert not second.done()
    second.cancel()


async def test_a_run_scheduled_later_wakes_the_sleeper_when_due(waiters, clock) -> None:
    store = ScriptedStore()
    first, second = await claiming_and_sleeping(store, waiters)
    store.answer(["run"], 0.5)  # fewer than asked; the next pending run is due in 0.5 s
    assert await first == ["run"]
    await turn()
    assert clock.pending() == [0.5 + DUE_MARGIN_SECONDS]
    clock.advance_to(0.5 + DUE_MARGIN_SECONDS)
    await turn()
    assert len(store.pending) == 1  # the sleeper claims the run that came due
    store.answer(["scheduled"], None)
    assert await second == ["scheduled"]


async def test_a_poll_sleeping_on_a_drained_queue_is_woken_when_its_next_run_is_due(
    waiters, clock
) -> None:
    store = ScriptedStore()
    first = poll(store, waiters)
    await turn()
    store.answer(["run"], 0.5)  # fewer than asked: drained; the next run due in 0.5 s
    assert await first == ["run"]
    await turn()
    assert clock.pending() == []  # its timer went with the last waiter
    second = poll(store, waiters)
    await turn()
    assert len(store.pending) == 0  # drained a moment ago: it sleeps without claiming,
    assert clock.pending() == [0.5 + DUE_MARGIN_SECONDS]  # until that run is due
    clock.advance_to(0.5 + DUE_MARGIN_SECONDS)
    await turn()
    assert len(store.pending) == 1
    store.answer(["scheduled"], None)
    assert await second == ["scheduled"]


async def test_a_claim_cancelled_midway_wakes_the_sleeper(waiters) -> None:
    store = ScriptedStore()
    first, second = await claiming_and_sleeping(store, waiters)
    first.cancel()  # the client went away during the claim statement
    await turn()
    assert len(store.pending) == 2  # the sleeper claims what that claim would have
    store.pending[1].set_result((["run"], None))
    assert await second == ["run"]
