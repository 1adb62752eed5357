"""The history sampler: every ~10 s one server process counts and samples every queue.

As with maintenance, every process runs the loop but only the holder of a
session-level advisory lock (on a dedicated connection, so the lock dies with
the process) samples; another process takes over at its next interval. One
sample is one statement (dq_monitoring_sample): it adds what was created and
finished since the last sample to the totals that /metrics exposes as
counters, stores one history row per queue for the dashboard's charts, and
drops rows older than a day.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiopg

from durable_queue.db import domain_errors, queries
from durable_queue.errors import Unavailable
from durable_queue.monitoring.store import MonitoringStore

log = logging.getLogger("durable_queue.monitoring.sampler")
SAMPLER_APPLICATION_NAME = "durable-queue-sampler"
SAMPLE_INTERVAL_SECONDS = 10.0
KEEP_SECONDS = 86400.0
# Rows are counted once they are this old, so statements in flight have committed.
SETTLE_SECONDS = 5.0
# Each statement counts at most 15 minutes of rows; after an outage, this many in a row.
MAX_CATCH_UP_STEPS = 200


class Sampler:
    """The history sampler of one server process."""

    def __init__(
        self,
        store: MonitoringStore,
        dsn: str,
        *,
        interval: float = SAMPLE_INTERVAL_SECONDS,
        keep_seconds: float = KEEP_SECONDS,
        settle_seconds: float = SETTLE_SECONDS,
    ) -> None:
        self.store = store
        self.dsn = dsn
        self.interval = interval
        self.keep_seconds = keep_seconds
        self.settle_seconds = settle_seconds
        self.active = False  # whether this process holds the sampler lock
        self._lock_conn: aiopg.Connection | None = None
        self._stopping = asyncio.Event()

    async def sample_once(self, *, settle_seconds: float | None = None) -> int:
        """Count everything up to now - settle_seconds and sample every queue; how many
        queues were sampled. Callable directly, e.g. from tests: the statement serialises
        concurrent callers on its watermark row. After a long outage (or on a database
        migrated long ago) it takes one bounded statement per 15 minutes to catch up."""
        settle = self.settle_seconds if settle_seconds is None else settle_seconds
        for _ in range(MAX_CATCH_UP_STEPS):
            sampled, caught_up = await self.store.sample(
                settle_seconds=settle, keep_seconds=self.keep_seconds
            )
            if caught_up:
                break
        return sampled

    async def run(self) -> None:
        """Until `stop()`: hold (or try to take) the sampler lock, sample, wait one interval."""
        while not self._stopping.is_set():
            try:
                with domain_errors():
                    if await self._hold_lock():
                        await self.sample_once()
            except Unavailable as exc:
                reason = str(exc.__cause__ or exc).strip()[:200]
                log.warning("sampler: database unavailable", extra={"reason": reason})
                self._drop_lock()
            except Exception:
                log.exception("sampler pass failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._stopping.wait()
        self._drop_lock()

    def stop(self) -> None:
        """Ask `run()` to return after the current sample."""
        self._stopping.set()

    async def _hold_lock(self) -> bool:
        if self._lock_conn is None or self._lock_conn.closed:
            self.active = False
            self._lock_conn = await aiopg.connect(
                self.dsn, timeout=10.0, application_name=SAMPLER_APPLICATION_NAME
            )
        if self.active:
            await queries.ping(self._lock_conn)  # a dead connection means the lock is gone
        else:
            self.active = bool(await queries.monitoring_try_lock_sampler(self._lock_conn))
            if self.active:
                log.info("sampler: this instance now samples queue history")
        return self.active

    def _drop_lock(self) -> None:
        """Close the lock connection; the lock goes with it."""
        self.active = False
        if self._lock_conn is not None:
            with contextlib.suppress(Exception):
                self._lock_conn.close()
            self._lock_conn = None
