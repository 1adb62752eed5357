"""Migration 0007.hot_path: what it drops is guaranteed by the protocol instead.

The runs' foreign keys are gone: every way a task is deleted (hand-written DELETE,
retention, queue deletion in batches or at once, TRUNCATE) still deletes its runs and
only its runs, and a retry committed while its task is being deleted leaves no orphan.
The claimable notification keeps its rule: inserted pending, back to pending, due
earlier; nothing for a claim, a completion or a later due time. And the migration
rolls back and applies again.
"""

from __future__ import annotations

import asyncio
import json
import select
from pathlib import Path
from typing import Any

import aiosql
import psycopg2
import psycopg2.errors
import psycopg2.extensions
import psycopg2.extras
import pytest

from durable_queue.resources import resource_dir
from tests.helpers import connect_autocommit, eventually

Q = aiosql.from_path(resource_dir("queries"), "psycopg2")
M = aiosql.from_path(Path(__file__).with_name("migration_0007.sql"), "psycopg2")

AFTER_0007 = {
    "runs_fkeys": [],
    "runs_by_queue_status": False,
    "triggers": [
        "runs_count_delete", "runs_count_insert", "runs_count_truncate", "runs_count_update",
        "runs_notify_claimable", "runs_notify_inserted",
        "tasks_count_delete", "tasks_count_insert", "tasks_count_truncate", "tasks_count_update",
        "tasks_delete_runs", "tasks_truncate_runs",
    ],
}  # fmt: skip


def make_queue(conn: Any, name: str, task_ttl_seconds: int = 0) -> Any:
    return Q.insert_queue(conn, name=name, task_ttl_seconds=task_ttl_seconds, event_ttl_seconds=0)[
        "id"
    ]


def create(conn: Any, queue: str, count: int, task_name: str = "t", **item: Any) -> list[Any]:
    """`count` tasks (one run each) in one batch; their task ids (text)."""
    tasks = json.dumps([{"task_name": task_name, "max_attempts": 3, **item}] * count)
    answer = Q.create_tasks(conn, queue_name=queue, tasks=tasks)
    return [item["task_id"] for item in json.loads(answer["body"])["tasks"]]


def claim(conn: Any, queue: str, limit: int) -> list[Any]:
    return list(Q.claim_runs(conn, queue_name=queue, limit=limit, claim_timeout=600))


def complete_all(conn: Any, queue: str) -> None:
    runs = [{"run_id": str(r["run_id"])} for r in claim(conn, queue, 1000)]
    assert all(r["outcome"] == "completed" for r in Q.complete_runs(conn, runs=json.dumps(runs)))


def test_rolls_back_and_applies_again(db: Any) -> None:
    migrations = resource_dir("migrations")
    applied = M.hot_path_shape(db)
    assert {key: value for key, value in applied.items() if key != "functions"} == AFTER_0007
    with db.cursor() as cur:
        cur.execute((migrations / "0007.hot_path.rollback.sql").read_text())
    before = M.hot_path_shape(db)
    assert before["runs_fkeys"] == ["runs_queue_id_fkey", "runs_task_id_fkey"]
    assert before["runs_by_queue_status"]
    assert "tasks_delete_runs" not in before["triggers"]
    assert "runs_notify_inserted" not in before["triggers"]
    assert set(before["functions"].values()).isdisjoint(applied["functions"].values())
    make_queue(db, "q")
    create(db, "q", 3)
    complete_all(db, "q")  # 0006's dq_complete_runs again
    with db.cursor() as cur:
        cur.execute((migrations / "0007.hot_path.sql").read_text())
    assert M.hot_path_shape(db) == applied
    create(db, "q", 2)
    complete_all(db, "q")
    assert M.runs_of_queue(db, queue_name="q") == 5


def test_every_task_delete_takes_its_runs_and_only_those(db: Any) -> None:
    keep = make_queue(db, "keep")
    create(db, "keep", 5)
    # hand-written DELETE (runs with retries: two runs per task)
    make_queue(db, "hand")
    doomed = create(db, "hand", 4, task_name="doomed")
    create(db, "hand", 2, task_name="stays")
    for run in claim(db, "hand", 10):
        Q.fail_run(db, run_id=run["run_id"], error="once", claim_token=None)
    assert M.runs_of_tasks(db, task_ids=json.dumps([str(t) for t in doomed])) == 8
    M.delete_tasks_by_hand(db, task_name="doomed")
    assert M.runs_of_tasks(db, task_ids=json.dumps([str(t) for t in doomed])) == 0
    assert M.runs_of_queue(db, queue_name="hand") == 4
    # retention
    make_queue(db, "old", task_ttl_seconds=60)
    create(db, "old", 6)
    complete_all(db, "old")
    M.age_finished_tasks(db, queue_name="old")
    assert Q.delete_expired_tasks(db, batch_size=4) == 4
    assert Q.delete_expired_tasks(db, batch_size=4) == 2
    assert M.runs_of_queue(db, queue_name="old") == 0
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
    assert M.orphan_runs(db) == 0
    assert M.runs_of_queue(db, queue_name="keep") == 5
    counts = {(r["kind"], r["status"]): r["count"] for r in Q.queue_counts(db, queue_id=keep)}
    assert counts == {("task", "pending"): 5, ("run", "pending"): 5}
    # TRUNCATE
    M.truncate_tasks(db)
    assert M.runs_of_queue(db, queue_name="keep") == 0
    assert M.orphan_runs(db) == 0
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
            deleter_pid = M.backend_pid(deleter)
            if isolation == "repeatable read":
                M.begin_repeatable_read(deleter)
                assert M.runs_of_tasks(deleter, task_ids=json.dumps([str(task)])) == 1
            deleting = asyncio.create_task(asyncio.to_thread(M.delete_task, deleter, task_id=task))
            await eventually(
                lambda pid=deleter_pid: M.waits_for_a_lock(watcher, pid=pid),
                what="the delete to wait for the task's lock",
            )
            holder.commit()
            holder.autocommit = True
            if isolation == "read committed":
                await deleting
                assert M.runs_of_tasks(holder, task_ids=json.dumps([str(task)])) == 0
            else:
                with pytest.raises(psycopg2.errors.SerializationFailure):
                    await deleting
                deleter.rollback()
                assert M.runs_of_tasks(holder, task_ids=json.dumps([str(task)])) == 2
            assert M.orphan_runs(holder) == 0
    finally:
        for conn in (holder, deleter, watcher):
            conn.close()


