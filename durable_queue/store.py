"""The store: one method per use case, one statement per state change.

It is the only module that runs queries. It takes plain values and records,
returns records, and raises the domain errors of `durable_queue.errors`;
it never sees an HTTP request.

Each state change is one call of a PL/pgSQL function (one file each in
migrations/functions/, e.g. dq_claim.sql), sent in autocommit: the function takes the locks (task row, then run row; claims lock runs
only, with SKIP LOCKED; emits and waits on one event name take its advisory lock
first), applies the lifecycle rule and its fence (the run must be claimed, and under
the caller's claim token when one is given), and answers with an `outcome` column
that the store maps to a domain error.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Sequence
from typing import Any

import aiopg
import attrs

from durable_queue import jsonvalue
from durable_queue.codec import from_row
from durable_queue.commands import (
    FLOW_SETTINGS,
    TTL_SETTINGS,
    KeyOverride,
    NewTask,
    QueueFlow,
    QueuePatch,
    RateLimit,
    WorkflowRunPatch,
)
from durable_queue.composition_store import CompositionStore
from durable_queue.db import connection, queries, transaction
from durable_queue.errors import Conflict, NotFound, ValidationError, claim_token_required
from durable_queue.fence import not_claimed_message, raise_run_outcome, stale_token_message
from durable_queue.schedule_store import ScheduleStore
from durable_queue.wire import (
    Checkpoint,
    CheckpointEntry,
    CheckpointSaved,
    ChildCounts,
    ClaimedTask,
    ClaimExtended,
    ConcurrencyKey,
    ConcurrencyKeyList,
    CreatedTask,
    CreatedTasks,
    EventCreated,
    JsonText,
    KeyLimits,
    QueueStats,
    RateLimitSetting,
    RunCompleted,
    RunFailed,
    RunScheduled,
    RunSummary,
    TaskCanceled,
    TaskDetail,
    TaskSummary,
    WorkflowRun,
    WorkflowRunCreated,
    WorkflowRunDetail,
    WorkflowRunUpdated,
)

DEFAULT_TTL_SECONDS = 259200
# The most runs one claim hands out; larger limits are served up to this many.
MAX_CLAIM_BATCH = 1000
# Tasks deleted per transaction when a queue is deleted: short enough that no lock or
# snapshot is held for long, large enough that the per-statement cost is amortised.
QUEUE_DELETE_BATCH = 1000


# -- what the store answers that is not sent as it is (a handler shapes the wire record) --


@attrs.frozen
class Queue:
    id: uuid.UUID
    name: str
    task_ttl_seconds: int
    event_ttl_seconds: int
    created_at: dt.datetime
    flow: QueueFlow = attrs.field(factory=QueueFlow)

    @classmethod
    def of_row(cls, row: dict[str, Any]) -> Queue:
        """From a queue row of queries/queues.sql (its settings as columns)."""
        return cls(
            id=row["id"],
            name=row["name"],
            task_ttl_seconds=row["task_ttl_seconds"],
            event_ttl_seconds=row["event_ttl_seconds"],
            created_at=row["created_at"],
            flow=QueueFlow(
                max_concurrency=row["max_concurrency"],
                key_concurrency=row["key_concurrency"],
                rate_limit=_rate(row["rate_limit"], row["rate_period_seconds"]),
                key_rate_limit=_rate(row["key_rate_limit"], row["key_rate_period_seconds"]),
                paused=row["paused"],
            ),
        )


@attrs.frozen
class Page:
    """One page of a listing; `next_cursor` only when more rows exist."""

    items: list[Any]
    next_cursor: uuid.UUID | None


@attrs.frozen
class WaitOutcome:
    """What the store answers a wait-for-event: resolved, sleeping or timeout."""

    status: str
    payload: Any = None


@attrs.frozen
class RunCompletion:
    """One item's answer in a batch complete: status "completed", or "conflict" /
    "not_found" with the error a single complete would have given."""

    run_id: uuid.UUID
    status: str
    error: str | None = None


class Store:
    """Typed access to durable-queue's state in PostgreSQL."""

    def __init__(self, pool: aiopg.Pool) -> None:
        self.pool = pool
        self.claim_queries = 0  # claim statements run by this process (tests, bench, metrics)
        self.schedules = ScheduleStore(pool)
        self.composition = CompositionStore(pool)

    # -- health -----------------------------------------------------------

    async def ping(self) -> None:
        """Raise `Unavailable` unless the database answers."""
        async with connection(self.pool) as conn:
            await queries.ping(conn)

    # -- queues -----------------------------------------------------------

    async def create_queue(
        self,
        name: str,
        task_ttl_seconds: int | None,
        event_ttl_seconds: int | None,
        flow: QueueFlow | None = None,
    ) -> Queue:
        """Create a queue; its flow-control settings, when any is given, are set in the
        same transaction."""
        async with transaction(self.pool) as conn:
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
            if flow is not None and flow != QueueFlow():
                changes = _flow_changes(flow, frozenset(FLOW_SETTINGS))
                row = await queries.update_queue(conn, name=name, changes=changes)
        return Queue.of_row(row)

    async def update_queue(self, name: str, patch: QueuePatch) -> Queue:
        """Change the settings named in `patch.given` (None clears a limit, restores a
        ttl's default); waits for claims in flight, and wakes the queue's long polls."""
        ttls = {
            ttl: DEFAULT_TTL_SECONDS
            if getattr(patch.cleanup, ttl) is None
            else getattr(patch.cleanup, ttl)
            for ttl in patch.given & frozenset(TTL_SETTINGS)
        }
        changes = _flow_changes(patch.flow, patch.given & frozenset(FLOW_SETTINGS), ttls)
        async with connection(self.pool) as conn:
            row = await queries.update_queue(conn, name=name, changes=changes)
        if row is None:
            raise NotFound(f'queue "{name}" not found')
        return Queue.of_row(row)

    async def list_queues(self) -> list[Queue]:
        async with connection(self.pool) as conn:
            return [Queue.of_row(row) async for row in queries.list_queues(conn)]

    async def get_queue(self, name: str) -> Queue:
        async with connection(self.pool) as conn:
            return await self._queue(conn, name)

    async def delete_queue(self, name: str, *, force: bool = False) -> None:
        """Delete a queue and everything in it, in bounded transactions.

        One short transaction checks for unfinished tasks (unless `force`) and detaches
        the queue (renamed to a name no request can address, so from then on its name
        is free and creates, claims and stats on it answer 404); then its tasks go in
        batches of QUEUE_DELETE_BATCH, each its own transaction, then the queue row. If
        this call stops half way, the maintenance loop finishes the deletion."""
        async with transaction(self.pool) as conn:
            row = await queries.lock_queue_by_name(conn, name=name)
            if row is None:
                raise NotFound(f'queue "{name}" not found')
            if not force:
                counts = await self._counts(conn, row["id"])
                unfinished = counts.get(("task", "pending"), 0)
                if unfinished:
                    raise Conflict(
                        f'queue "{name}" still has {unfinished} unfinished task(s); '
                        "use force=true to delete it anyway"
                    )
            await queries.detach_queue(conn, queue_id=row["id"])
        # after the detach commits (a fire holds a schedule's lock while it reads the
        # queue); a fire that finds the queue gone pauses its schedule too
        await self.schedules.pause_schedules_of_queue(name)
        await self.finish_queue_deletion(row["id"])

    async def finish_queue_deletion(
        self, queue_id: uuid.UUID, *, max_batches: int | None = None
    ) -> bool:
        """Delete a detached queue's tasks in batches, then the queue; False when
        `max_batches` ran out first (call again to go on)."""
        batches = 0
        after = None  # keyset: each batch starts where the last one ended
        async with connection(self.pool) as conn:
            while max_batches is None or batches < max_batches:
                batches += 1
                row = await queries.delete_queue_tasks(
                    conn, queue_id=queue_id, after=after, batch_size=QUEUE_DELETE_BATCH
                )
                if row["deleted"] == 0:
                    # tasks skipped while locked, or created meanwhile, go in this cascade
                    await queries.delete_queue(conn, queue_id=queue_id)
                    return True
                after = row["last_id"]
        return False

    async def queue_stats(self, name: str) -> QueueStats:
        """Run and task counts from the counters (exact), the not-yet-due runs and the
        oldest due run's age from the claim index."""
        async with connection(self.pool) as conn:
            queue = await self._queue(conn, name)
            counts = await self._counts(conn, queue.id)
            due = await queries.queue_due_runs(conn, queue_id=queue.id)
            held_back = await queries.held_back_runs(conn, queue_id=queue.id)
        runs = {
            f"{status}_runs": counts.get(("run", status), 0)
            for status in ("pending", "claimed", "completed", "failed", "sleeping", "canceled")
        }
        tasks_by_status = {status: n for (kind, status), n in counts.items() if kind == "task"}
        return from_row(
            {
                **runs,
                **due,
                "queue_name": name,
                "tasks_by_status": tasks_by_status,
                "max_concurrency": queue.flow.max_concurrency,
                "held_back_runs": held_back,
            },
            QueueStats,
        )

    # -- concurrency keys -------------------------------------------------

    async def put_key_override(
        self, queue_name: str, key: str, override: KeyOverride
    ) -> ConcurrencyKey:
        """Set a key's own limits in place of the queue's key defaults; wakes the queue's
        long polls."""
        rate = override.rate_limit
        async with connection(self.pool) as conn:
            row = await queries.put_key(
                conn,
                queue_name=queue_name,
                key=key,
                max_concurrency=override.max_concurrency,
                rate_limit=rate and rate.limit,
                rate_period_seconds=rate and rate.period_seconds,
            )
            if row is None:
                raise NotFound(f'queue "{queue_name}" not found')
            (entry,) = await self._key_rows(conn, row["id"], [key])
        return entry

    async def delete_key_override(self, queue_name: str, key: str) -> None:
        async with connection(self.pool) as conn:
            outcome = await queries.delete_key(conn, queue_name=queue_name, key=key)
        if outcome == "queue_not_found":
            raise NotFound(f'queue "{queue_name}" not found')
        if outcome == "key_not_found":
            raise NotFound(f'key "{key}" of queue "{queue_name}" has no override')

    async def list_keys(
        self, queue_name: str, cursor: str | None, limit: int
    ) -> ConcurrencyKeyList:
        """A page of the queue's keys in text order: those with pending or claimed runs,
        or an override; `next_cursor` (the page's last key) only when more exist."""
        async with connection(self.pool) as conn:
            queue = await self._queue(conn, queue_name)
            names = [
                row["key"]
                async for row in queries.list_key_names(
                    conn, queue_id=queue.id, cursor=cursor, limit=limit + 1
                )
            ]
            keys = await self._key_rows(conn, queue.id, names[:limit])
        return ConcurrencyKeyList(keys, names[limit - 1] if len(names) > limit else None)

    async def busiest_keys(self, queue_name: str, limit: int = 10) -> list[ConcurrencyKey]:
        """The queue's keys with the most runs claimed now (the dashboard's)."""
        async with connection(self.pool) as conn:
            queue = await self._queue(conn, queue_name)
            names = [
                row["key"]
                async for row in queries.busiest_key_names(conn, queue_id=queue.id, limit=limit)
            ]
            return await self._key_rows(conn, queue.id, names)

    # -- tasks ------------------------------------------------------------

    async def create_task(self, queue_name: str, new: NewTask) -> tuple[CreatedTask, bool]:
        """Create a task and its first run; (ids, False) when the idempotency key was used."""
        _check_parent(new)
        async with connection(self.pool) as conn:
            row = await queries.create_task(
                conn,
                queue_name=queue_name,
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
                priority=new.priority,
                concurrency_key=new.concurrency_key,
                parent_task_id=new.parent_task_id,
                parent_close=new.parent_close,
            )
        _raise_create_outcome(row, queue_name)
        return _created(row), row["created"]

    async def create_tasks(self, queue_name: str, tasks: list[NewTask]) -> JsonText:
        """Create many tasks in one statement, all or nothing: the answer's JSON text
        (`CreatedTasks`, items in input order), written by PostgreSQL.

        `created` is false where the item's idempotency key named a task already, also
        one created by an earlier item of the same list (its ids are returned)."""
        for index, new in enumerate(tasks):
            _check_parent(new, f"tasks[{index}].")
        items = jsonvalue.dumps([_task_item(new) for new in tasks])
        async with connection(self.pool) as conn:
            row = await queries.create_tasks(conn, queue_name=queue_name, tasks=items)
        _raise_create_outcome(row, queue_name)
        return JsonText(row["body"], CreatedTasks)

    async def claim(self, queue_name: str, limit: int, claim_timeout: int) -> list[ClaimedTask]:
        """Claim up to `limit` due pending runs of the queue (one statement, SKIP LOCKED);
        callers clamp `limit` to MAX_CLAIM_BATCH."""
        async with connection(self.pool) as conn:
            self.claim_queries += 1
            rows = [
                row
                async for row in queries.claim_runs(
                    conn, queue_name=queue_name, limit=limit, claim_timeout=claim_timeout
                )
            ]
        if rows and rows[0]["outcome"] == "not_found":
            raise NotFound(f'queue "{queue_name}" not found')
        return await self._claimed(rows)

    async def claim_or_due(
        self, queue_name: str, limit: int, claim_timeout: int
    ) -> tuple[list[ClaimedTask], float | None]:
        """`claim`, and when to claim next, in one statement: (claimed, seconds until a
        claim could next get a run without a notification: the earliest run left pending
        comes due, or a rate limit's next token; None: only on a notification, as when
        every due run is held by a concurrency limit or the queue is paused)."""
        async with connection(self.pool) as conn:
            self.claim_queries += 1
            rows = [
                row
                async for row in queries.claim_runs_or_due(
                    conn, queue_name=queue_name, limit=limit, claim_timeout=claim_timeout
                )
            ]
        outcome, seconds_until_due = rows[0]["outcome"], rows[0]["seconds_until_due"]
        if outcome == "not_found":
            raise NotFound(f'queue "{queue_name}" not found')
        if outcome == "none":
            return [], seconds_until_due
        return await self._claimed(rows), seconds_until_due

    async def _claimed(self, rows: list[dict[str, Any]]) -> list[ClaimedTask]:
        """The claim's rows as records; if they cannot be made, the runs are released
        first, so none stays claimed with nobody holding it. (psycopg2 decodes while it
        fetches, so a stored value no parser reads arrives as a jsonvalue.Undecodable
        rather than an error that would lose the rows: it fails here, or where the answer
        is rendered, which releases the runs too: api/tasks.py.)"""
        try:
            return [from_row(row, ClaimedTask) for row in rows]
        except Exception:
            await self._release_claims(
                [row["run_id"] for row in rows], [row["claim_token"] for row in rows]
            )
            raise

    async def release_claims(self, claimed: Sequence[ClaimedTask]) -> int:
        """Put runs that were claimed but cannot be handed out (their answer failed) back
        to pending as the claim found them: claimable at once, their attempt unspent,
        their claim token void. Only runs still held under their claim move; returns how
        many did."""
        return await self._release_claims(
            [task.run_id for task in claimed], [task.claim_token for task in claimed]
        )

    async def _release_claims(self, run_ids: list[uuid.UUID], claim_tokens: list[str]) -> int:
        async with connection(self.pool) as conn:
            return await queries.release_claims(conn, run_ids=run_ids, claim_tokens=claim_tokens)

    async def seconds_until_due(self, queue_name: str) -> float | None:
        """Seconds until the queue's earliest pending run is due, by the database's clock
        (<= 0: due now; None: nothing pending, or no such queue)."""
        async with connection(self.pool) as conn:
            return await queries.seconds_until_due(conn, queue_name=queue_name)

    async def list_tasks(
        self,
        *,
        queue_name: str | None = None,
        status: str | None = None,
        task_name: str | None = None,
        workflow_run_id: uuid.UUID | None = None,
        parent_task_id: uuid.UUID | None = None,
        cursor: uuid.UUID | None = None,
        limit: int = 50,
    ) -> Page:
        """A page of tasks, newest first. One query per index: the filters given pick the
        query whose index yields the order (docs/scale.md), so a page is one range scan."""
        queue_id = None
        if queue_name is not None:
            async with connection(self.pool) as conn:
                queue = await queries.get_queue_by_name(conn, name=queue_name)
            if queue is None:
                return Page([], None)
            queue_id = queue["id"]
        page = functools.partial(self._page, cls=TaskSummary, limit=limit, cursor=cursor)
        if parent_task_id is not None:  # a task's children (other filters but status: none)
            return await page(
                queries.list_tasks_of_parent, parent_task_id=parent_task_id, status=status
            )
        if workflow_run_id is not None:
            return await page(
                queries.list_tasks_of_workflow_run,
                workflow_run_id=workflow_run_id,
                queue_id=queue_id,
                status=status,
                task_name=task_name,
            )
        if queue_id is not None and status is not None:
            return await page(
                queries.list_tasks_of_queue_by_status,
                queue_id=queue_id,
                status=status,
                task_name=task_name,
            )
        if queue_id is not None:
            return await page(queries.list_tasks_of_queue, queue_id=queue_id, task_name=task_name)
        if task_name is not None:
            return await page(queries.list_tasks_by_name, task_name=task_name, status=status)
        if status is not None:
            return await page(queries.list_tasks_by_status, status=status)
        return await page(queries.list_tasks)

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
            counts = {
                r["status"]: r["count"] async for r in queries.child_counts(conn, task_id=task_id)
            }
        children = ChildCounts(**counts) if counts else None
        return from_row(
            {**row, "runs": runs, "checkpoints": steps, "children": children}, TaskDetail
        )

    async def set_task_priority(self, task_id: uuid.UUID, priority: int) -> TaskDetail:
        """Change a pending task's priority (its waiting runs' too); the task after."""
        async with connection(self.pool) as conn:
            row = await queries.set_task_priority(conn, task_id=task_id, priority=priority)
        if row["outcome"] == "not_found":
            raise NotFound(f"task {task_id} not found")
        if row["outcome"] == "conflict":
            raise Conflict(f"task {task_id} is already {row['status']}")
        return await self.get_task(task_id)

    async def cancel_task(self, task_id: uuid.UUID) -> TaskCanceled:
        """Cancel a pending task and its live runs; a holder's next call gets 409."""
        async with connection(self.pool) as conn:
            row = await queries.cancel_task(conn, task_id=task_id)
        if row["outcome"] == "not_found":
            raise NotFound(f"task {task_id} not found")
        if row["outcome"] == "conflict":
            raise Conflict(f"task {task_id} is already {row['status']}")
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
        if status is not None:
            return await self._page(
                queries.list_runs_by_status,
                RunSummary,
                limit,
                status=status,
                task_id=task_id,
                cursor=cursor,
            )
        return await self._page(
            queries.list_runs, RunSummary, limit, task_id=task_id, cursor=cursor
        )

    async def complete_run(
        self, run_id: uuid.UUID, result: Any = None, *, claim_token: str | None = None
    ) -> RunCompleted:
        """Complete a claimed run (the claim of `claim_token` when given) and its task."""
        async with connection(self.pool) as conn:
            row = await queries.complete_run(
                conn, run_id=run_id, result=jsonvalue.to_db(result), claim_token=claim_token
            )
        raise_run_outcome(row, run_id, "complete", claim_token)
        return RunCompleted(run_id)

    async def complete_runs(
        self, runs: Sequence[tuple[uuid.UUID, Any] | tuple[uuid.UUID, Any, str | None]]
    ) -> list[RunCompletion]:
        """Complete many (run_id, result[, claim_token]) items in one statement, each fenced
        on its own (and on its claim token when given); answered in input order. A run
        named twice completes once (the second is a conflict)."""
        if not runs:
            return []
        items = jsonvalue.dumps([_completion_item(*run) for run in runs])
        async with connection(self.pool) as conn:
            rows = [row async for row in queries.complete_runs(conn, runs=items)]
        return [_completion(row) for row in rows]

    async def fail_run(
        self, run_id: uuid.UUID, error: str, *, claim_token: str | None = None
    ) -> RunFailed:
        """Fail a claimed run: a retry after the task's backoff while explicit failures stay
        below max_attempts (computed in the database: dq_retry_delay), else the task fails."""
        async with connection(self.pool) as conn:
            row = await queries.fail_run(conn, run_id=run_id, error=error, claim_token=claim_token)
        raise_run_outcome(row, run_id, "fail", claim_token)
        if row["next_run_id"] is None:
            return RunFailed(run_id, row["attempt"])
        return RunFailed(
            run_id,
            row["attempt"],
            next_run_id=row["next_run_id"],
            next_attempt_at=row["next_attempt_at"],
        )

    async def schedule_run(
        self, run_id: uuid.UUID, run_at: dt.datetime, *, claim_token: str | None = None
    ) -> RunScheduled:
        """Move a pending run, or release a claimed one to be resumed at `run_at`. With
        `claim_token`, only a release by that claim: a pending run is a conflict."""
        async with connection(self.pool) as conn:
            row = await queries.schedule_run(
                conn, run_id=run_id, run_at=run_at, claim_token=claim_token
            )
        if row["outcome"] == "token_required":
            raise Conflict(f"run {run_id} is claimed: {claim_token_required()} to release it")
        if row["outcome"] == "conflict" and not claim_token:  # None, or '' (api/claim_rule)
            raise Conflict(
                f"run {run_id} is {row['status']}: only a pending or claimed run can be scheduled"
            )
        raise_run_outcome(row, run_id, "schedule", claim_token)
        return RunScheduled(run_id, row["available_at"])

    async def heartbeat(
        self, run_id: uuid.UUID, extend_by: int, *, claim_token: str | None = None
    ) -> ClaimExtended:
        """Extend a live claim (the claim of `claim_token` when given) to now + extend_by
        seconds."""
        async with connection(self.pool) as conn:
            row = await queries.extend_claim(
                conn, run_id=run_id, extend_by=extend_by, claim_token=claim_token
            )
        raise_run_outcome(row, run_id, "heartbeat", claim_token)
        return ClaimExtended(run_id, row["claim_expires_at"])

    # -- events and waits ---------------------------------------------------

    async def emit_event(self, event_name: str, payload: Any = None) -> EventCreated:
        """Store an event and, in the same statement, resolve and wake every wait on its name."""
        async with connection(self.pool) as conn:
            row = await queries.emit_event(
                conn, event_name=event_name, payload=jsonvalue.to_db(payload)
            )
        return EventCreated(row["id"], row["event_name"], row["created_at"])

    async def wait_for_event(
        self,
        run_id: uuid.UUID,
        *,
        task_id: uuid.UUID,
        event_name: str,
        step_name: str,
        timeout_seconds: int,
        claim_token: str | None = None,
    ) -> WaitOutcome:
        """Steps 1-4 of a wait (docs/lifecycle.md "Events and waits"); the caller must hold the run's claim
        (the claim of `claim_token` when given)."""
        async with connection(self.pool) as conn:
            row = await queries.wait_for_event(
                conn,
                run_id=run_id,
                task_id=task_id,
                event_name=event_name,
                step_name=step_name,
                timeout_seconds=timeout_seconds,
                claim_token=claim_token,
            )
        if row["outcome"] == "not_of_task":
            raise Conflict(f"run {run_id} does not belong to task {task_id}")
        raise_run_outcome(row, run_id, "wait for an event", claim_token)
        if row["outcome"] == "resolved":
            return WaitOutcome("resolved", _json(row["payload"]))
        return WaitOutcome(row["outcome"])

    # -- checkpoints --------------------------------------------------------

    async def put_checkpoint(
        self,
        task_id: uuid.UUID,
        step_name: str,
        *,
        state: Any,
        owner_run: uuid.UUID,
        extend_claim_by: int | None = None,
        claim_token: str | None = None,
    ) -> CheckpointSaved:
        """Store a step's state for `owner_run`, which must hold the task's live claim (the
        claim of `claim_token` when given)."""
        async with connection(self.pool) as conn:
            row = await queries.put_checkpoint(
                conn,
                task_id=task_id,
                step_name=step_name,
                state=jsonvalue.to_db(state),
                owner_run=owner_run,
                extend_claim_by=extend_claim_by,
                claim_token=claim_token,
            )
        outcome = row["outcome"]
        if outcome == "task_not_found":
            raise NotFound(f"task {task_id} not found")
        if outcome == "run_not_found":
            raise NotFound(f"run {owner_run} not found")
        if outcome == "not_of_task":
            raise Conflict(f"run {owner_run} is not a run of task {task_id}")
        if outcome == "conflict" and claim_token is None:
            raise Conflict(f"run {owner_run} is {row['status']}: it does not hold a claim")
        if outcome == "conflict":
            raise Conflict(
                not_claimed_message(owner_run, row["status"], "write a checkpoint", claim_token)
            )
        if outcome == "stale_token":
            raise Conflict(stale_token_message(owner_run, "write a checkpoint"))
        return CheckpointSaved(task_id, step_name, row["updated_at"])

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

    async def _counts(
        self, conn: aiopg.Connection, queue_id: uuid.UUID
    ) -> dict[tuple[str, str], int]:
        """The queue's exact counts, keyed by (kind, status); zero counts are absent."""
        return {
            (row["kind"], row["status"]): row["count"]
            async for row in queries.queue_counts(conn, queue_id=queue_id)
        }

    async def _queue(self, conn: aiopg.Connection, name: str) -> Queue:
        row = await queries.get_queue_by_name(conn, name=name)
        if row is None:
            raise NotFound(f'queue "{name}" not found')
        return Queue.of_row(row)

    async def _key_rows(
        self, conn: aiopg.Connection, queue_id: uuid.UUID, keys: list[str]
    ) -> list[ConcurrencyKey]:
        return [
            _concurrency_key(row)
            async for row in queries.key_rows(conn, queue_id=queue_id, keys=keys)
        ]


