"""Composition in the database (docs/composition.md): a task's outcome for a result
wait, and joins (a run sleeping until a set of tasks has finished). Children are created
by the task creates (durable_queue/store.py); what follows a watched task finishing
(waking result waits and joins, parent-close) is the trigger dq_task_settled.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import aiopg

from durable_queue.codec import from_row
from durable_queue.db import connection, queries
from durable_queue.errors import NotFound, ValidationError
from durable_queue.fence import raise_run_outcome
from durable_queue.jsonvalue import JSON_NULL
from durable_queue.wire import TaskResult, TasksJoined

FINISHED = frozenset({"completed", "failed", "canceled"})


class CompositionStore:
    """Result waits and joins, on one pool."""

    def __init__(self, pool: aiopg.Pool) -> None:
        self.pool = pool

    async def task_result(self, task_id: uuid.UUID, *, watch: bool = False) -> TaskResult:
        """The task's outcome now (`pending` until it finishes). With `watch`, a pending
        task is marked to notify `durable_queue_task_done` when it finishes: mark it after
        registering the waiter and before sleeping, so no finish goes unheard."""
        async with connection(self.pool) as conn:
            row = await queries.await_task(conn, task_id=task_id, watch=watch)
        if row is None:
            raise NotFound(f"task {task_id} not found")
        return from_row(row, TaskResult)

    async def wait_for_tasks(
        self,
        run_id: uuid.UUID,
        task_ids: list[uuid.UUID],
        timeout_seconds: int,
        claim_token: str | None = None,
    ) -> TasksJoined:
        """A join for the run holding its claim: the outcomes when every task finished
        (or the same join timed out), else the run sleeps until then."""
        async with connection(self.pool) as conn:
            row = await queries.wait_for_tasks(
                conn,
                run_id=run_id,
                task_ids=task_ids,
                timeout_seconds=timeout_seconds,
                claim_token=claim_token,
            )
        outcome = row["outcome"]
        if outcome == "unknown_task":
            raise ValidationError(f"task_ids names no task {row['task_id']}")
        raise_run_outcome(row, run_id, "wait for tasks", claim_token)
        if outcome == "sleeping":
            return TasksJoined("sleeping")
        return TasksJoined(outcome, [_outcome(item) for item in row["tasks"]])


def _outcome(item: dict[str, Any]) -> TaskResult:
    """One task of a join's answer, from its JSON in dq_wait_for_tasks' answer: the time
    as text, and a completed task's result always there (a JSON null decodes as None)."""
    values = dict(item)
    if values.get("completed_at") is not None:
        values["completed_at"] = dt.datetime.fromisoformat(values["completed_at"])
    if "result" in values and values["result"] is None:
        values["result"] = JSON_NULL
    return from_row(values, TaskResult)
