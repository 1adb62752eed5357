"""Deleting a task deletes its runs: runs.task_id has no foreign key, the statement
trigger on tasks (dq_delete_task_runs, dq_truncate_task_runs) takes their place.

Every way a task is deleted (hand-written DELETE, retention, queue deletion in batches
or at once, TRUNCATE) deletes its runs and only its runs, the per-queue counts stay
exact, and a retry committed while its task is being deleted leaves no orphan run.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiosql
import psycopg2
import psycopg2.errors
import pytest

from durable_queue.resources import resource_dir
from tests.helpers import connect_autocommit, eventually

Q = aiosql.from_path(resource_dir("queries"), "psycopg2")
D = aiosql.from_path(Path(__file__).with_name("task_deletes.sql"), "psycopg2")


def make_queue(conn: Any, name: str, task_ttl_seconds: int = 0) -> Any:
    row = Q.insert_queue(conn, name=name, task_ttl_seconds=task_ttl_seconds, event_ttl_seconds=0)
    return row["id"]


def create(conn: Any, queue: str, count: int, task_name: str = "t") -> list[Any]:
    """`count` tasks (one run each, three attempts) in one batch; their task ids."""
    tasks = json.dumps([{"task_name": task_name, "max_attempts": 3}] * count)
    answer = Q.create_tasks(conn, queue_name=queue, tasks=tasks)
    return [item["task_id"] for item in json.loads(answer["body"])["tasks"]]


def claim(conn: Any, queue: str, limit: int) -> list[Any]:
    return list(Q.claim_runs(conn, queue_name=queue, limit=limit, claim_timeout=600))


def complete_all(conn: Any, queue: str) -> None:
    runs = [{"run_id": str(r["run_id"])} for r in claim(conn, queue, 1000)]
    assert all(r["outcome"] == "completed" for r in Q.complete_runs(conn, runs=json.dumps(runs)))


def runs_of_tasks(conn: Any, task_ids: list[Any]) -> int:
    return D.runs_of_tasks(conn, task_ids=json.dumps([str(t) for t in task_ids]))


def test_every_task_delete_takes_its_runs_and_only_those(db: Any) -> None:
    keep = make_queue(db, "keep")
    create(db, "keep", 5)
    # hand-written DELETE (of tasks with a retry: two runs each)
    make_queue(db, "hand")
    doomed = create(db, "hand", 4, task_name="doomed")
    create(db, "hand", 2, task_name="stays")
    for run in claim(db, "hand", 10):
        Q.fail_run(db, run_id=run["run_id"], error="once", claim_token=None)
    assert runs_of_tasks(db, doomed) == 8
    D.delete_tasks_by_hand(db, task_name="doomed")
    assert runs_of_tasks(db, doomed) == 0
    assert D.runs_of_queue(db, queue_name="hand") == 4
    # retention
    make_queue(db, "old", task_ttl_seconds=60)
    create(db, "old", 6)
    complete_all(db, "old")
    D.age_finished_tasks(db, queue_name="old")
    assert Q.delete_expired_tasks(db, batch_size=4) == 4
    assert Q.delete_expired_tasks(db, batch_size=4) == 2
    assert D.runs_of_queue(db, queue_name="old") == 0
    # queue deletion in batches, then the queue row
    batched = make_queue(db, "batched")
    create(db, "batched", 7)
    Q.detach_queue(db, queue_id=batched)
    row = Q.delete_queue_tasks(db, queue_id=batched, after=None, batch_size=3)
    while row["deleted"]:
        row = Q.delete_queue_tasks(db, queue_id=batched, after=row["last_id"], batch_size=3)
    Q.delete_queue(db, queue_id=batched)
    # queue deletion at once: queue -> tasks (foreign key) -> runs (trigger)
    at_once = make_queue(db, "at_once")
    create(db, "at_once", 3)
    Q.delete_queue(db, queue_id=at_once)
    assert D.orphan_runs(db) == 0
    assert D.runs_of_queue(db, queue_name="keep") == 5
    counts = {(r["kind"], r["status"]): r["count"] for r in Q.queue_counts(db, queue_id=keep)}
    assert counts == {("task", "pending"): 5, ("run", "pending"): 5}
    # TRUNCATE
    D.truncate_tasks(db)
    assert D.runs_of_queue(db, queue_name="keep") == 0
    assert D.orphan_runs(db) == 0
    assert list(Q.queue_counts(db, queue_id=keep)) == []


async def test_a_retry_committed_while_its_task_is_deleted_leaves_no_orphan(
    database_url: str,
) -> None:
    """dq_fail_run locks the task and inserts the retry; a DELETE of the task waits for it,
    then takes the new run too (READ COMMITTED) or fails (REPEATABLE READ)."""
    holder, deleter, watcher = (connect_autocommit(database_url) for _ in range(3))
    try:
        make_queue(holder, "q")
        for isolation in ("read committed", "repeatable read"):
            [task] = create(holder, "q", 1)
            [run] = claim(holder, "q", 1)
            holder.autocommit = False
            failed = Q.fail_run(holder, run_id=run["run_id"], error="x", claim_token=None)
            assert failed["next_run_id"] is not None  # uncommitted retry, task locked
            deleter_pid = D.backend_pid(deleter)
            if isolation == "repeatable read":
                D.begin_repeatable_read(deleter)
                assert runs_of_tasks(deleter, [task]) == 1
            deleting = asyncio.create_task(asyncio.to_thread(D.delete_task, deleter, task_id=task))
            await eventually(
                lambda pid=deleter_pid: D.waits_for_a_lock(watcher, pid=pid),
                what="the delete to wait for the task's lock",
            )
            holder.commit()
            holder.autocommit = True
            if isolation == "read committed":
                await deleting
                assert runs_of_tasks(holder, [task]) == 0
            else:
                with pytest.raises(psycopg2.errors.SerializationFailure):
                    await deleting
                deleter.rollback()
                assert runs_of_tasks(holder, [task]) == 2
            assert D.orphan_runs(holder) == 0
    finally:
        for conn in (holder, deleter, watcher):
            conn.close()
