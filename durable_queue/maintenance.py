"""The maintenance loop: claim expiry, timeouts, wait and join timeouts, retention, queue
deletions left half done, and folding the per-queue count deltas.

Every instance runs the loop, but only the one holding the sweeper's advisory
lock sweeps (`durable_queue.elected`). Each job runs in bounded batches, one transaction
(one statement) per batch, with SKIP LOCKED so it never waits on a worker.
"""

from __future__ import annotations

import logging

import aiopg
import attrs

from durable_queue.db import connection, queries
from durable_queue.elected import ElectedLoop
from durable_queue.store import Store

log = logging.getLogger("durable_queue.maintenance")
MAINTENANCE_APPLICATION_NAME = "durable-queue-maintenance"
MAX_BATCHES_PER_JOB = 20  # bounds one pass; the rest waits for the next interval
FOLD_BATCH_SIZE = 10_000  # count deltas folded per statement


@attrs.define
class SweepReport:
    """What one pass did."""

    expired_claims: int = 0
    retried_runs: int = 0
    canceled_tasks: int = 0
    timed_out_waits: int = 0
    timed_out_joins: int = 0
    deleted_tasks: int = 0
    deleted_events: int = 0
    deleted_queues: int = 0
    purged_rate_buckets: int = 0  # refilled rate-limit buckets (a missing bucket is full)


class Maintenance(ElectedLoop):
    """The sweeper of one server process."""

    job = "maintenance"
    role = "sweeper"
    application_name = MAINTENANCE_APPLICATION_NAME
    log = log

    def __init__(
        self,
        pool: aiopg.Pool,
        dsn: str,
        *,
        interval: float,
        max_claim_expiries: int,
        batch_size: int = 500,
    ) -> None:
        super().__init__(dsn, interval=interval)
        self.pool = pool
        self.max_claim_expiries = max_claim_expiries
        self.batch_size = batch_size

    async def sweep_once(self) -> SweepReport:
        """Run every job once, in bounded batches (callable directly, e.g. from tests)."""
        report = SweepReport()
        async with connection(self.pool) as conn:
            for _ in range(MAX_BATCHES_PER_JOB):
                row = await queries.expire_claims(
                    conn, batch_size=self.batch_size, max_expiries=self.max_claim_expiries
                )
                report.expired_claims += row["expired"]
                report.retried_runs += row["retried"]
                if row["scanned"] < self.batch_size:  # not `expired`: a run whose task is
                    break  # locked now is left for the next batch, and more may be due
            for _ in range(MAX_BATCHES_PER_JOB):
                row = await queries.timeout_tasks(conn, batch_size=self.batch_size)
                report.canceled_tasks += row["canceled_tasks"]
                if row["settled"] < self.batch_size:
                    break
            for _ in range(MAX_BATCHES_PER_JOB):
                row = await queries.timeout_waits(conn, batch_size=self.batch_size)
                report.timed_out_waits += row["timed_out"]
                if row["scanned"] < self.batch_size:  # as for expire_claims
                    break
            for _ in range(MAX_BATCHES_PER_JOB):
                row = await queries.timeout_joins(conn, batch_size=self.batch_size)
                report.timed_out_joins += row["timed_out"]
                if row["scanned"] < self.batch_size:
                    break
            report.deleted_tasks += await self._drain(conn, queries.delete_expired_tasks)
            report.deleted_events += await self._drain(conn, queries.delete_expired_events)
            report.purged_rate_buckets += await self._drain(conn, queries.purge_full_rate_buckets)
            detached = [row["id"] async for row in queries.detached_queues(conn)]
            await self._drain(conn, queries.fold_queue_counts, FOLD_BATCH_SIZE)
        store = Store(self.pool)
        for queue_id in detached:  # a queue delete that stopped half way
            if await store.finish_queue_deletion(queue_id, max_batches=MAX_BATCHES_PER_JOB):
                report.deleted_queues += 1
        if any(attrs.astuple(report)):
            log.info("maintenance pass", extra=attrs.asdict(report))
        return report

    async def _drain(self, conn: aiopg.Connection, query, batch_size: int | None = None) -> int:
        batch_size = batch_size or self.batch_size
        total = 0
        for _ in range(MAX_BATCHES_PER_JOB):
            count = await query(conn, batch_size=batch_size)
            total += count
            if count < batch_size:
                break
        return total

    async def try_lock(self, conn: aiopg.Connection) -> bool:
        return bool(await queries.try_lock_sweeper(conn))

    async def one_pass(self) -> SweepReport:
        return await self.sweep_once()
