"""Migration 0012.idempotency: the index that keeps idempotency keys unique per queue
holds only the tasks that have a key; keys stay unique (a single create and a batch,
with a repeat inside the batch, find the task that holds the key), the lookup of a key
goes through that index, and the migration rolls back to 0002's unique constraint and
applies again."""

from __future__ import annotations

import json
from typing import Any

import aiosql
import psycopg2
import pytest

from durable_queue.resources import resource_dir
from tests.helpers import create_task_args, run_sql

Q = aiosql.from_path(resource_dir("queries"), "psycopg2")
MIGRATIONS = resource_dir("migrations")
CONSTRAINT = "tasks_queue_id_idempotency_key_key"  # 0002's, an entry for every task


def index_definition(db: Any) -> str | None:
    rows = run_sql(db, "SELECT pg_get_indexdef('tasks_idempotency_key'::regclass) AS d")
    return rows[0]["d"]


def has_constraint(db: Any) -> bool:
    return bool(run_sql(db, "SELECT 1 FROM pg_constraint WHERE conname = %s", CONSTRAINT))


def create(db: Any, queue: str, key: str | None) -> dict[str, Any]:
    return Q.create_task(db, **create_task_args(queue_name=queue, idempotency_key=key))


def assert_keys_unique_per_queue(db: Any, queue: str, other: str) -> None:
    """What 0002's constraint gave: one task per key and queue, found again by the key;
    tasks without a key never collide."""
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
    assert not has_constraint(db)
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


def test_it_rolls_back_to_the_constraint_of_0002_and_applies_again(db: Any) -> None:
    run_sql(db, (MIGRATIONS / "0012.idempotency.rollback.sql").read_text())
    assert has_constraint(db)
    assert not run_sql(db, "SELECT 1 FROM pg_class WHERE relname = 'tasks_idempotency_key'")
    assert_keys_unique_per_queue(db, "before", "before-other")
    run_sql(db, (MIGRATIONS / "0012.idempotency.sql").read_text())
    assert not has_constraint(db)
    assert_keys_unique_per_queue(db, "after", "after-other")
