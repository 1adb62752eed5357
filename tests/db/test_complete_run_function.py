"""dq_complete_run's answers: the fenced UPDATE first, the run's lock only when it is
refused, and then the reason: not_found, stale_token, conflict (with the run's status),
or ok; the task takes the result."""

from __future__ import annotations

import json
from typing import Any

import aiosql

from durable_queue.resources import resource_dir

Q = aiosql.from_path(resource_dir("queries"), "psycopg2")


def create(conn: Any, queue: str, count: int) -> list[Any]:
    """`count` tasks (one run each) in one batch; their task ids."""
    answer = Q.create_tasks(conn, queue_name=queue, tasks=json.dumps([{"task_name": "t"}] * count))
    return [item["task_id"] for item in json.loads(answer["body"])["tasks"]]


def test_complete_run_answers_each_outcome(db: Any) -> None:
    Q.insert_queue(db, name="q", task_ttl_seconds=0, event_ttl_seconds=0)
    create(db, "q", 2)
    [held, other] = Q.claim_runs(db, queue_name="q", limit=2, claim_timeout=600)
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
