"""Rules the schema holds for every writer, hand-written SQL included: a status outside
its list, attempts below 1 and negative timeouts are check violations that leave the row
as it was (through the domains of the columns); idempotency keys are unique per queue,
indexed only where given, and looked up through that index."""

from __future__ import annotations

import json
from typing import Any

import aiosql
import psycopg2
import pytest

from durable_queue.resources import resource_dir
from tests.helpers import create_task_args, run_sql

Q = aiosql.from_path(resource_dir("queries"), "psycopg2")

TASK_STATUSES = ("pending", "completed", "failed", "canceled")
RUN_STATUSES = ("pending", "claimed", "sleeping", "completed", "failed", "canceled")
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


def test_what_is_outside_a_rule_is_refused_and_every_listed_status_passes(db: Any) -> None:
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


def index_definition(db: Any) -> str | None:
    rows = run_sql(db, "SELECT pg_get_indexdef('tasks_idempotency_key'::regclass) AS d")
    return rows[0]["d"]


def create(db: Any, queue: str, key: str | None) -> dict[str, Any]:
    return Q.create_task(db, **create_task_args(queue_name=queue, idempotency_key=key))


def assert_keys_unique_per_queue(db: Any, queue: str, other: str) -> None:
    """One task per key and queue, found again by the key; tasks without a key never
    collide."""
    for name in (queue, other):
        Q.insert_queue(db, name=name, task_ttl_seconds=0, event_ttl_seconds=0)
    first = create(db, queue, "k1")
    assert first["created"] is True
    again = create(db, queue, "k1")
    assert (again["created"], again["task_id"], again["run_id"]) == (
        False,
        first["task_id"],
        first["run_id"],
    )
    assert create(db, other, "k1")["created"] is True  # per queue
    assert all(create(db, queue, None)["created"] for _ in range(3))
    batch = [
        {"task_name": "t", "idempotency_key": "k1"},  # held by `first`
        {"task_name": "t", "idempotency_key": "k2"},
        {"task_name": "t", "idempotency_key": "k2"},  # the item before holds it
        {"task_name": "t"},
    ]
    row = Q.create_tasks(db, queue_name=queue, tasks=json.dumps(batch))
    assert row["outcome"] == "ok"
    items = json.loads(row["body"])["tasks"]
    assert [item["created"] for item in items] == [False, True, False, True]
    assert items[0]["task_id"] == str(first["task_id"])
    assert items[2]["task_id"] == items[1]["task_id"]
    with pytest.raises(psycopg2.errors.UniqueViolation):  # hand-written SQL is held too
        run_sql(
            db,
            "INSERT INTO tasks (queue_id, task_name, idempotency_key)"
            " SELECT id, 't', 'k2' FROM queues WHERE name = %s",
            queue,
        )
    [count] = run_sql(
        db,
        "SELECT count(*) AS n FROM tasks t JOIN queues q ON q.id = t.queue_id WHERE q.name = %s",
        queue,
    )
    assert count["n"] == 1 + 3 + 2  # k1, three without a key, then k2 and one without


def test_the_index_holds_keyed_tasks_only_and_keys_stay_unique(db: Any) -> None:
    definition = index_definition(db)
    assert definition is not None and "UNIQUE" in definition
    assert "WHERE (idempotency_key IS NOT NULL)" in definition
    assert_keys_unique_per_queue(db, "keyed", "other")


def test_a_key_is_looked_up_through_the_partial_index(db: Any) -> None:
    Q.insert_queue(db, name="q", task_ttl_seconds=0, event_ttl_seconds=0)
    run_sql(db, "SET plan_cache_mode = force_generic_plan")  # as a function's cached plan
    run_sql(
        db,
        "PREPARE find_key(uuid, text) AS SELECT t.id FROM tasks t"
        " WHERE t.queue_id = $1 AND t.idempotency_key = $2",
    )
    [queue] = run_sql(db, "SELECT id FROM queues WHERE name = 'q'")
    plan = run_sql(db, "EXPLAIN EXECUTE find_key(%s, 'k')", queue["id"])
    assert "tasks_idempotency_key" in "\n".join(row["QUERY PLAN"] for row in plan)
