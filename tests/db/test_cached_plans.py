"""Plans cached while the tables were small stay index scans as they grow.

PostgreSQL caches a plan per statement of a PL/pgSQL function, per connection (a
generic plan after five custom ones; at once for dq_claim, which forces it). Made while
runs and tasks hold a few rows, such a plan would read them by sequential scans, and
keep doing so on every claim and completion as the tables grow. The hot functions are
declared with `SET enable_seqscan = off`, so they plan without sequential scans
whatever the statistics say; without the setting the sequential scans come back, and
the function step of migrate puts it back when it reinstalls the functions.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiosql

from durable_queue.migrate import apply_migrations
from durable_queue.resources import resource_dir
from tests.helpers import create_task_args, run_sql

Q = aiosql.from_path(resource_dir("queries"), "psycopg2")
QUEUE = "grows"
# the functions the hot path below calls (dq_create_tasks loads the tables)
HOT_PATH = {
    "dq_create_task_v4", "dq_create_tasks", "dq_claim_v3", "dq_complete_run", "dq_complete_runs"
}  # fmt: skip


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
        completed = Q.complete_run(db, run_id=first["run_id"], result="{}", claim_token=None)
        assert completed["outcome"] == "ok"
        [second] = Q.claim_runs(db, queue_name=QUEUE, limit=1, claim_timeout=600)
        runs = json.dumps([{"run_id": str(second["run_id"])}])
        assert [row["outcome"] for row in Q.complete_runs(db, runs=runs)] == ["completed"]


def scans_of(db: Any, rounds: int) -> dict[str, int]:
    """The sequential scans of runs and tasks `rounds` rounds of the hot path make."""
    before = sequential_scans(db)
    hot_path(db, rounds)
    after = sequential_scans(db)
    return {table: after[table] - before[table] for table in ("runs", "tasks")}


def scans_after_growth(db: Any) -> dict[str, int]:
    """Plans cached on `db` while the tables hold a few rows (eight rounds: past the
    five custom plans after which PL/pgSQL keeps a generic one), then 3,000 tasks more:
    the sequential scans of runs and tasks ten rounds make."""
    Q.insert_queue(db, name=QUEUE, task_ttl_seconds=0, event_ttl_seconds=0)
    create_many(db, 10)
    hot_path(db, 8)
    create_many(db, 3000)
    return scans_of(db, 10)


def without_seqscan(db: Any) -> list[str]:
    """The functions declared with enable_seqscan off, by signature."""
    rows = run_sql(
        db,
        "SELECT CAST(CAST(oid AS regprocedure) AS text) FROM pg_proc "
        "WHERE 'enable_seqscan=off' = ANY (proconfig) ORDER BY 1",
    )
    return [row[0] for row in rows]


def test_plans_cached_while_the_tables_were_small_stay_index_scans(db: Any) -> None:
    assert scans_after_growth(db) == {"runs": 0, "tasks": 0}


def test_without_the_setting_every_claim_reads_the_tables_whole_until_reinstalled(
    db: Any, database_url: str
) -> None:
    declared = without_seqscan(db)
    assert HOT_PATH <= {signature.split("(")[0] for signature in declared}
    for signature in declared:  # in this test's database only
        run_sql(db, f"ALTER FUNCTION {signature} RESET enable_seqscan")
    assert without_seqscan(db) == []
    # dq_claim_v3 keeps one generic plan per connection: sequential scans on every call
    scans = scans_after_growth(db)
    assert scans["runs"] >= 10 and scans["tasks"] >= 10
    # other bodies than this release's: the function step installs the files again
    run_sql(db, "UPDATE installed_functions SET checksum = 'x'")
    asyncio.run(apply_migrations(database_url))
    assert without_seqscan(db) == declared
    # the functions changed, so the connection plans them again, without sequential scans
    assert scans_of(db, 10) == {"runs": 0, "tasks": 0}
