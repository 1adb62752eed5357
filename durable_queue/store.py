"""The store: one method per use case, one transaction per state change.

It is the only module that runs queries. It takes plain values and records,
returns records, and raises the domain errors of `durable_queue.errors`;
it never sees an HTTP request.

Every state change of a task and its runs serialises on the task row
(`lock_task`) and then the run row; claims lock runs only, with SKIP LOCKED.
Emits and waits on one event name serialise on an advisory lock first.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import aiopg

from durable_queue import jsonvalue
from durable_queue.db import connection, queries, transaction
from durable_queue.errors import Conflict, NotFound
from durable_queue.records import (
    Checkpoint,
    CheckpointEntry,
    CheckpointSaved,
    ClaimedTask,
    ClaimExtended,
    CreatedTask,
    EventCreated,
    NewTask,
    Page,
    Queue,
    QueueStats,
    RunCompleted,
    RunFailed,
    RunScheduled,
    RunSummary,
    TaskCanceled,
    TaskDetail,
    TaskSummary,
    WaitOutcome,
    WorkflowRun,
    WorkflowRunCreated,
    WorkflowRunDetail,
    WorkflowRunPatch,
    WorkflowRunUpdated,
    from_row,
)
from durable_queue.retry import retry_delay

DEFAULT_TTL_SECONDS = 259200
# The most runs one claim hands out; larger limits are served up to this many.
MAX_CLAIM_BATCH = 1000


class Store:
    """Typed access to durable-queue's state in PostgreSQL."""

    def __init__(self, pool: aiopg.Pool) -> None:
        self.pool = pool
        self.claim_queries = 0  # claim statements run by this process (tests, bench, metrics)

    # -- health -----------------------------------------------------------

    async def ping(self) -> None:
        """Raise `Unavailable` unless the database answers."""
        async with connection(self.pool) as conn:
            await queries.ping(conn)

    # -- queues -----------------------------------------------------------

    async def create_queue(
        self, name: str, task_ttl_seconds: int | None, event_ttl_seconds: int | None
    ) -> Queue:
        async with connection(self.pool) as conn:
            row = await queries.insert_queue(
                conn,
                name=name,
                task_ttl_seconds=DEFAULT_TTL_SECONDS
                if task_ttl_seconds is None
                else task_ttl_seconds,
                event_ttl_seconds=DEFAULT_TTL_SECONDS
                if event_ttl_seconds is None
                else event_ttl_seconds,
            )
        if row is None:
            raise Conflict(f'queue "{name}" already exists')
        return from_row(row, Queue)

    async def list_queues(self) -> list[Queue]:
        async with connection(self.pool) as conn:
            return [from_row(row, Queue) async for row in queries.list_queues(conn)]

    async def get_queue(self, name: str) -> Queue:
        async with connection(self.pool) as conn:
            return await self._queue(conn, name)

    async def delete_queue(self, name: str, *, force: bool = False) -> None:
        async with transaction(self.pool) as conn:
            row = await queries.lock_queue_by_name(conn, name=name)
            if row is None:
                raise NotFound(f'queue "{name}" not found')
            if not force:
                unfinished = await queries.count_unfinished_tasks(conn, queue_id=row["id"])
                if unfinished:
                    raise Conflict(
                        f'queue "{name}" still has {unfinished} unfinished task(s); '
                        "use force=true to delete it anyway"
                    )
            await queries.delete_queue(conn, queue_id=row["id"])

    async def queue_stats(self, name: str) -> QueueStats:
        async with connection(self.pool) as conn:
            queue = await self._queue(conn, name)
            runs = await queries.queue_run_stats(conn, queue_id=queue.id)
            tasks_by_status = {
                row["status"]: row["count"]
                async for row in queries.queue_task_counts(conn, queue_id=queue.id)
            }
        return from_row(
            {**runs, "queue_name": name, "tasks_by_status": tasks_by_status}, QueueStats
        )

    # -- tasks ------------------------------------------------------------

    async def create_task(self, queue_name: str, new: NewTask) -> tuple[CreatedTask, bool]:
        """Create a task and its first run; (ids, False) when the idempotency key was used."""
        async with transaction(self.pool) as conn:
            row = await queries.share_queue_by_name(conn, name=queue_name)
            if row is None:
                raise NotFound(f'queue "{queue_name}" not found')
            queue = from_row(row, Queue)
            if new.workflow_run_id is not None and not await queries.workflow_run_exists(
                conn, workflow_run_id=new.workflow_run_id
            ):
                raise NotFound(f"workflow run {new.workflow_run_id} not found")
            row = await queries.insert_task_with_run(
                conn,
                queue_id=queue.id,
                task_name=new.task_name,
                params=jsonvalue.to_db(new.params),
                headers=jsonvalue.to_db(new.headers),
                retry_strategy=jsonvalue.to_db(new.retry_strategy),
                max_attempts=new.max_attempts,
                start_timeout=new.start_timeout,
                execution_timeout=new.execution_timeout,
                workflow_run_id=new.workflow_run_id,
                idempotency_key=new.idempotency_key,
                run_at=new.run_at,
            )
            if row is not None:
                return CreatedTask(row["task_id"], row["run_id"], new.workflow_run_id), True
            existing = await queries.get_task_ids_by_idempotency_key(
                conn, queue_id=queue.id, idempotency_key=new.idempotency_key
            )
            return from_row(existing, CreatedTask), False

    async def claim(self, queue_name: str, limit: int, claim_timeout: int) -> list[ClaimedTask]:
        """Claim up to `limit` due pending runs of the queue (one statement, SKIP LOCKED);
        callers clamp `limit` to MAX_CLAIM_BATCH."""
        async with connection(self.pool) as conn:
            queue = await self._queue(conn, queue_name)
            self.claim_queries += 1
            return [
                from_row(row, ClaimedTask)
                async for row in queries.claim_runs(
                    conn, queue_id=queue.id, limit=limit, claim_timeout=claim_timeout
                )
            ]

    async def seconds_until_due(self, queue_name: str) -> float | None:
        """Seconds until the queue's earliest pending run is due, by the database's clock
        (<= 0: due now; None: nothing pending)."""
        async with connection(self.pool) as conn:
            queue = await self._queue(conn, queue_name)
            return await queries.seconds_until_due(conn, queue_id=queue.id)

    async def list_tasks(
        self,
        *,
        queue_name: str | None = None,
        status: str | None = None,
        task_name: str | None = None,
        workflow_run_id: uuid.UUID | None = None,
        cursor: uuid.UUID | None = None,
        limit: int = 50,
    ) -> Page:
        return await self._page(
            queries.list_tasks,
            TaskSummary,
            limit,
            queue_name=queue_name,
            status=status,
            task_name=task_name,
            workflow_run_id=workflow_run_id,
            cursor=cursor,
        )

    async def get_task(self, task_id: uuid.UUID) -> TaskDetail:
        """A task with every stored field, its runs (attempt order) and checkpoint step names."""
        async with connection(self.pool) as conn:
            row = await queries.get_task_detail(conn, task_id=task_id)
            if row is None:
                raise NotFound(f"task {task_id} not found")
            runs = [
                from_row(r, RunSummary) async for r in queries.list_task_runs(conn, task_id=task_id)
            ]
            steps = [
                r["step_name"] async for r in queries.list_task_checkpoints(conn, task_id=task_id)
            ]
        return from_row({**row, "runs": runs, "checkpoints": steps}, TaskDetail)

    async def cancel_task(self, task_id: uuid.UUID) -> TaskCanceled:
        """Cancel a pending task and its live runs; a holder's next call gets 409."""
        async with transaction(self.pool) as conn:
            task = await queries.lock_task(conn, task_id=task_id)
            if task is None:
                raise NotFound(f"task {task_id} not found")
            if task["status"] != "pending":
                raise Conflict(f"task {task_id} is already {task['status']}")
            await queries.finish_task(
                conn, task_id=task_id, status="canceled", error="canceled", result=None
            )
            await queries.cancel_live_runs(conn, task_id=task_id, error="canceled")
        return TaskCanceled(task_id)

    # -- runs -------------------------------------------------------------

    async def list_runs(
        self,
        *,
        task_id: uuid.UUID | None = None,
        status: str | None = None,
        cursor: uuid.UUID | None = None,
        limit: int = 50,
    ) -> Page:
        return await self._page(
            queries.list_runs, RunSummary, limit, task_id=task_id, status=status, cursor=cursor
        )

    async def complete_run(self, run_id: uuid.UUID, result: Any = None) -> RunCompleted:
        async with transaction(self.pool) as conn:
            _task, _run = await self._lock_claimed_run(conn, run_id, "complete")
            stored = jsonvalue.to_db(result)
            await queries.complete_run(conn, run_id=run_id, result=stored)
            await queries.finish_task(
                conn, task_id=_task["id"], status="completed", error=None, result=stored
            )
        return RunCompleted(run_id)

    async def fail_run(self, run_id: uuid.UUID, error: str) -> RunFailed:
        async with transaction(self.pool) as conn:
            task, run = await self._lock_claimed_run(conn, run_id, "fail")
            await queries.fail_run(conn, run_id=run_id, error=error)
            failures = await queries.increment_task_failures(conn, task_id=task["id"])
            if failures < task["max_attempts"]:
                retry = await queries.insert_retry_run(
                    conn,
                    task_id=task["id"],
                    delay_seconds=retry_delay(_json(task["retry_strategy"]), failures),
                )
                return RunFailed(
                    run_id,
                    run["attempt"],
                    next_run_id=retry["id"],
                    next_attempt_at=retry["available_at"],
                )
            await queries.finish_task(
                conn, task_id=task["id"], status="failed", error=error, result=None
            )
        return RunFailed(run_id, run["attempt"])

    async def schedule_run(self, run_id: uuid.UUID, run_at: dt.datetime) -> RunScheduled:
        """Move a pending run, or release a claimed one to be resumed at `run_at`."""
        async with transaction(self.pool) as conn:
            _task, run = await self._lock_run(conn, run_id)
            if run["status"] not in ("pending", "claimed"):
                raise Conflict(
                    f"run {run_id} is {run['status']}: only a pending or claimed run can be scheduled"
                )
            row = await queries.reschedule_run(conn, run_id=run_id, run_at=run_at)
        return RunScheduled(run_id, row["available_at"])

    async def heartbeat(self, run_id: uuid.UUID, extend_by: int) -> ClaimExtended:
        """Extend a live claim to now + extend_by seconds."""
        async with transaction(self.pool) as conn:
            await self._lock_claimed_run(conn, run_id, "heartbeat")
            expires = await queries.extend_claim(conn, run_id=run_id, extend_by=extend_by)
        return ClaimExtended(run_id, expires)

    # -- events and waits ---------------------------------------------------

    async def emit_event(self, event_name: str, payload: Any = None) -> EventCreated:
        """Store an event and, in the same transaction, resolve and wake every wait on its name."""
        stored = jsonvalue.to_db(payload)
        async with transaction(self.pool) as conn:
            await queries.lock_event_name(conn, event_name=event_name)
            row = await queries.insert_event(conn, event_name=event_name, payload=stored)
            await queries.resolve_waits(conn, event_name=event_name, payload=stored)
        return EventCreated(row["id"], row["event_name"], row["created_at"])

    async def wait_for_event(
        self,
        run_id: uuid.UUID,
        *,
        task_id: uuid.UUID,
        event_name: str,
        step_name: str,
        timeout_seconds: int,
    ) -> WaitOutcome:
        """Steps 1-4 of DESIGN.md "Events and waits"; the caller must hold the run's claim."""
        async with transaction(self.pool) as conn:
            await queries.lock_event_name(conn, event_name=event_name)
            task, _run = await self._lock_claimed_run(conn, run_id, "wait for an event")
            if task["id"] != task_id:
                raise Conflict(f"run {run_id} does not belong to task {task_id}")
            wait = await queries.get_wait(conn, task_id=task_id, step_name=step_name)
            if wait is not None and wait["status"] == "resolved":
                return WaitOutcome("resolved", _json(wait["payload"]))
            if wait is not None and wait["status"] == "timeout":
                return WaitOutcome("timeout")
            event = await queries.latest_event(conn, event_name=event_name)
            if event is not None:
                await queries.record_wait(
                    conn,
                    task_id=task_id,
                    run_id=run_id,
                    step_name=step_name,
                    event_name=event_name,
                    status="resolved",
                    payload=jsonvalue.to_db(event["payload"]),
                    timeout_seconds=timeout_seconds,
                )
                return WaitOutcome("resolved", _json(event["payload"]))
            await queries.record_wait(
                conn,
                task_id=task_id,
                run_id=run_id,
                step_name=step_name,
                event_name=event_name,
                status="waiting",
                payload=None,
                timeout_seconds=timeout_seconds,
            )
            await queries.sleep_run(conn, run_id=run_id)
        return WaitOutcome("sleeping")

    # -- checkpoints --------------------------------------------------------

    async def put_checkpoint(
        self,
        task_id: uuid.UUID,
        step_name: str,
        *,
        state: Any,
        owner_run: uuid.UUID,
        extend_claim_by: int | None = None,
    ) -> CheckpointSaved:
        async with transaction(self.pool) as conn:
            task = await queries.lock_task(conn, task_id=task_id)
            if task is None:
                raise NotFound(f"task {task_id} not found")
            run = await queries.lock_run(conn, run_id=owner_run)
            if run is None:
                raise NotFound(f"run {owner_run} not found")
            if run["task_id"] != task_id:
                raise Conflict(f"run {owner_run} is not a run of task {task_id}")
            if run["status"] != "claimed":
                raise Conflict(f"run {owner_run} is {run['status']}: it does not hold a claim")
            row = await queries.upsert_checkpoint(
                conn,
                task_id=task_id,
                step_name=step_name,
                state=jsonvalue.to_db(state),
                owner_run=owner_run,
            )
            if extend_claim_by is not None:
                await queries.extend_claim(conn, run_id=owner_run, extend_by=extend_claim_by)
        return from_row(row, CheckpointSaved)

    async def get_checkpoint(self, task_id: uuid.UUID, step_name: str) -> Checkpoint:
        async with connection(self.pool) as conn:
            row = await queries.get_checkpoint(conn, task_id=task_id, step_name=step_name)
            if row is None:
                if await queries.get_task_summary(conn, task_id=task_id) is None:
                    raise NotFound(f"task {task_id} not found")
                raise NotFound(f'checkpoint "{step_name}" of task {task_id} not found')
        return from_row(row, Checkpoint)

    async def list_checkpoints(self, task_id: uuid.UUID) -> list[CheckpointEntry]:
        async with connection(self.pool) as conn:
            if await queries.get_task_summary(conn, task_id=task_id) is None:
                raise NotFound(f"task {task_id} not found")
            return [
                from_row(row, CheckpointEntry)
                async for row in queries.list_task_checkpoints(conn, task_id=task_id)
            ]

    # -- workflow runs --------------------------------------------------------

    async def get_workflow_run(self, workflow_run_id: uuid.UUID) -> WorkflowRunDetail:
        async with connection(self.pool) as conn:
            row = await queries.get_workflow_run(conn, workflow_run_id=workflow_run_id)
            if row is None:
                raise NotFound(f"workflow run {workflow_run_id} not found")
            counts = {
                r["status"]: r["count"]
                async for r in queries.workflow_task_counts(conn, workflow_run_id=workflow_run_id)
            }
        tasks = await self.list_tasks(workflow_run_id=workflow_run_id, limit=1000)
        return from_row(
            {**row, "tasks": tasks.items, "task_counts": counts},
            WorkflowRunDetail,
        )

    async def list_workflow_runs(
        self,
        *,
        workflow_name: str | None = None,
        status: str | None = None,
        cursor: uuid.UUID | None = None,
        limit: int = 50,
    ) -> Page:
        return await self._page(
            queries.list_workflow_runs,
            WorkflowRun,
            limit,
            workflow_name=workflow_name,
            status=status,
            cursor=cursor,
        )

    async def create_workflow_run(
        self,
        workflow_name: str,
        *,
        workflow_version: str | None = None,
        inputs: Any = None,
        created_by: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> WorkflowRunCreated:
        async with connection(self.pool) as conn:
            row = await queries.insert_workflow_run(
                conn,
                workflow_name=workflow_name,
                workflow_version=workflow_version,
                inputs=jsonvalue.to_db(inputs),
                created_by=created_by,
                tags=jsonvalue.to_db(tags),
            )
        return WorkflowRunCreated(row["id"], row["workflow_name"], row["status"], row["created_at"])

    async def update_workflow_run(
        self, workflow_run_id: uuid.UUID, patch: WorkflowRunPatch
    ) -> WorkflowRunUpdated:
        async with connection(self.pool) as conn:
            row = await queries.update_workflow_run(
                conn,
                workflow_run_id=workflow_run_id,
                status=patch.status,
                set_result=patch.result is not None,
                result=jsonvalue.to_db(patch.result),
                started_at=patch.started_at,
                completed_at=patch.completed_at,
            )
        if row is None:
            raise NotFound(f"workflow run {workflow_run_id} not found")
        return WorkflowRunUpdated(row["id"], row["status"], row["updated_at"])

    # -- helpers ---------------------------------------------------------------

    async def _page(self, query: Any, cls: type, limit: int, **filters: Any) -> Page:
        """One page of a listing query: fetch limit + 1 rows to know whether more exist."""
        async with connection(self.pool) as conn:
            rows = [row async for row in query(conn, limit=limit + 1, **filters)]
        items = [from_row(row, cls) for row in rows[:limit]]
        return Page(items, items[-1].id if len(rows) > limit else None)

    async def _queue(self, conn: aiopg.Connection, name: str) -> Queue:
        row = await queries.get_queue_by_name(conn, name=name)
        if row is None:
            raise NotFound(f'queue "{name}" not found')
        return from_row(row, Queue)

    async def _lock_run(
        self, conn: aiopg.Connection, run_id: uuid.UUID
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Lock a run's task, then the run itself (the one lock order of the store)."""
        task_id = await queries.get_run_task_id(conn, run_id=run_id)
        if task_id is None:
            raise NotFound(f"run {run_id} not found")
        task = await queries.lock_task(conn, task_id=task_id)
        run = await queries.lock_run(conn, run_id=run_id)
        if task is None or run is None:  # deleted between the two reads
            raise NotFound(f"run {run_id} not found")
        return task, run

    async def _lock_claimed_run(
        self, conn: aiopg.Connection, run_id: uuid.UUID, action: str
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Lock a run that must hold its claim; 409 for anyone else (the fence)."""
        task, run = await self._lock_run(conn, run_id)
        if run["status"] != "claimed":
            raise Conflict(f"run {run_id} is {run['status']}, not claimed: cannot {action}")
        return task, run


def _json(value: Any) -> Any:
    """A stored JSON value as a plain Python value (JSON_NULL and SQL NULL both None)."""
    return None if value is jsonvalue.JSON_NULL else value
