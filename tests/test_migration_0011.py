"""Migration 0011.status_checks: tasks and runs still refuse a status outside their lists
(now through a cast to an enum, read cheaply per statement), every status the lifecycle
writes passes, and the migration rolls back to the list checks and applies again."""

from __future__ import annotations

from typing import Any

import aiosql
import psycopg2
import pytest

from durable_queue.resources import resource_dir
from tests.helpers import run_sql

Q = aiosql.from_path(resource_dir("queries"), "psycopg2")
MIGRATIONS = resource_dir("migrations")
TASK_STATUSES = ("pending", "completed", "failed", "canceled")
RUN_STATUSES = ("pending", "claimed", "sleeping", "completed", "failed", "canceled")


def one_task(db: Any) -> dict[str, Any]:
    """A new queue with one task: its task and run ids."""
    Q.insert_queue(db, name="checked", task_ttl_seconds=0, event_ttl_seconds=0)
    return Q.create_task(
        db,
        queue_name="checked",
        task_name="t",
        params=None,
        headers=None,
        retry_strategy=None,
        max_attempts=1,
        start_timeout=0,
        execution_timeout=0,
        workflow_run_id=None,
        idempotency_key=None,
        run_at=None,
    )


def status_check_definitions(db: Any) -> dict[str, str]:
    rows = run_sql(
        db,
        "SELECT conname, pg_get_constraintdef(oid) AS definition FROM pg_constraint"
        " WHERE conname IN ('tasks_status_check', 'runs_status_check')",
    )
    return {row["conname"]: row["definition"] for row in rows}


def assert_statuses_checked(db: Any, created: dict[str, Any]) -> None:
    """Every listed status is accepted, anything else refused, with the row unchanged."""
    for table, key, statuses in (
        ("tasks", "task_id", TASK_STATUSES),
        ("runs", "run_id", RUN_STATUSES),
    ):
        row_id = created[key]
        for status in statuses:
            run_sql(db, f"UPDATE {table} SET status = %s WHERE id = %s", status, row_id)
        for bad in ("running", "Pending", ""):
            with pytest.raises(psycopg2.DataError):
                run_sql(db, f"UPDATE {table} SET status = %s WHERE id = %s", bad, row_id)
        [stored] = run_sql(db, f"SELECT status FROM {table} WHERE id = %s", row_id)
        assert stored["status"] == statuses[-1]


def test_a_status_outside_the_list_is_refused_and_every_listed_one_passes(db: Any) -> None:
    created = one_task(db)
    assert_statuses_checked(db, created)
    with pytest.raises(psycopg2.DataError):
        run_sql(
            db,
            "INSERT INTO runs (task_id, queue_id, attempt, status)"
            " SELECT id, queue_id, 2, 'bogus' FROM tasks WHERE id = %s",
            created["task_id"],
        )
    assert len(run_sql(db, "SELECT 1 FROM runs WHERE task_id = %s", created["task_id"])) == 1


def test_it_rolls_back_to_the_list_checks_and_applies_again(db: Any) -> None:
    assert all("::dq_" in text for text in status_check_definitions(db).values())
    run_sql(db, (MIGRATIONS / "0011.status_checks.rollback.sql").read_text())
    assert all("ARRAY[" in text for text in status_check_definitions(db).values())
    created = one_task(db)
    with pytest.raises(psycopg2.IntegrityError):  # the list check: a check violation
        run_sql(db, "UPDATE runs SET status = 'bogus' WHERE id = %s", created["run_id"])
    run_sql(db, (MIGRATIONS / "0011.status_checks.sql").read_text())
    assert all("::dq_" in text for text in status_check_definitions(db).values())
    assert_statuses_checked(db, created)