def notified(listener: Any, actor: Any) -> list[str]:
    """The payloads the listener got for what `actor` committed so far (the sentinel,
    sent last, arrives after all of them: notifications arrive in commit order)."""
    M.notify_sentinel(actor)
    payloads: list[str] = []
    while "/sentinel/" not in payloads:
        listener.poll()
        while listener.notifies:
            payloads.append(listener.notifies.pop(0).payload)
        if "/sentinel/" not in payloads:
            select.select([listener], [], [], 5)
    return [p for p in payloads if p != "/sentinel/"]


def test_claimable_notifications(db: Any, database_url: str) -> None:
    listener = connect_autocommit(database_url)
    try:
        M.listen_claimable(listener)
        make_queue(db, "a")
        make_queue(db, "b")
        assert notified(listener, db) == []
        create(db, "a", 1)
        assert notified(listener, db) == ["a"]
        create(db, "a", 3)
        create(db, "b", 2, run_at="2100-01-01T00:00:00Z")  # not due yet: still notified
        assert notified(listener, db) == ["a", "b"]
        runs = claim(db, "a", 2)
        assert notified(listener, db) == []
        Q.complete_run(db, run_id=runs[0]["run_id"], result="1", claim_token=None)
        Q.extend_claim(db, run_id=runs[1]["run_id"], extend_by=60, claim_token=None)
        assert notified(listener, db) == []
        Q.schedule_run(db, run_id=runs[1]["run_id"], run_at="2000-01-01", claim_token=None)
        assert notified(listener, db) == ["a"]  # released: pending again
        [later] = claim(db, "a", 1)
        Q.fail_run(db, run_id=later["run_id"], error="x", claim_token=None)
        assert notified(listener, db) == ["a"]  # its retry inserted, pending
        b_run = db_runs_of(db, "b")[0]
        Q.schedule_run(db, run_id=b_run, run_at="2200-01-01", claim_token=None)
        assert notified(listener, db) == []  # due later: nothing new to claim
        Q.schedule_run(db, run_id=b_run, run_at="2000-01-01", claim_token=None)
        assert notified(listener, db) == ["b"]  # due earlier
    finally:
        listener.close()


def db_runs_of(conn: Any, queue: str) -> list[Any]:
    """The run ids of a queue's tasks, from its task listing."""
    queue_id = Q.get_queue_by_name(conn, name=queue)["id"]
    tasks = Q.list_tasks_of_queue(conn, queue_id=queue_id, task_name=None, cursor=None, limit=100)
    return [run["id"] for task in tasks for run in Q.list_task_runs(conn, task_id=task["id"])]


def test_complete_run_answers_as_before(db: Any) -> None:
    """The fenced UPDATE first, the run's lock only when refused: every outcome of 0006."""
    make_queue(db, "q")
    create(db, "q", 2)
    [held, other] = claim(db, "q", 2)
    token = str(held["claim_token"])

    def complete(run_id: Any, claim_token: str | None) -> tuple[str, str | None]:
        row = Q.complete_run(db, run_id=run_id, result='{"ok": 1}', claim_token=claim_token)
        return row["outcome"], row["status"]

    assert complete("01890000-0000-7000-8000-000000000000", None) == ("not_found", None)
    assert complete(held["run_id"], "not-the-token") == ("stale_token", "claimed")
    assert complete(held["run_id"], token) == ("ok", "completed")
    assert complete(held["run_id"], token) == ("conflict", "completed")
    assert complete(other["run_id"], None) == ("ok", "completed")
    [pending] = create(db, "q", 1)
    [run_id] = [run["id"] for run in Q.list_task_runs(db, task_id=pending)]
    assert complete(run_id, None) == ("conflict", "pending")
    task = Q.get_task_detail(db, task_id=held["task_id"])
    assert (task["status"], task["result"]) == ("completed", {"ok": 1})
