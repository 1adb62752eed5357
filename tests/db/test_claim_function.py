"""dq_claim: picks the ids of the due pending runs first (oldest due first), so a claim
that finds nothing returns before any UPDATE; each claimed run comes with its task and
a claim token; an unknown queue answers one not_found row."""

from __future__ import annotations

import json
from typing import Any

import aiosql

from durable_queue.resources import resource_dir
from tests.helpers import run_sql

Q = aiosql.from_path(resource_dir("queries"), "psycopg2")


def queue_with(db: Any, name: str, count: int, **item: Any) -> None:
    Q.insert_queue(db, name=name, task_ttl_seconds=0, event_ttl_seconds=0)
    items = json.dumps([{"task_name": "t", "params": {"i": i}, **item} for i in range(count)])
    Q.create_tasks(db, queue_name=name, tasks=items)


def claimed(db: Any, queue: str, limit: int) -> list[Any]:
    return list(Q.claim_runs(db, queue_name=queue, limit=limit, claim_timeout=600))


def count_trigger_calls(db: Any) -> int:
    rows = run_sql(
        db, "SELECT calls FROM pg_stat_user_functions WHERE funcname = 'dq_count_changes'"
    )
    return rows[0]["calls"] if rows else 0


def test_a_claim_that_finds_nothing_updates_nothing(db: Any) -> None:
    queue_with(db, "nothing_due", 2, run_at="2999-01-01T00:00:00+00:00")
    run_sql(db, "SET track_functions = 'pl'")
    run_sql(db, "SELECT pg_stat_clear_snapshot()")
    before = count_trigger_calls(db)
    assert claimed(db, "nothing_due", 10) == []
    run_sql(db, "SELECT pg_stat_clear_snapshot()")
    # no UPDATE statement ran, so its statement-level count trigger did not fire either
    assert count_trigger_calls(db) == before


def test_claims_oldest_due_first_with_their_tasks(db: Any) -> None:
    queue_with(db, "ordered", 0)
    for i in range(5):  # one transaction each: each later due than the one before
        items = json.dumps([{"task_name": "t", "params": {"i": i}}])
        Q.create_tasks(db, queue_name="ordered", tasks=items)
    first, second = claimed(db, "ordered", 3), claimed(db, "ordered", 3)
    assert [r["params"]["i"] for r in first + second] == [0, 1, 2, 3, 4]
    assert all(r["outcome"] == "ok" and r["claim_token"] for r in first + second)
    assert claimed(db, "ordered", 3) == []
    [missing] = claimed(db, "no such queue", 3)
    assert missing["outcome"] == "not_found"
