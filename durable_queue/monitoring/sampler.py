"""The history sampler: every ~10 s one server process counts and samples every queue.

As with maintenance, every process runs the loop but only the holder of the
sampler's advisory lock samples (`durable_queue.elected`). One sample is one statement (dq_monitoring_sample): it adds what was created and
finished since the last sample to the totals that /metrics exposes as
counters, stores one history row per queue for the dashboard's charts, and
drops rows older than a day.
"""

from __future__ import annotations

import logging

import aiopg

from durable_queue.db import queries
from durable_queue.elected import ElectedLoop
from durable_queue.monitoring.store import MonitoringStore

log = logging.getLogger("durable_queue.monitoring.sampler")
SAMPLER_APPLICATION_NAME = "durable-queue-sampler"
SAMPLE_INTERVAL_SECONDS = 10.0
KEEP_SECONDS = 86400.0
# Rows are counted once they are this old, so statements in flight have committed.
SETTLE_SECONDS = 5.0
# Each statement counts at most 15 minutes of rows; after an outage, this many in a row.
MAX_CATCH_UP_STEPS = 200


class Sampler(ElectedLoop):
    """The history sampler of one server process."""

    job = "sampler"
    role = "sampler"
    application_name = SAMPLER_APPLICATION_NAME
    log = log

    def __init__(
        self,
        store: MonitoringStore,
        dsn: str,
        *,
        interval: float = SAMPLE_INTERVAL_SECONDS,
        keep_seconds: float = KEEP_SECONDS,
        settle_seconds: float = SETTLE_SECONDS,
    ) -> None:
        super().__init__(dsn, interval=interval)
        self.store = store
        self.keep_seconds = keep_seconds
        self.settle_seconds = settle_seconds

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

    async def try_lock(self, conn: aiopg.Connection) -> bool:
        return bool(await queries.monitoring_try_lock_sampler(conn))

    async def one_pass(self) -> int:
        return await self.sample_once()
