"""Migration 0011.checks: tasks and runs refuse what they refused before (a status
outside its list, attempts below 1, negative timeouts), now through casts to domains
that PostgreSQL reads cheaply per statement; every listed status passes; the migration
rolls back to the checks as 0002 wrote them and applies again."""

from __future__ import annotations

from typing import Any

import aiosql
import psycopg2
import pytest

from durable_queue.resources import resource_dir
from tests.helpers import create_task_args, run_sql

Q = aiosql.from_path(resource_dir("queries"), "psycopg2")
MIGRATIONS = resource_dir("migrations")
TASK_STATUSES = ("pending", "completed", "failed", "canceled")
RUN_STATUSES = ("pending", "claimed", "sleeping", "completed", "failed", "canceled")
CHECKS = (
    "tasks_status_check",
    "tasks_max_attempts_check",
    "tasks_start_timeout_check",
    "tasks_execution_timeout_check",
    "runs_status_check",
    "runs_attempt_check",
)
# (table, column, a refused value, the value it holds)
REFUSED = (
    ("tasks", "max_attempts", 0, 1),
    ("tasks", "start_timeout", -1, 0),
    ("tasks", "execution_timeout", -1, 0),
    ("runs", "attempt", 0, 1),
    ("tasks", "status", "running", "canceled"),
    ("tasks", "status", "Pending", "canceled"),
    ("runs", "status", "", "canceled"),
)


def one_task(db: Any, queue: str) -> dict[str, Any]:
    """A new queue with one task: its task and run ids."""
    Q.insert_queue(db, name=queue, task_ttl_seconds=0, event_ttl_seconds=0)
    return Q.create_task(db, **create_task_args(queue_name=queue))


def check_definitions(db: Any) -> list[str]:
    rows = run_sql(
        db,
        "SELECT pg_get_constraintdef(oid) AS definition FROM pg_constraint"
        " WHERE conname = ANY (%s) ORDER BY conname",
        list(CHECKS),
    )
    assert len(rows) == len(CHECKS)
    return [row["definition"] for row in rows]


def assert_checked(db: Any, created: dict[str, Any]) -> None:
    """Every listed status is accepted; each refused value is a check violation and
    leaves the row as it was."""
    ids = {"tasks": created["task_id"], "runs": created["run_id"]}
    for table, statuses in (("tasks", TASK_STATUSES), ("runs", RUN_STATUSES)):
        for status in statuses:
            run_sql(db, f"UPDATE {table} SET status = %s WHERE id = %s", status, ids[table])
    for table, column, bad, kept in REFUSED:
        with pytest.raises(psycopg2.errors.CheckViolation):
            run_sql(db, f"UPDATE {table} SET {column} = %s WHERE id = %s", bad, ids[table])
        [row] = run_sql(db, f"SELECT {column} AS value FROM {table} WHERE id = %s", ids[table])
        assert row["value"] == kept


def test_what_was_refused_is_refused_and_every_listed_status_passes(db: Any) -> None:
    assert all("::dq_" in text for text in check_definitions(db))
    created = one_task(db, "checked")
    assert_checked(db, created)
    with pytest.raises(psycopg2.errors.CheckViolation):
        run_sql(
            db,
            "INSERT INTO runs (task_id, queue_id, attempt, status)"
            " SELECT id, queue_id, 2, 'bogus' FROM tasks WHERE id = %s",
            created["task_id"],
        )
    assert len(run_sql(db, "SELECT 1 FROM runs WHERE task_id = %s", created["task_id"])) == 1


def test_it_rolls_back_to_the_checks_of_0002_and_applies_again(db: Any) -> None:
    run_sql(db, (MIGRATIONS / "0011.checks.rollback.sql").read_text())
    assert not any("::dq_" in text for text in check_definitions(db))
    assert_checked(db, one_task(db, "before"))
    run_sql(db, (MIGRATIONS / "0011.checks.sql").read_text())
    assert all("::dq_" in text for text in check_definitions(db))
    assert_checked(db, one_task(db, "after"))
