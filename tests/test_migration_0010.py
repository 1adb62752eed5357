"""Migration 0010.plans: the hot functions plan without sequential scans, so the plans a
connection cached while runs and tasks were small stay index scans as the tables grow;
without it they read both tables whole on every claim; it rolls back and applies again."""

from __future__ import annotations

import json
from typing import Any

import aiosql

from durable_queue.resources import resource_dir
from tests.helpers import create_task_args, run_sql

Q = aiosql.from_path(resource_dir("queries"), "psycopg2")
MIGRATIONS = resource_dir("migrations")
QUEUE = "grows"


def sequential_scans(db: Any) -> dict[str, int]:
    """Sequential scans of runs and tasks so far, this connection's own included."""
    run_sql(db, "SELECT pg_stat_force_next_flush()")  # flushed as this statement commits
    run_sql(db, "SELECT pg_stat_clear_snapshot()")
    rows = run_sql(
        db, "SELECT relname, seq_scan FROM pg_stat_user_tables WHERE relname IN ('runs', 'tasks')"
    )
    return {row["relname"]: row["seq_scan"] for row in rows}


def create_many(db: Any, count: int) -> None:
    Q.create_tasks(db, queue_name=QUEUE, tasks=json.dumps([{"task_name": "t"}] * count))


def hot_path(db: Any, rounds: int) -> None:
    """Each round: a single create, then a claim of one run completed alone, and another
    completed through the batch call."""
    for _ in range(rounds):
        Q.create_task(db, **create_task_args(queue_name=QUEUE))
        [first] = Q.claim_runs(db, queue_name=QUEUE, limit=1, claim_timeout=600)
        assert (
            Q.complete_run(db, run_id=first["run_id"], result="{}", claim_token=None)["outcome"]
            == "ok"
        )
        [second] = Q.claim_runs(db, queue_name=QUEUE, limit=1, claim_timeout=600)
        runs = json.dumps([{"run_id": str(second["run_id"])}])
        assert [row["outcome"] for row in Q.complete_runs(db, runs=runs)] == ["completed"]


def scans_after_growth(db: Any) -> dict[str, int]:
    """Plans cached on `db` while the tables hold a few rows (eight rounds: past the
    five custom plans after which PL/pgSQL keeps a generic one), then 3,000 tasks more:
    the sequential scans of runs and tasks ten rounds make."""
    Q.insert_queue(db, name=QUEUE, task_ttl_seconds=0, event_ttl_seconds=0)
    create_many(db, 10)
    hot_path(db, 8)
    create_many(db, 3000)
    before = sequential_scans(db)
    hot_path(db, 10)
    after = sequential_scans(db)
    return {table: after[table] - before[table] for table in ("runs", "tasks")}


def test_plans_cached_while_the_tables_were_small_stay_index_scans(db: Any) -> None:
    assert scans_after_growth(db) == {"runs": 0, "tasks": 0}


def test_without_it_every_claim_reads_the_tables_whole_and_it_applies_again(
    db: Any, database_url: str
) -> None:
    def seqscan_off() -> int:
        return len(
            run_sql(db, "SELECT 1 FROM pg_proc WHERE 'enable_seqscan=off' = ANY (proconfig)")
        )

    assert seqscan_off() == 14
    run_sql(db, (MIGRATIONS / "0010.plans.rollback.sql").read_text())
    assert seqscan_off() == 0
    # dq_claim keeps one generic plan per connection (0008): sequential scans each time
    scans = scans_after_growth(db)
    assert scans["runs"] >= 10 and scans["tasks"] >= 10
    run_sql(db, (MIGRATIONS / "0010.plans.sql").read_text())
    assert seqscan_off() == 14
    # the functions changed, so the connection plans them again, without sequential scans
    before = sequential_scans(db)
    hot_path(db, 10)
    after = sequential_scans(db)
    assert after == before
