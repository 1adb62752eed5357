"""The monitoring read side: the queries the metrics, the sampler and the dashboard run.

Monitoring has its own small store rather than methods on `durable_queue.store.Store`:
its statements are read-only aggregates and listings for people and scrapers (plus
the sampler's one call), never a state change of the lifecycle, and keeping them
apart lets the state-change store and its queries evolve without the dashboard's
needs in the way. Rows come back as records or plain dicts for templates.
"""

from __future__ import annotations

import uuid
from typing import Any

import aiopg
import attrs

from durable_queue.db import connection, queries


@attrs.frozen
class QueueGauges:
    """One queue's live gauges and its counted totals (monotonic since monitoring began)."""

    queue_name: str
    pending: int
    scheduled: int
    claimed: int
    sleeping: int
    oldest_pending_age_seconds: float | None
    tasks_created: int
    runs_completed: int
    runs_failed: int
    runs_expired: int
    runs_retried: int
    # flow control (docs/flow-control.md): the queue's limit, whether it is paused, its
    # due runs held back by a concurrency limit or the pause, and its busiest keys
    max_concurrency: int | None = None
    paused: bool = False
    held_back: int = 0
    busiest_keys: tuple[tuple[str, int], ...] = ()  # (key, claimed runs), most first


# The most keys per queue whose claimed runs /metrics reports (a bound on its series).
BUSIEST_KEYS = 10


@attrs.frozen
class ScheduleTotals:
    """One queue's schedules: how many are active (not paused) and paused, and the sums of
    their counters. Sums over the schedules that exist now: deleting one lowers them."""

    queue_name: str
    active: int
    paused: int
    fires: int
    skipped: int
    missed: int


@attrs.frozen
class HistoryPoint:
    """One bucket of a queue's history: bucket 0 is the newest `bucket_seconds`."""

    bucket: int
    pending: int
    runs_completed: int


class MonitoringStore:
    """Read-only monitoring queries over the server's pool."""

    def __init__(self, pool: aiopg.Pool) -> None:
        self.pool = pool

    async def queues(self) -> list[QueueGauges]:
        """Every queue's gauges, totals and flow-control numbers (its held-back runs and
        its BUSIEST_KEYS keys with the most claimed runs), by name, in one statement."""
        async with connection(self.pool) as conn:
            return [
                _gauges(row)
                async for row in queries.monitoring_queues(conn, busiest_keys=BUSIEST_KEYS)
            ]

    async def snapshot(self) -> tuple[list[QueueGauges], list[ScheduleTotals]]:
        """What a scrape reports from the database: every queue's gauges (as `queues`) and
        every queue's schedule totals, two statements on one connection."""
        async with connection(self.pool) as conn:
            gauges = [
                _gauges(row)
                async for row in queries.monitoring_queues(conn, busiest_keys=BUSIEST_KEYS)
            ]
            totals = [
                ScheduleTotals(**row) async for row in queries.monitoring_schedule_totals(conn)
            ]
        return gauges, totals

    async def schedule_tasks(self, name: str, limit: int) -> list[dict[str, Any]]:
        """The latest `limit` tasks of the schedule named `name` by slot, newest first."""
        async with connection(self.pool) as conn:
            return [
                row async for row in queries.monitoring_schedule_tasks(conn, name=name, limit=limit)
            ]

    async def history(self, seconds: float, bucket_seconds: float) -> dict[str, list[HistoryPoint]]:
        """Each queue's history of the last `seconds` in buckets (the deepest backlog and
        the completions of each), oldest first; buckets without a sample are absent."""
        out: dict[str, list[HistoryPoint]] = {}
        async with connection(self.pool) as conn:
            async for row in queries.monitoring_history(
                conn, seconds=seconds, bucket_seconds=bucket_seconds
            ):
                name = row.pop("queue_name")
                out.setdefault(name, []).append(HistoryPoint(**row))
        return out

    async def task_runs(self, task_id: uuid.UUID) -> list[dict[str, Any]]:
        """Every run of the task with its timings, in attempt order."""
        async with connection(self.pool) as conn:
            return [row async for row in queries.monitoring_task_runs(conn, task_id=task_id)]

    async def task_brief(self, task_id: uuid.UUID) -> dict[str, Any] | None:
        """One task's name, status and queue (a task page's parent line); None when it
        does not exist (a parent may have been deleted by retention before its children)."""
        async with connection(self.pool) as conn:
            return await queries.get_task_summary(conn, task_id=task_id)

    async def task_children(self, task_id: uuid.UUID, limit: int) -> list[dict[str, Any]]:
        """The task's latest `limit` children, newest first, with their status now."""
        async with connection(self.pool) as conn:
            return [
                row
                async for row in queries.monitoring_task_children(
                    conn, task_id=task_id, limit=limit
                )
            ]

    async def workflow_run_tree(
        self, workflow_run_id: uuid.UUID, limit: int
    ) -> list[dict[str, Any]]:
        """The first `limit` tasks of the workflow run, oldest first, with their parents."""
        async with connection(self.pool) as conn:
            return [
                row
                async for row in queries.monitoring_workflow_run_tree(
                    conn, workflow_run_id=workflow_run_id, limit=limit
                )
            ]

    async def task_waits(self, task_id: uuid.UUID) -> list[dict[str, Any]]:
        async with connection(self.pool) as conn:
            return [row async for row in queries.monitoring_task_waits(conn, task_id=task_id)]

    async def latest_events(self, event_name: str | None, limit: int) -> list[dict[str, Any]]:
        async with connection(self.pool) as conn:
            return [
                row
                async for row in queries.monitoring_latest_events(
                    conn, event_name=event_name, limit=limit
                )
            ]

    async def sample(self, *, settle_seconds: float, keep_seconds: float) -> tuple[int, bool]:
        """Run one sample (counts at most 15 minutes of rows into the totals, one history
        row per queue): how many queues were sampled, and whether it caught up."""
        async with connection(self.pool) as conn:
            row = await queries.monitoring_sample(
                conn, settle_seconds=settle_seconds, keep_seconds=keep_seconds
            )
        return row["sampled"], row["caught_up"]


def _gauges(row: dict[str, Any]) -> QueueGauges:
    keys = row.pop("busiest_keys") or ()
    return QueueGauges(**row, busiest_keys=tuple((key, claimed) for key, claimed in keys))
