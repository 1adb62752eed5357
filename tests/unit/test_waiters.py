"""Waiter scheduling, without a database or HTTP.

Time is a `ManualClock` the tests advance by hand; a sleeping waiter is a task
blocked in `Waiter.wait`, observed through `idle` (no sleeps, no stopwatch).
"""

from __future__ import annotations

import ast
import asyncio
import heapq
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import durable_queue
from durable_queue.waiters import (
    DRAINED_TRUST_SECONDS,
    DUE_MARGIN_SECONDS,
    MIN_SLEEP_SECONDS,
    Waiter,
    Waiters,
    WaitersFull,
    Wake,
    must_wake_next,
)

LONG = 3600.0  # a wait that only a wake ends


class ManualTimer:
    def __init__(self, when: float, callback: Callable[..., object], args: tuple[Any, ...]):
        self._when = when
        self._callback = callback
        self._args = args
        self.cancelled = False

    def when(self) -> float:
        return self._when

    def cancel(self) -> None:
        self.cancelled = True

    def fire(self) -> None:
        if not self.cancelled:
            self._callback(*self._args)


class ManualClock:
    """A `Clock` whose time moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 0.0
        self._heap: list[tuple[float, int, ManualTimer]] = []
        self._order = itertools.count()

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[..., object], *args: Any) -> ManualTimer:
        timer = ManualTimer(when, callback, args)
        heapq.heappush(self._heap, (when, next(self._order), timer))
        return timer

    def pending(self) -> list[float]:
        """When the timers still to fire are set for."""
        return sorted(t.when() for _, _, t in self._heap if not t.cancelled)

    def advance_to(self, when: float) -> None:
        self.now = when
        while self._heap and self._heap[0][0] <= when:
            heapq.heappop(self._heap)[2].fire()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def waiters(clock: ManualClock) -> Waiters:
    return Waiters(clock)


async def asleep(waiter: Waiter, waiters: Waiters | None = None) -> asyncio.Task[Wake | None]:
    """Start `waiter` sleeping as a long poll does (leaving the registry when it ends, if
    given one); return once it sleeps."""

    async def poll() -> Wake | None:
        try:
            return await waiter.wait(LONG)
        finally:
            if waiters is not None:
                waiters.unregister(waiter)

    task = asyncio.create_task(poll())
    await asyncio.sleep(0)  # one loop turn: the task runs until it blocks in wait()
    assert waiter.idle and not task.done()
    return task


def woken(*line: Waiter) -> list[Wake | None]:
    return [w.pending_wake for w in line]


# -- FIFO, one at a time --------------------------------------------------


async def test_notifications_wake_waiters_one_at_a_time_in_arrival_order(waiters):
    a, b, c = (waiters.register("q") for _ in range(3))
    sleeping = [await asleep(w) for w in (a, b, c)]
    assert waiters.idle_count() == 3

    assert waiters.wake_one("q", Wake.NOTIFIED)
    assert woken(a, b, c) == [Wake.NOTIFIED, None, None]
    assert waiters.idle_count() == 2

    assert waiters.wake_one("q", Wake.NOTIFIED)
    assert waiters.wake_one("q", Wake.NOTIFIED)
    assert not waiters.wake_one("q", Wake.NOTIFIED)  # everyone has a wake already
    assert woken(a, b, c) == [Wake.NOTIFIED] * 3
    assert await asyncio.gather(*sleeping) == [Wake.NOTIFIED] * 3


async def test_a_notification_concerns_only_its_own_queue(waiters):
    a = waiters.register("a")
    b = waiters.register("b")
    assert not waiters.wake_one("c", Wake.NOTIFIED)
    assert waiters.wake_one("b", Wake.NOTIFIED)
    assert woken(a, b) == [None, Wake.NOTIFIED]


async def test_a_sleeping_waiter_is_woken_before_an_earlier_one_that_is_claiming(waiters):
    claiming = waiters.register("q")  # registered, at its claim query: not idle
    sleeper = waiters.register("q")
    await asleep(sleeper)
    waiters.wake_one("q", Wake.NOTIFIED)
    assert woken(claiming, sleeper) == [None, Wake.NOTIFIED]
    # With nobody asleep, the claiming one gets it and sees it at its next wait.
    waiters.wake_one("q", Wake.NOTIFIED)
    assert woken(claiming, sleeper) == [Wake.NOTIFIED, Wake.NOTIFIED]


async def test_a_wake_between_register_and_wait_is_not_lost(waiters):
    waiter = waiters.register("q")  # registered before its first claim
    waiters.wake_one("q", Wake.NOTIFIED)  # a run arrives while it claims (and finds nothing)
    assert await waiter.wait(0) == Wake.NOTIFIED  # there at once
    assert waiter.pending_wake is None  # consumed: the next wait sleeps again
    assert await waiter.wait(0) is None


# -- hand-on ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("claimed", "limit", "woken_by", "expected"),
    [
        (2, 2, Wake.NOTIFIED, True),  # a full batch: more may be due
        (1, 2, Wake.NOTIFIED, False),  # fewer than asked: the queue is drained
        (1, 2, None, False),  # the first claim, not woken at all
        (1, 2, Wake.DUE, True),  # the due timer is used up: someone must reset it
        (1, 2, Wake.RECONNECTED, True),
    ],
)
def test_who_must_wake_the_next_waiter(claimed, limit, woken_by, expected):
    assert must_wake_next(claimed, limit, woken_by) is expected


async def test_a_full_batch_hands_the_wake_to_the_next_waiter_only(waiters, clock):
    first, second, third = (waiters.register("q") for _ in range(3))
    polls = [await asleep(w) for w in (first, second, third)]
    waiters.wake_one("q", Wake.NOTIFIED)
    assert woken(first, second, third) == [Wake.NOTIFIED, None, None]
    assert await polls[0] == Wake.NOTIFIED  # it claims a full batch, more are due
    waiters.wake_next_or_arm_due_timer(first, seconds_until_due=0.0)
    assert woken(first, second, third) == [None, Wake.NOTIFIED, None]
    assert clock.pending() == []


async def test_waking_the_next_waiter_never_wakes_the_one_that_leaves(waiters):
    leaving = waiters.register("q")
    assert not waiters.wake_next_waiter(leaving)  # nobody else in line
    behind = waiters.register("q")  # claiming, not asleep: still the one to wake
    assert waiters.wake_next_waiter(leaving)
    assert woken(leaving, behind) == [None, Wake.NOTIFIED]


async def test_the_due_timer_is_armed_instead_when_the_next_run_is_later(waiters, clock):
    leaving, staying = waiters.register("q"), waiters.register("q")
    waiters.wake_next_or_arm_due_timer(leaving, seconds_until_due=30.0)
    assert woken(leaving, staying) == [None, None]
    assert clock.pending() == [30.0 + DUE_MARGIN_SECONDS]
    waiters.wake_next_or_arm_due_timer(leaving, seconds_until_due=None)  # nothing pending
    assert clock.pending() == [30.0 + DUE_MARGIN_SECONDS]


async def test_a_folded_notification_reaches_every_run_through_full_batches(waiters):
    """Eleven runs made claimable in one transaction send one notification; waiters that
    claim two at a time hand the wake on until the queue is drained."""
    line = [waiters.register("q") for _ in range(10)]
    polls = {w: await asleep(w) for w in line}
    runnable, limit, delivered = 11, 2, []
    waiters.wake_one("q", Wake.NOTIFIED)
    while any(w.woken for w in line):
        [waiter] = [w for w in line if w.woken]
        woken_by = await polls.pop(waiter)
        got = min(limit, runnable)
        runnable -= got
        delivered.append(got)
        line.remove(waiter)
        if must_wake_next(got, limit, woken_by):
            waiters.wake_next_or_arm_due_timer(waiter, 0.0 if runnable else None)
        waiters.unregister(waiter)
    assert delivered == [2, 2, 2, 2, 2, 1]
    assert runnable == 0
    assert waiters.idle_count() == 4  # the rest sleep on, untouched


# -- due timers -------------------------------------------------------------


async def test_the_due_timer_wakes_one_waiter_at_the_earliest_due_time(waiters, clock):
    a, b = waiters.register("q"), waiters.register("q")
    await asleep(a)
    await asleep(b)
    waiters.wake_when_due("q", 10.0)
    assert clock.pending() == [10.0 + DUE_MARGIN_SECONDS]
    clock.advance_to(10.0)
    assert woken(a, b) == [None, None]
    clock.advance_to(10.0 + DUE_MARGIN_SECONDS)
    assert woken(a, b) == [Wake.DUE, None]
    assert clock.pending() == []


async def test_an_earlier_due_time_replaces_the_timer_and_a_later_one_does_not(waiters, clock):
    a = waiters.register("q")
    waiters.wake_at("q", 10.0)
    waiters.wake_at("q", 20.0)  # later than the one set: kept at 10
    assert clock.pending() == [10.0]
    waiters.wake_at("q", 5.0)  # earlier: replaces it
    assert clock.pending() == [5.0]
    clock.advance_to(5.0)
    assert woken(a) == [Wake.DUE]
    clock.advance_to(10.0)  # the replaced timer does not fire a second wake
    assert clock.pending() == []


async def test_after_the_due_timer_fires_a_later_due_time_sets_a_new_one(waiters, clock):
    a, b = waiters.register("q"), waiters.register("q")
    waiters.wake_at("q", 5.0)
    clock.advance_to(5.0)
    waiters.wake_at("q", 10.0)
    assert clock.pending() == [15.0]
    clock.advance_to(15.0)
    assert woken(a, b) == [Wake.DUE, Wake.DUE]


async def test_due_timers_are_per_queue(waiters, clock):
    a, b = waiters.register("a"), waiters.register("b")
    waiters.wake_at("a", 10.0)
    waiters.wake_at("b", 3.0)
    assert clock.pending() == [3.0, 10.0]
    clock.advance_to(3.0)
    assert woken(a, b) == [None, Wake.DUE]


async def test_a_run_due_but_locked_by_another_claimer_is_looked_at_again_soon(waiters, clock):
    waiters.register("q")
    waiters.wake_when_due("q", -1.0)  # due already, yet the claim got nothing
    assert clock.pending() == [MIN_SLEEP_SECONDS]


async def test_no_due_timer_without_a_pending_run_or_a_waiter(waiters, clock):
    waiters.register("q")
    waiters.wake_when_due("q", None)
    waiters.wake_at("nobody-waits-here", 1.0)
    assert clock.pending() == []


async def test_the_last_waiter_leaving_cancels_its_queues_timer(waiters, clock):
    a = waiters.register("q")
    waiters.wake_at("q", 10.0)
    waiters.unregister(a)
    assert clock.pending() == []
    b = waiters.register("q")
    clock.advance_to(10.0)
    assert woken(b) == [None]


# -- reconnect, cancellation, shutdown ----------------------------------------


async def test_a_reconnect_wakes_every_waiter_once(waiters):
    a, b, c = waiters.register("x"), waiters.register("x"), waiters.register("y")
    await asleep(a)
    await asleep(c)
    waiters.wake_one("x", Wake.NOTIFIED)
    waiters.wake_all(Wake.RECONNECTED)
    assert woken(a, b, c) == [Wake.NOTIFIED, Wake.RECONNECTED, Wake.RECONNECTED]
    assert waiters.idle_count() == 0


async def test_a_cancelled_waiter_leaves_the_line_and_wakes_nobody(waiters):
    a, b = waiters.register("q"), waiters.register("q")
    poll_a = await asleep(a, waiters)
    await asleep(b)
    poll_a.cancel()  # its client went away
    with pytest.raises(asyncio.CancelledError):
        await poll_a
    assert len(waiters) == 1
    assert woken(b) == [None]
    assert waiters.wake_one("q", Wake.NOTIFIED)
    assert woken(b) == [Wake.NOTIFIED]


async def test_a_wake_on_a_cancelled_waiter_passes_to_the_next(waiters):
    a, b = waiters.register("q"), waiters.register("q")
    poll_a = await asleep(a, waiters)
    await asleep(b)
    waiters.wake_one("q", Wake.NOTIFIED)  # a is woken ...
    poll_a.cancel()  # ... but its client goes away before it claims
    with pytest.raises(asyncio.CancelledError):
        await poll_a
    assert len(waiters) == 1
    assert woken(b) == [Wake.NOTIFIED]


async def test_unregistering_twice_or_an_unknown_waiter_changes_nothing(waiters):
    a, b = waiters.register("q"), waiters.register("q")
    waiters.unregister(a)
    waiters.unregister(a)
    assert len(waiters) == 1
    waiters.unregister(Waiters().register("q"))
    assert len(waiters) == 1 and woken(b) == [None]


async def test_shutdown_answers_every_waiter_at_once_and_every_later_one(waiters, clock):
    a, b, c = waiters.register("x"), waiters.register("x"), waiters.register("y")
    polls = [await asleep(w) for w in (a, b, c)]
    waiters.wake_at("x", 10.0)
    waiters.close()
    assert woken(a, b, c) == [Wake.SHUTDOWN] * 3
    assert await asyncio.gather(*polls) == [Wake.SHUTDOWN] * 3
    assert clock.pending() == []
    late = waiters.register("x")
    assert woken(late) == [Wake.SHUTDOWN]
    waiters.wake_at("x", 1.0)
    assert clock.pending() == []


# -- layering -----------------------------------------------------------------


def _imports(module: str) -> set[str]:
    source = Path(durable_queue.__file__).with_name(f"{module}.py").read_text()
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_the_waiters_module_needs_nothing_but_asyncio():
    assert _imports("waiters") <= {"__future__", "asyncio", "enum", "collections.abc", "typing"}


def test_the_listener_knows_neither_http_nor_the_app():
    imported = _imports("listener")
    assert "durable_queue.waiters" in imported
    assert not {m for m in imported if m.startswith(("aiohttp", "durable_queue.api"))}


async def test_waiters_beyond_the_limit_are_refused_until_one_leaves(clock):
    waiters = Waiters(clock, max_waiters=2)
    a = waiters.register("a")
    waiters.register("b")
    with pytest.raises(WaitersFull):
        waiters.register("a")
    assert len(waiters) == 2
    waiters.unregister(a)
    waiters.unregister(a)  # a second unregister frees nothing more
    assert len(waiters) == 1
    waiters.register("c")
    with pytest.raises(WaitersFull):
        waiters.register("c")


async def test_no_limit_by_default(waiters):
    for _ in range(100):
        waiters.register("q")
    assert len(waiters) == 100


# -- a drained queue: the next long poll may sleep without claiming ---------------


@pytest.fixture
def listening(waiters: Waiters) -> Waiters:
    waiters.listening = True
    return waiters


def test_a_short_claim_marks_the_queue_drained_for_a_while(listening, clock):
    seen = listening.seen("q")
    listening.note_drained("q", seen, claimed=1, limit=10, seconds_until_due=None)
    assert listening.drained("q")
    clock.advance_to(DRAINED_TRUST_SECONDS - 0.001)
    assert listening.drained("q")
    clock.advance_to(DRAINED_TRUST_SECONDS)
    assert not listening.drained("q")  # too old to believe: claim again


@pytest.mark.parametrize(
    ("claimed", "limit", "due", "listening_now"),
    [
        (10, 10, None, True),  # a full batch: more may be waiting
        (0, 10, 0.0, True),  # a run left pending is due already (another claimer holds it)
        (0, 10, -5.0, True),
        (0, 10, None, False),  # the listener is away: notifications may be lost
    ],
)
def test_a_claim_that_may_have_left_runs_behind_is_not_believed(
    waiters, claimed, limit, due, listening_now
):
    waiters.listening = listening_now
    waiters.note_drained("q", waiters.seen("q"), claimed, limit, due)
    assert not waiters.drained("q")


async def test_a_notification_ends_the_drained_state(listening):
    waiter = listening.register("q")
    seen = listening.seen("q")
    listening.note_drained("q", seen, claimed=0, limit=10, seconds_until_due=None)
    assert listening.notified("q")  # wakes the registered waiter too
    assert waiter.pending_wake is Wake.NOTIFIED
    assert listening.seen("q") == seen + 1
    assert not listening.drained("q")


def test_a_notification_during_the_claim_makes_its_answer_stale(listening):
    seen = listening.seen("q")
    listening.notified("q")  # arrived while the claim statement ran
    listening.note_drained("q", seen, claimed=0, limit=10, seconds_until_due=None)
    assert not listening.drained("q")


def test_each_queue_is_drained_on_its_own(listening):
    listening.note_drained("a", listening.seen("a"), 0, 10, None)
    listening.notified("b")
    assert listening.drained("a") and not listening.drained("b")


async def test_asking_whether_a_queue_is_drained_changes_nothing(listening, clock):
    listening.note_drained("q", listening.seen("q"), 0, 10, seconds_until_due=0.5)
    listening.register("q")
    assert listening.drained("q") and listening.drained("q")
    assert clock.pending() == []  # no timer armed by the question
    clock.advance_to(DRAINED_TRUST_SECONDS)
    assert not listening.drained("q")  # expired: the note stays, and answers False
    assert not listening.drained("q")


async def test_a_drained_queue_with_a_scheduled_run_arms_its_timer(listening, clock):
    listening.note_drained("q", listening.seen("q"), 0, 10, seconds_until_due=0.5)
    waiter = listening.register("q")  # the next long poll, registered before asking
    assert listening.drained("q")
    listening.arm_drained_due_timer("q")  # it sleeps on the answer
    assert clock.pending() == [0.5 + DUE_MARGIN_SECONDS]
    sleeping = await asleep(waiter, listening)
    clock.advance_to(0.5 + DUE_MARGIN_SECONDS)
    assert await sleeping is Wake.DUE
    assert not listening.drained("q")  # the run is due: claim it


def test_a_scheduled_run_that_is_due_ends_the_drained_state(listening, clock):
    listening.note_drained("q", listening.seen("q"), 0, 10, seconds_until_due=0.2)
    clock.advance_to(0.2)
    assert not listening.drained("q")


@pytest.mark.parametrize("end", ["reconnect", "listener lost", "shutdown"])
def test_losing_notifications_ends_every_drained_state(listening, end):
    listening.note_drained("q", listening.seen("q"), 0, 10, None)
    if end == "reconnect":
        listening.wake_all(Wake.RECONNECTED)
    elif end == "listener lost":
        listening.stop_listening()
        assert not listening.listening
    else:
        listening.close()
    assert not listening.drained("q")


# -- another waiter's claim covers what was notified: a new long poll sleeps first ----


async def test_a_new_long_poll_sleeps_while_a_woken_waiter_is_about_to_claim(listening):
    first = listening.register("q")
    sleeping = await asleep(first, listening)
    listening.notified("q")  # wakes `first`, which has not claimed yet
    second = listening.register("q")
    assert listening.covered(second)
    assert await sleeping is Wake.NOTIFIED


async def test_a_new_long_poll_sleeps_while_a_claim_begun_after_the_last_notification_runs(
    listening,
):
    claimer, newcomer = listening.register("q"), listening.register("q")
    listening.notified("q")
    assert listening.covered(newcomer)  # `claimer` is woken
    assert await claimer.wait(0) is Wake.NOTIFIED
    assert not listening.covered(newcomer)  # its wake is consumed, its claim not begun
    listening.begin_claim(claimer)
    assert listening.covered(newcomer)
    listening.notified("q")  # a run its claim may have missed
    assert not listening.covered(newcomer)


async def test_a_finished_claim_covers_nothing(listening):
    claimer, newcomer = listening.register("q"), listening.register("q")
    listening.begin_claim(claimer)
    listening.end_claim(claimer)
    assert not listening.covered(newcomer)
    assert not listening.covered(claimer)  # never its own cover


async def test_nothing_is_covered_while_notifications_may_be_lost(waiters):
    claimer, newcomer = waiters.register("q"), waiters.register("q")
    waiters.begin_claim(claimer)
    assert not waiters.listening and not waiters.covered(newcomer)
    waiters.listening = True
    assert waiters.covered(newcomer)
    other_queue = waiters.register("other")
    assert not waiters.covered(other_queue)


async def test_a_claim_left_unfinished_wakes_the_one_that_slept_on_it(listening):
    claimer, newcomer = listening.register("q"), listening.register("q")
    listening.begin_claim(claimer)
    assert listening.covered(newcomer)
    sleeping = await asleep(newcomer, listening)
    listening.unregister(claimer)  # its request was cancelled in the middle of the claim
    assert await sleeping is Wake.NOTIFIED


async def test_a_claim_that_answered_leaves_without_waking_anyone(listening):
    claimer, newcomer = listening.register("q"), listening.register("q")
    listening.begin_claim(claimer)
    sleeping = await asleep(newcomer, listening)
    listening.end_claim(claimer)
    listening.unregister(claimer)
    assert newcomer.idle and not newcomer.woken
    sleeping.cancel()
