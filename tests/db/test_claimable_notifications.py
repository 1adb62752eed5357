"""The claimable notification (channel durable_queue_claimable, payload the queue's
name, one per queue and transaction) wakes long-polling claimers when runs become
claimable: inserted pending (due or not, dq_notify_inserted), back to pending or due
earlier (dq_notify_claimable); never for a claim, a completion, an extension or a
later due time."""

from __future__ import annotations

import json
import select
from pathlib import Path
from typing import Any

import aiosql

from durable_queue.resources import resource_dir
from tests.helpers import connect_autocommit

Q = aiosql.from_path(resource_dir("queries"), "psycopg2")
N = aiosql.from_path(Path(__file__).with_name("claimable_notifications.sql"), "psycopg2")


def make_queue(conn: Any, name: str) -> None:
    Q.insert_queue(conn, name=name, task_ttl_seconds=0, event_ttl_seconds=0)


def create(conn: Any, queue: str, count: int, **item: Any) -> None:
    """`count` tasks (one run each, three attempts) in one batch."""
    tasks = json.dumps([{"task_name": "t", "max_attempts": 3, **item}] * count)
    Q.create_tasks(conn, queue_name=queue, tasks=tasks)


def claim(conn: Any, queue: str, limit: int) -> list[Any]:
    return list(Q.claim_runs(conn, queue_name=queue, limit=limit, claim_timeout=600))


def run_ids_of(conn: Any, queue: str) -> list[Any]:
    """The run ids of a queue's tasks, from its task listing."""
    queue_id = Q.get_queue_by_name(conn, name=queue)["id"]
    tasks = Q.list_tasks_of_queue(conn, queue_id=queue_id, task_name=None, cursor=None, limit=100)
    return [run["id"] for task in tasks for run in Q.list_task_runs(conn, task_id=task["id"])]


def notified(listener: Any, actor: Any) -> list[str]:
    """The payloads the listener got for what `actor` committed so far (the sentinel,
    sent last, arrives after all of them: notifications arrive in commit order)."""
    N.notify_sentinel(actor)
    payloads: list[str] = []
    while "/sentinel/" not in payloads:
        listener.poll()
        while listener.notifies:
            payloads.append(listener.notifies.pop(0).payload)
        if "/sentinel/" not in payloads:
            select.select([listener], [], [], 5)
    return [p for p in payloads if p != "/sentinel/"]


def test_runs_becoming_claimable_notify_their_queue_and_nothing_else_does(
    db: Any, database_url: str
) -> None:
    listener = connect_autocommit(database_url)
    try:
        N.listen_claimable(listener)
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
        b_run = run_ids_of(db, "b")[0]
        Q.schedule_run(db, run_id=b_run, run_at="2200-01-01", claim_token=None)
        assert notified(listener, db) == []  # due later: nothing new to claim
        Q.schedule_run(db, run_id=b_run, run_at="2000-01-01", claim_token=None)
        assert notified(listener, db) == ["b"]  # due earlier
    finally:
        listener.close()
