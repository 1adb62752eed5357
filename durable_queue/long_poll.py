"""The long-poll claim: claim now, else sleep (holding no connection) until a wake, then claim again.

The waiter registers before its first claim, so a run that becomes claimable
between "claimed nothing" and "sleep" leaves a wake on its future. The claim
statement also answers when the earliest run it left pending is due. After an
empty claim the registry wakes one waiter then (scheduled runs and retries are
delivered when due, without every waiter waking for them). A waiter that
claimed a full batch hands the wake on when more runs are due (a batch of
inserts may fold into one notification), without sending a second waiter to
claim after every single run. A claim that got fewer runs than it asked for
tells the registry the queue is drained, so the next long poll arriving soon
after sleeps at once instead of claiming nothing; so does one arriving while
another waiter's claim will see every run notified so far. Which waiter wakes when is
decided in `durable_queue.waiters`; this module only asks the store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from durable_queue.errors import Unavailable
from durable_queue.store import MAX_CLAIM_BATCH, Store
from durable_queue.waiters import Waiters, WaitersFull, Wake, must_wake_next
from durable_queue.wire import ClaimedTask

# What a refused long poll is told to wait before it asks again (the Retry-After header).
RETRY_AFTER_SECONDS = 1


class TooManyWaiters(Unavailable):
    """The process holds DURABLE_MAX_WAITERS long polls already; nothing was claimed."""

    retry_after_seconds = RETRY_AFTER_SECONDS


async def claim(
    store: Store,
    waiters: Waiters,
    queue_name: str,
    limit: int,
    claim_timeout: int,
    long_poll_seconds: int = 0,
    on_wake: Callable[[float], object] | None = None,
) -> list[ClaimedTask]:
    """Claim up to `limit` runs of the queue (at most MAX_CLAIM_BATCH), waiting up to
    `long_poll_seconds` for some; `on_wake(seconds)` hears, for a claim that slept, how
    long after its wake it answered with runs."""
    limit = min(limit, MAX_CLAIM_BATCH)
    if not long_poll_seconds or waiters.closed:
        return await store.claim(queue_name, limit, claim_timeout)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + long_poll_seconds
    try:
        waiter = waiters.register(queue_name)
    except WaitersFull as exc:
        raise TooManyWaiters(
            f"the server holds its limit of {waiters.max_waiters} long polls "
            "(DURABLE_MAX_WAITERS); retry later"
        ) from exc
    try:
        woken_by: Wake | None = None
        woken_at: float | None = None
        # found drained a moment ago by this process, nothing notified since (sleep until a
        # wake or the run it left pending comes due), or another waiter about to claim what
        # was notified: sleep first
        if waiters.drained(queue_name):
            waiters.arm_drained_due_timer(queue_name)
            must_claim = False
        else:
            must_claim = not waiters.covered(waiter)
        while True:
            if must_claim:
                seen = waiters.begin_claim(waiter)
                claimed, seconds_until_due = await store.claim_or_due(
                    queue_name, limit, claim_timeout
                )
                waiters.end_claim(waiter)
                waiters.note_drained(queue_name, seen, len(claimed), limit, seconds_until_due)
                if claimed:
                    if woken_at is not None and on_wake is not None:
                        on_wake(loop.time() - woken_at)
                    if must_wake_next(len(claimed), limit, woken_by):
                        waiters.wake_next_or_arm_due_timer(waiter, seconds_until_due)
                    else:
                        # whoever slept on this claim (`covered`) is woken when the next
                        # pending run is due (soon, if another claimer holds it locked),
                        # as an empty claim of its own would have arranged
                        waiters.wake_when_due(queue_name, seconds_until_due)
                    return claimed
                if waiters.closed:
                    return []
                waiters.wake_when_due(queue_name, seconds_until_due)
            must_claim = True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            woken_by = await waiter.wait(remaining)
            woken_at = loop.time()
            if woken_by is None or woken_by is Wake.SHUTDOWN:
                return []
    finally:
        waiters.unregister(waiter)