def _completion_item(
    run_id: uuid.UUID, result: Any = None, claim_token: str | None = None
) -> dict[str, Any]:
    """One item of dq_complete_runs' JSON array (absent fields left out)."""
    item: dict[str, Any] = {"run_id": str(run_id)}
    if result is not None:
        item["result"] = result
    if claim_token is not None:
        item["claim_token"] = claim_token
    return item


def _completion(row: dict[str, Any]) -> RunCompletion:
    run_id = row["run_id"]
    if row["outcome"] == "not_found":
        return RunCompletion(run_id, "not_found", f"run {run_id} not found")
    if row["outcome"] == "conflict":
        return RunCompletion(
            run_id, "conflict", f"run {run_id} is {row['status']}, not claimed: cannot complete"
        )
    if row["outcome"] == "stale_token":
        return RunCompletion(run_id, "conflict", stale_token_message(run_id, "complete"))
    return RunCompletion(run_id, "completed")


def _raise_create_outcome(row: dict[str, Any], queue_name: str) -> None:
    if row["outcome"] == "queue_not_found":
        raise NotFound(f'queue "{queue_name}" not found')
    if row["outcome"] == "workflow_run_not_found":
        raise NotFound(f"workflow run {row['workflow_run_id']} not found")
    if row["outcome"] == "parent_not_found":
        raise NotFound(f"parent task {row['workflow_run_id']} not found")


