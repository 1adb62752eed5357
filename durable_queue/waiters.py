"""Waiter scheduling: which long-polling claim request to wake, and when.

Pure asyncio: no database, no HTTP. Per queue, a FIFO of `Waiter`s (each an
asyncio future). One notification wakes one waiter (never the whole queue);
a waiter that leaves with a full batch hands the wake on, so a folded
notification never strands runs; one timer per queue, set at its earliest
known `available_at`, wakes one waiter when scheduled runs and retries come
due; a reconnect of the listener wakes every waiter once; shutdown answers
them all at once. Callers pass in "seconds until due" (measured by the
database's clock); the timers run on a `Clock`, the event loop by default.

A claim that got fewer runs than it asked for left nothing claimable behind
(as of its statement). While the listener listens and no notification for
the queue arrives, a run that becomes claimable later is notified, or comes
due on the timer, so a long poll arriving within DRAINED_TRUST_SECONDS may
sleep at once instead of sending a claim that would find nothing (`drained`, a question;
`arm_drained_due_timer` has it woken when the run that claim left pending comes due).

Likewise a long poll arriving while another waiter of its queue is about to claim (woken)
or is claiming with nothing notified since its claim began sleeps first (`covered`): that
claim sees every run notified so far and, when it takes a full batch, wakes the next waiter
(`must_wake_next`, `wake_next_or_arm_due_timer`); a run notified later wakes the sleeper.
Without this, a worker's next poll and the waiter woken for the same run both claimed it,
and one of them found nothing.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable
from typing import Any, Protocol

# When due runs exist but the claim got none (another claimer holds their locks),
# look again after this long instead of spinning.
MIN_SLEEP_SECONDS = 0.05
# Wake a little after available_at, so the claim's now() has surely passed it.
DUE_MARGIN_SECONDS = 0.002
# How long a claim that found its queue drained is believed: a long poll arriving this soon
# after, with no notification for the queue since, sleeps without claiming first. Bounds how
# long a run nobody notifies about (a claim that locked it, then failed) can be overlooked.
DRAINED_TRUST_SECONDS = 1.0


class Wake(enum.Enum):
    """Why a waiter was woken."""

    NOTIFIED = "notified"  # a run of its queue became claimable (or a full batch handed on)
    DUE = "due"  # the queue's earliest known available_at has come
    RECONNECTED = "reconnected"  # the listener was away: notifications may have been lost
    SHUTDOWN = "shutdown"  # the server is stopping: answer now with nothing


class Timer(Protocol):
    def when(self) -> float: ...
    def cancel(self) -> None: ...


class Clock(Protocol):
    """What the due timers need of the event loop (an asyncio loop is one)."""

    def time(self) -> float: ...
    def call_at(self, when: float, callback: Callable[..., object], *args: Any) -> Timer: ...


def must_wake_next(claimed: int, limit: int, woken_by: Wake | None) -> bool:
    """Whether a waiter leaving with `claimed` runs must wake the next waiter, now or when
    the next run comes due (`Waiters.wake_next_or_arm_due_timer`): after a full batch more
    may be due (a folded notification), and a waiter woken by the due timer or a reconnect
    used up the wake that stood for every runnable run."""
    return claimed >= limit or woken_by in (Wake.DUE, Wake.RECONNECTED)


class Waiter:
    """One long-polling claim request on a queue, woken through its future.

    `idle` is true while the request sleeps in `wait()` and false while it
    claims; a wake that arrives while it claims stays on the future and is
    consumed by its next `wait()`, so no wake-up is lost in between.
    """

    __slots__ = ("_future", "claim_seen", "idle", "queue_name")

    def __init__(self, queue_name: str) -> None:
        self.queue_name = queue_name
        self.idle = False
        # while it claims: how many notifications of its queue had arrived when it began
        self.claim_seen: int | None = None
        self._future: asyncio.Future[Wake] = asyncio.get_running_loop().create_future()

    @property
    def woken(self) -> bool:
        """A wake is pending (not consumed by `wait()` yet)."""
        return self._future.done()

    @property
    def pending_wake(self) -> Wake | None:
        return self._future.result() if self._future.done() else None

    def wake(self, reason: Wake) -> bool:
        """Resolve the future unless it already is; True when this call woke it."""
        if self._future.done():
            return False
        self._future.set_result(reason)
        return True

    async def wait(self, seconds: float) -> Wake | None:
        """Sleep until woken (the reason, consumed) or `seconds` pass (None)."""
        self.idle = True
        try:
            await asyncio.wait((self._future,), timeout=seconds)
        finally:
            self.idle = False
        if not self._future.done():
            return None
        reason = self._future.result()
        self._future = asyncio.get_running_loop().create_future()
        return reason


class WaitersFull(Exception):
    """`max_waiters` long polls wait already; the new one is refused rather than queued."""


class Waiters:
    """The long-polling claim requests of this process, FIFO per queue, at most `max_waiters`
    of them (0: no limit)."""

    def __init__(self, clock: Clock | None = None, *, max_waiters: int = 0) -> None:
        self._clock = clock
        self.max_waiters = max_waiters
        self._count = 0
        self._by_queue: dict[str, dict[Waiter, None]] = {}  # insertion-ordered sets
        self._due: dict[str, Timer] = {}
        self.closed = False
        # set by the listener while its LISTEN is live: only then is a drained queue believed
        self.listening = False
        self._notifications: dict[str, int] = {}  # per queue, since start
        # queue → (noted, due at); an expired note stays until replaced or dropped, and
        # `drained` answers False for it
        self._drained: dict[str, tuple[float, float | None]] = {}

    def __len__(self) -> int:
        return self._count

    def idle_count(self) -> int:
        """How many waiters are asleep and not woken (registered, not claiming, no wake due)."""
        return sum(w.idle and not w.woken for waiters in self._by_queue.values() for w in waiters)

    def register(self, queue_name: str) -> Waiter:
        """A new waiter at the back of its queue's line; a shutdown wakes it at once.
        Raises WaitersFull when `max_waiters` are registered already."""
        if self.max_waiters and self._count >= self.max_waiters:
            raise WaitersFull(f"{self.max_waiters} long polls are waiting already")
        waiter = Waiter(queue_name)
        if self.closed:
            waiter.wake(Wake.SHUTDOWN)
        self._by_queue.setdefault(queue_name, {})[waiter] = None
        self._count += 1
        return waiter

    def unregister(self, waiter: Waiter) -> None:
        """Remove a waiter; a wake it got but did not use goes to the next one in line, and so
        does the claim it left unfinished (others may be sleeping on it: `covered`)."""
        waiters = self._by_queue.get(waiter.queue_name)
        if waiters is None or waiters.pop(waiter, False) is False:
            return
        self._count -= 1
        if waiter.claim_seen is not None and waiters and not self.closed:
            waiter.claim_seen = None
            self.wake_one(waiter.queue_name, Wake.NOTIFIED)
            return
        if not waiters:
            del self._by_queue[waiter.queue_name]
            timer = self._due.pop(waiter.queue_name, None)
            if timer is not None:
                timer.cancel()
            return
        reason = waiter.pending_wake
        if reason is not None and reason is not Wake.SHUTDOWN:
            self.wake_one(waiter.queue_name, reason)

    def wake_one(self, queue_name: str, reason: Wake, *, exclude: Waiter | None = None) -> bool:
        """Wake the first waiter in line that is not woken yet, preferring one that sleeps
        over one that is claiming; False when every waiter of the queue is woken already."""
        fallback = None
        for waiter in self._by_queue.get(queue_name, ()):
            if waiter is exclude or waiter.woken:
                continue
            if waiter.idle:
                return waiter.wake(reason)
            if fallback is None:
                fallback = waiter
        return fallback.wake(reason) if fallback is not None else False

    def notified(self, queue_name: str) -> bool:
        """A notification for the queue (a run became claimable): count it, stop believing
        the queue drained, and wake one waiter."""
        self._notifications[queue_name] = self.seen(queue_name) + 1
        self._drained.pop(queue_name, None)
        return self.wake_one(queue_name, Wake.NOTIFIED)

    def seen(self, queue_name: str) -> int:
        """How many notifications for the queue arrived so far (read before a claim)."""
        return self._notifications.get(queue_name, 0)

    def begin_claim(self, waiter: Waiter) -> int:
        """`waiter` sends its claim now; returns `seen` for `note_drained`."""
        waiter.claim_seen = self.seen(waiter.queue_name)
        return waiter.claim_seen

    def end_claim(self, waiter: Waiter) -> None:
        """`waiter`'s claim answered."""
        waiter.claim_seen = None

    def covered(self, waiter: Waiter) -> bool:
        """Whether `waiter`, new, may sleep before claiming because another waiter of its
        queue will claim everything notified so far: one woken and not claiming yet, or one
        claiming that began after the last notification. Only while the listener listens
        (else a run that comes claimable later may go unnoticed)."""
        if not self.listening or self.closed:
            return False
        seen = self.seen(waiter.queue_name)
        return any(
            other is not waiter
            and ((other.woken and other.claim_seen is None) or other.claim_seen == seen)
            for other in self._by_queue.get(waiter.queue_name, ())
        )

    def note_drained(
        self,
        queue_name: str,
        seen_before: int,
        claimed: int,
        limit: int,
        seconds_until_due: float | None,
    ) -> None:
        """A claim sent when `seen_before` notifications had arrived got `claimed` of `limit`
        runs, and the earliest run it left pending is due in `seconds_until_due` (None: none
        is pending). Fewer than asked: the queue is drained, unless a notification came in
        meanwhile, the listener is away, or a run left pending is due already (another
        claimer holds it)."""
        if claimed >= limit or not self.listening or self.closed:
            return
        if self.seen(queue_name) != seen_before:
            return
        if seconds_until_due is not None and seconds_until_due <= 0:
            return
        now = self._now()
        due_at = None if seconds_until_due is None else now + seconds_until_due
        self._drained[queue_name] = (now, due_at)

    def drained(self, queue_name: str) -> bool:
        """Whether a long poll on the queue may sleep before claiming: the queue was found
        drained less than DRAINED_TRUST_SECONDS ago, with nothing notified since and its
        next run not due yet. Only a question: the long poll that sleeps on the answer
        arms the timer for that run with `arm_drained_due_timer`."""
        note = self._drained.get(queue_name)
        if note is None or not self.listening:
            return False
        noted_at, due_at = note
        now = self._now()
        return now - noted_at < DRAINED_TRUST_SECONDS and (due_at is None or due_at > now)

    def arm_drained_due_timer(self, queue_name: str) -> None:
        """A long poll on the queue (registered already) sleeps without claiming because the
        queue is `drained`: have a waiter woken when the run that the draining claim left
        pending comes due (nothing to arm when it left none)."""
        note = self._drained.get(queue_name)
        if note is None:
            return
        _, due_at = note
        if due_at is not None:
            self.wake_at(queue_name, due_at - self._now() + DUE_MARGIN_SECONDS)

    def stop_listening(self) -> None:
        """The listener lost its connection: notifications may be missed until it is back."""
        self.listening = False
        self._drained.clear()

    def _now(self) -> float:
        return (self._clock or asyncio.get_running_loop()).time()

    def wake_next_waiter(self, waiter: Waiter) -> bool:
        """`waiter` claimed and leaves while more runs may be due: wake the next one in line
        (never `waiter` itself); False when every other waiter is woken already."""
        return self.wake_one(waiter.queue_name, Wake.NOTIFIED, exclude=waiter)

    def wake_next_or_arm_due_timer(self, waiter: Waiter, seconds_until_due: float | None) -> None:
        """`waiter` leaves with runs: if more are due now, wake the next waiter to claim them,
        else have one woken when the next run comes due (None: nothing is pending)."""
        if seconds_until_due is None:
            return
        if seconds_until_due <= 0:
            self.wake_next_waiter(waiter)
        else:
            self.wake_at(waiter.queue_name, seconds_until_due + DUE_MARGIN_SECONDS)

    def wake_when_due(self, queue_name: str, seconds_until_due: float | None) -> None:
        """After a claim that got nothing: wake a waiter when the queue's earliest pending run
        is due (soon, if one is due already but was locked by another claimer)."""
        if seconds_until_due is None:
            return
        if seconds_until_due > 0:
            self.wake_at(queue_name, seconds_until_due + DUE_MARGIN_SECONDS)
        else:
            self.wake_at(queue_name, MIN_SLEEP_SECONDS)

    def wake_all(self, reason: Wake) -> None:
        """Wake every waiter not woken yet (after a listener reconnect: each looks once)."""
        self._drained.clear()
        for waiters in self._by_queue.values():
            for waiter in waiters:
                waiter.wake(reason)

    def wake_at(self, queue_name: str, delay: float) -> None:
        """Wake one waiter of the queue in `delay` seconds, unless one is due sooner already."""
        if self.closed or queue_name not in self._by_queue:
            return
        clock = self._clock or asyncio.get_running_loop()
        when = clock.time() + delay
        timer = self._due.get(queue_name)
        if timer is not None:
            if timer.when() <= when:
                return
            timer.cancel()
        self._due[queue_name] = clock.call_at(when, self._due_now, queue_name)

    def _due_now(self, queue_name: str) -> None:
        self._due.pop(queue_name, None)
        self._drained.pop(queue_name, None)
        self.wake_one(queue_name, Wake.DUE)

    def close(self) -> None:
        """Shutdown: wake every waiter (they answer with nothing) and every later one too."""
        self.closed = True
        self._drained.clear()
        for timer in self._due.values():
            timer.cancel()
        self._due.clear()
        self.wake_all(Wake.SHUTDOWN)
