"""The long-poll claim: claim now, else sleep (holding no connection) until a wake, then claim again.

The waiter registers before its first claim, so a run that becomes claimable
between "claimed nothing" and "sleep" leaves a wake on its future. After an
empty claim it tells the registry when the queue's earliest pending run is
due; the registry wakes one waiter then (scheduled runs and retries are
delivered when due, without every waiter waking for them). A waiter that
claimed a full batch looks whether more runs are due and if so hands the wake
on (a batch of inserts may fold into one notification), without sending a
second waiter to claim after every single run. Which waiter wakes when is
decided in `durable_queue.waiters`; this module only asks the store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from durable_queue.errors import DurableError, Unavailable
from durable_queue.records import ClaimedTask
from durable_queue.store import MAX_CLAIM_BATCH, Store
from durable_queue.waiters import Waiter, Waiters, WaitersFull, Wake, hands_on

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
        while True:
            claimed, seconds_until_due = await store.claim_or_due(queue_name, limit, claim_timeout)
            if claimed:
                if woken_at is not None and on_wake is not None:
                    on_wake(loop.time() - woken_at)
                if hands_on(len(claimed), limit, woken_by):
                    await _hand_on(store, waiters, waiter)
                return claimed
            if waiters.closed:
                return []
            waiters.wake_when_due(queue_name, seconds_until_due)
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            woken_by = await waiter.wait(remaining)
            woken_at = loop.time()
            if woken_by is None or woken_by is Wake.SHUTDOWN:
                return []
    finally:
        waiters.unregister(waiter)


async def _hand_on(store: Store, waiters: Waiters, waiter: Waiter) -> None:
    """`waiter` leaves with runs: let the registry wake the next one now or when due."""
    try:
        seconds_until_due = await store.seconds_until_due(waiter.queue_name)
    except DurableError:
        # The claimed runs must still reach the client: hand on blindly instead.
        waiters.pass_on(waiter)
        return
    waiters.hand_on(waiter, seconds_until_due)