def _check_parent(new: NewTask, path: str = "") -> None:
    if new.parent_close is not None and new.parent_task_id is None:
        raise ValidationError(f"{path}parent_close is for a child: give parent_task_id too")


def _created(row: dict[str, Any]) -> CreatedTask:
    return CreatedTask(row["task_id"], row["run_id"], row["workflow_run_id"])


def _task_item(new: NewTask) -> dict[str, Any]:
    """One item of dq_create_tasks' JSON array: the fields given (absent ones stay absent,
    so a given JSON null is told from a value never given)."""
    item: dict[str, Any] = {
        "task_name": new.task_name,
        "max_attempts": new.max_attempts,
        "start_timeout": new.start_timeout,
        "execution_timeout": new.execution_timeout,
    }
    for key in ("params", "headers", "retry_strategy", "idempotency_key", "concurrency_key"):
        value = getattr(new, key)
        if value is not None:
            item[key] = value
    if new.priority is not None:
        item["priority"] = new.priority
    if new.parent_task_id is not None:
        item["parent_task_id"] = str(new.parent_task_id)
        item["parent_close"] = new.parent_close or "cancel"
    if new.workflow_run_id is not None:
        item["workflow_run_id"] = str(new.workflow_run_id)
    if new.run_at is not None:
        item["run_at"] = new.run_at.isoformat()
    return item


