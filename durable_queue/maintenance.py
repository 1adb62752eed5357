"""The maintenance loop: claim expiry, timeouts, wait timeouts, retention, queue
deletions left half done, and folding the per-queue count deltas.

Every instance runs the loop, but only the one holding a session-level
PostgreSQL advisory lock sweeps; the lock is held on a dedicated connection,
so when that instance dies its lock goes with it and another instance takes
over at its next interval. Each job runs in bounded batches, one transaction
(one statement) per batch, with SKIP LOCKED so it never waits on a worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiopg
import attrs

from durable_queue.db import connection, domain_errors, queries
from durable_queue.errors import Unavailable
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
    deleted_tasks: int = 0
    deleted_events: int = 0
    deleted_queues: int = 0


class Maintenance:
    """The sweeper of one server process."""

    def __init__(
        self,
        pool: aiopg.Pool,
        dsn: str,
        *,
        interval: float,
        max_claim_expiries: int,
        batch_size: int = 500,
    ) -> None:
        self.pool = pool
        self.dsn = dsn
        self.interval = interval
        self.max_claim_expiries = max_claim_expiries
        self.batch_size = batch_size
        self.active = False  # whether this process holds the sweeper lock
        self._lock_conn: aiopg.Connection | None = None
        self._stopping = asyncio.Event()

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
                if row["expired"] < self.batch_size:
                    break
            await self._drain(conn, queries.clear_met_start_deadlines)
            for _ in range(MAX_BATCHES_PER_JOB):
                row = await queries.timeout_tasks(conn, batch_size=self.batch_size)
                report.canceled_tasks += row["canceled_tasks"]
                if row["canceled_tasks"] < self.batch_size:
                    break
            report.timed_out_waits += await self._drain(conn, queries.timeout_waits)
            report.deleted_tasks += await self._drain(conn, queries.delete_expired_tasks)
            report.deleted_events += await self._drain(conn, queries.delete_expired_events)
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

    async def run(self) -> None:
        """Until `stop()`: hold (or try to take) the sweeper lock, sweep, wait one interval.

        Stopping lets the current pass finish instead of cancelling it, so no
        pooled connection is abandoned mid-query.
        """
        while not self._stopping.is_set():
            try:
                with domain_errors():
                    if await self._hold_lock():
                        await self.sweep_once()
            except Unavailable as exc:
                reason = str(exc.__cause__ or exc).strip()[:200]
                log.warning("maintenance: database unavailable", extra={"reason": reason})
                await self._drop_lock(lost=True)
            except Exception:
                log.exception("maintenance pass failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._stopping.wait()
        await self._drop_lock(lost=False)

    def stop(self) -> None:
        """Ask `run()` to return after the current pass."""
        self._stopping.set()

    async def _hold_lock(self) -> bool:
        """Whether this process is the sweeper; checks the lock connection is still alive."""
        if self._lock_conn is None or self._lock_conn.closed:
            self.active = False
            self._lock_conn = await aiopg.connect(
                self.dsn, timeout=10.0, application_name=MAINTENANCE_APPLICATION_NAME
            )
        if self.active:
            await queries.ping(self._lock_conn)  # a dead connection means the lock is gone
        else:
            self.active = bool(await queries.try_lock_sweeper(self._lock_conn))
            if self.active:
                log.info("maintenance: this instance is now the sweeper")
        return self.active

    async def _drop_lock(self, *, lost: bool) -> None:
        """Close the lock connection (the lock goes with it): `lost` when the database
        took it away, else a clean release at stop."""
        if self.active and lost:
            log.warning("maintenance: lost the sweeper lock")
        elif self.active:
            log.info("maintenance: released the sweeper lock")
        self.active = False
        if self._lock_conn is not None:
            with contextlib.suppress(Exception):
                self._lock_conn.close()
            self._lock_conn = None
