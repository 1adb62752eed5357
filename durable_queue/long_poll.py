"""The long-poll claim: claim now, else sleep (holding no connection) until a wake, then claim again.

The waiter registers before its first claim, so a run that becomes claimable
between "claimed nothing" and "sleep" leaves a wake on its future. After an
empty claim it tells the registry when the queue's earliest pending run is
due; the registry wakes one waiter then (scheduled runs and retries are
delivered when due, without every waiter waking for them). A waiter that
claimed a full batch looks whether more runs are due and if so hands the wake
on (a batch of inserts may fold into one notification), without sending a
second waiter to claim after every single run.
"""

from __future__ import annotations

import asyncio

from durable_queue.errors import DurableError
from durable_queue.listener import Waiter, Waiters, Wake
from durable_queue.records import ClaimedTask
from durable_queue.store import MAX_CLAIM_BATCH, Store

# When due runs exist but the claim got none (another claimer holds their locks),
# look again after this long instead of spinning.
MIN_SLEEP_SECONDS = 0.05
# Wake a little after available_at, so the claim's now() has surely passed it.
DUE_MARGIN_SECONDS = 0.002


async def claim(
    store: Store,
    waiters: Waiters,
    queue_name: str,
    limit: int,
    claim_timeout: int,
    long_poll_seconds: int = 0,
) -> list[ClaimedTask]:
    """Claim up to `limit` runs of the queue (at most MAX_CLAIM_BATCH), waiting up to
    `long_poll_seconds` for some."""
    limit = min(limit, MAX_CLAIM_BATCH)
    if not long_poll_seconds or waiters.closed:
        return await store.claim(queue_name, limit, claim_timeout)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + long_poll_seconds
    waiter = waiters.register(queue_name)
    try:
        woken_by: Wake | None = None
        while True:
            claimed = await store.claim(queue_name, limit, claim_timeout)
            if claimed:
                if len(claimed) >= limit or woken_by in (Wake.DUE, Wake.RECONNECTED):
                    # More runs may be due (a full batch), or this wake used up the due timer.
                    await _hand_on(store, waiters, waiter)
                return claimed
            if waiters.closed:
                return []
            await _wake_when_due(store, waiters, queue_name)
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            woken_by = await waiter.wait(remaining)
            if woken_by is None or woken_by is Wake.SHUTDOWN:
                return []
    finally:
        waiters.unregister(waiter)


async def _hand_on(store: Store, waiters: Waiters, waiter: Waiter) -> None:
    """`waiter` leaves with runs: if more are due now, wake the next waiter to claim them,
    else have the registry wake one when the next run comes due."""
    try:
        delay = await _seconds_until_due(store, waiter.queue_name)
    except DurableError:
        # The claimed runs must still reach the client: hand on blindly instead.
        waiters.pass_on(waiter)
        return
    if delay is None:
        return
    if delay <= 0:
        waiters.pass_on(waiter)
    else:
        waiters.wake_at(waiter.queue_name, delay + DUE_MARGIN_SECONDS)


async def _wake_when_due(store: Store, waiters: Waiters, queue_name: str) -> None:
    """Have the registry wake a waiter of the queue when its earliest pending run is due
    (soon, if one is due already but was not claimable just now)."""
    delay = await _seconds_until_due(store, queue_name)
    if delay is not None:
        waiters.wake_at(queue_name, delay + DUE_MARGIN_SECONDS if delay > 0 else MIN_SLEEP_SECONDS)


async def _seconds_until_due(store: Store, queue_name: str) -> float | None:
    """Seconds until the queue's earliest pending run is due (<= 0: due); None if none pending.
    Measured by the database's clock, so a skewed server clock delays nothing."""
    return await store.seconds_until_due(queue_name)
