"""The long-poll claim: claim now, else sleep (holding no connection) until a wake, then claim again.

The waiter registers before its first claim, so a run that becomes claimable
between "claimed nothing" and "sleep" leaves a wake on its future. After an
empty claim it tells the registry when the queue's earliest pending run is
due; the registry wakes one waiter then (scheduled runs and retries are
delivered when due, without every waiter waking for them). A waiter that
claimed a full batch hands the wake on, since more runs may be waiting (a
batch of inserts may fold into one notification).
"""

from __future__ import annotations

import asyncio
import datetime as dt

from durable_queue.listener import Waiters, Wake
from durable_queue.records import ClaimedTask
from durable_queue.store import Store

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
    """Claim up to `limit` runs of the queue, waiting up to `long_poll_seconds` for some."""
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
                if len(claimed) >= limit:
                    waiters.pass_on(waiter)
                if woken_by in (Wake.DUE, Wake.RECONNECTED):
                    # The due timer was used up by this wake: set it for the next run.
                    await _wake_when_due(store, waiters, queue_name)
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


async def _wake_when_due(store: Store, waiters: Waiters, queue_name: str) -> None:
    """Have the registry wake a waiter of the queue when its earliest pending run is due."""
    available_at = await store.next_available_at(queue_name)
    if available_at is None:
        return
    delay = (available_at - dt.datetime.now(dt.UTC)).total_seconds()
    waiters.wake_at(queue_name, delay + DUE_MARGIN_SECONDS if delay > 0 else MIN_SLEEP_SECONDS)