def _flow_changes(
    flow: QueueFlow, settings: frozenset[str], ttls: dict[str, int] | None = None
) -> str:
    """dq_update_queue's JSON object: the flow settings named (None: cleared), and ttls."""
    changes: dict[str, Any] = dict(ttls or {})
    for setting in settings:
        value = getattr(flow, setting)
        if isinstance(value, RateLimit):
            value = {"limit": value.limit, "period_seconds": value.period_seconds}
        changes[setting] = value
    return jsonvalue.dumps(changes)


def _rate(limit: int | None, period_seconds: float | None) -> RateLimit | None:
    return None if limit is None else RateLimit(limit, period_seconds)


def _rate_setting(limit: int | None, period_seconds: float | None) -> RateLimitSetting | None:
    return None if limit is None else RateLimitSetting(limit, period_seconds)


def _concurrency_key(row: dict[str, Any]) -> ConcurrencyKey:
    return ConcurrencyKey(
        key=row["key"],
        in_flight=row["in_flight"],
        pending=row["pending"],
        max_concurrency=row["max_concurrency"],
        rate_limit=_rate_setting(row["rate_limit"], row["rate_period_seconds"]),
        override=KeyLimits(
            row["override_max_concurrency"],
            _rate_setting(row["override_rate_limit"], row["override_rate_period_seconds"]),
        )
        if row["has_override"]
        else None,
    )


def _json(value: Any) -> Any:
    """A stored JSON value as a plain Python value (JSON_NULL and SQL NULL both None)."""
    return None if value is jsonvalue.JSON_NULL else value
