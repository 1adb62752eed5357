"""Creating a batch of tasks (dq_create_tasks), all or nothing, one answer row per item
in input order. Ids are counted up from one UUIDv7 (uuidv7_series). A batch without
workflow runs, whose idempotency keys (if any) are all new, is stored in one statement,
every field as given (a key stored meanwhile sends it the keyed way); a
batch naming a workflow run stores it; a missing workflow run or queue creates nothing;
an idempotency key repeated inside a batch answers its first item's task and run."""

from __future__ import annotations

import concurrent.futures
import itertools
import json
import time
import uuid
from typing import Any

import aiosql
import psycopg2
import psycopg2.extensions
import psycopg2.extras
import pytest

from durable_queue.resources import resource_dir
from durable_queue.uuidvalue import register_uuid_decoding
from tests.helpers import connect_autocommit, query_all, run_sql

Q = aiosql.from_path(resource_dir("queries"), "psycopg2")


@pytest.fixture
def db(db: psycopg2.extensions.connection) -> psycopg2.extensions.connection:
    register_uuid_decoding()  # uuid columns as uuid.UUID, as the server reads them
    return db


def create(db: Any, queue: str, items: list[dict[str, Any]]) -> list[Any]:
    """dq_create_tasks' rows (the named query folds them into one JSON answer)."""
    return run_sql(db, "SELECT * FROM dq_create_tasks(%s, %s)", queue, json.dumps(items))


def stored(db: Any, task_id: uuid.UUID) -> Any:
    [row] = run_sql(
        db,
        "SELECT t.*, r.id AS run_id, r.available_at, r.attempt, r.status AS run_status "
        "FROM tasks t JOIN runs r ON r.task_id = t.id WHERE t.id = %s",
        task_id,
    )
    return row


def test_uuidv7_series_counts_up_from_one_uuidv7(db: Any) -> None:
    [[ids]] = run_sql(db, "SELECT uuidv7_series(1000)")
    ids = [uuid.UUID(str(i)) for i in ids]
    assert len(set(ids)) == 1000
    assert ids == sorted(ids)  # as text and as bytes: the order a btree keeps
    assert {i.version for i in ids} == {7}
    assert {i.variant for i in ids} == {uuid.RFC_4122}
    assert len({i.bytes[:6] for i in ids}) == 1  # one millisecond
    low = [int.from_bytes(i.bytes[8:], "big") & (2**62 - 1) for i in ids]
    assert [b - a for a, b in itertools.pairwise(low)] == [1] * 999  # no wrap in 1,000
    [[other]] = run_sql(db, "SELECT uuidv7_series(1000)")
    assert not set(ids) & {uuid.UUID(str(i)) for i in other}


def test_a_batch_without_keys_stores_every_field_and_answers_its_ids(db: Any) -> None:
    Q.insert_queue(db, name="plain_batch", task_ttl_seconds=0, event_ttl_seconds=0)
    items = [
        {"task_name": "a"},
        {
            "task_name": "b",
            "params": None,
            "headers": {"h": 1},
            "retry_strategy": {"kind": "fixed", "base_delay_seconds": 2},
            "max_attempts": 3,
            "start_timeout": 60,
            "execution_timeout": 120,
            "run_at": "2999-01-01T00:00:00+00:00",
        },
        {"task_name": "c", "params": {"i": 3}},
    ]
    rows = create(db, "plain_batch", items)
    assert [(r["outcome"], r["created"]) for r in rows] == [("ok", True)] * 3
    assert [r["workflow_run_id"] for r in rows] == [None, None, None]
    assert rows[0]["task_id"] < rows[1]["task_id"] < rows[2]["task_id"]
    a, b, c = (stored(db, r["task_id"]) for r in rows)
    assert [a["run_id"], b["run_id"], c["run_id"]] == [r["run_id"] for r in rows]
    assert (a["params"], a["max_attempts"], a["start_deadline"], a["attempt"]) == (
        None,
        1,
        None,
        1,
    )
    # a JSON null given is kept apart from a value never given
    [[params_type]] = run_sql(db, "SELECT jsonb_typeof(params) FROM tasks WHERE id = %s", b["id"])
    assert params_type == "null"
    assert b["headers"] == {"h": 1} and b["max_attempts"] == 3
    assert b["retry_strategy"] == {"kind": "fixed", "base_delay_seconds": 2}
    assert b["start_deadline"] is not None and b["execution_deadline"] is not None
    assert b["workflow_run_id"] is None and b["available_at"].year == 2999
    assert c["params"] == {"i": 3} and c["run_status"] == "pending"


def test_a_batch_naming_a_workflow_run_stores_it(db: Any) -> None:
    Q.insert_queue(db, name="workflow_batch", task_ttl_seconds=0, event_ttl_seconds=0)
    [[workflow_run_id]] = run_sql(
        db, "INSERT INTO workflow_runs (workflow_name) VALUES ('w') RETURNING id"
    )
    items = [{"task_name": "a"}, {"task_name": "b", "workflow_run_id": str(workflow_run_id)}]
    rows = create(db, "workflow_batch", items)
    assert [(r["outcome"], r["created"]) for r in rows] == [("ok", True)] * 2
    assert [r["workflow_run_id"] for r in rows] == [None, workflow_run_id]
    a, b = (stored(db, r["task_id"]) for r in rows)
    assert [a["run_id"], b["run_id"]] == [r["run_id"] for r in rows]
    assert a["workflow_run_id"] is None and b["workflow_run_id"] == workflow_run_id


def test_missing_workflow_run_and_queue_create_nothing(db: Any) -> None:
    Q.insert_queue(db, name="checked_batch", task_ttl_seconds=0, event_ttl_seconds=0)
    missing = uuid.uuid4()
    rows = create(
        db,
        "checked_batch",
        [{"task_name": "a"}, {"task_name": "b", "workflow_run_id": str(missing)}],
    )
    assert [(r["outcome"], r["workflow_run_id"]) for r in rows] == [
        ("workflow_run_not_found", missing)
    ]
    [[count]] = run_sql(
        db,
        "SELECT count(*) FROM tasks t JOIN queues q ON q.id = t.queue_id "
        "WHERE q.name = 'checked_batch'",
    )
    assert count == 0
    [[outcome, *_]] = create(db, "no such queue", [{"task_name": "a"}])
    assert outcome == "queue_not_found"


def test_a_key_repeated_inside_a_batch_names_the_first_items_task(db: Any) -> None:
    Q.insert_queue(db, name="keyed_batch", task_ttl_seconds=0, event_ttl_seconds=0)
    rows = create(
        db,
        "keyed_batch",
        [
            {"task_name": "a", "idempotency_key": "k"},
            {"task_name": "b"},
            {"task_name": "c", "idempotency_key": "k"},
        ],
    )
    assert [r["created"] for r in rows] == [True, True, False]
    assert rows[2]["task_id"] == rows[0]["task_id"] and rows[2]["run_id"] == rows[0]["run_id"]


def test_a_batch_of_new_keys_is_stored_in_one_statement(db: Any) -> None:
    """Keys none of which is stored, none repeated (the Python client's every batch):
    the bulk path, ids counted up from one UUIDv7 in input order."""
    Q.insert_queue(db, name="new_keys", task_ttl_seconds=0, event_ttl_seconds=0)
    rows = create(
        db, "new_keys", [{"task_name": "t", "idempotency_key": f"k{i}"} for i in range(5)]
    )
    assert all(r["created"] for r in rows)
    ids = [r["task_id"] for r in rows]
    assert ids == sorted(ids) and len({i.bytes[:6] for i in ids}) == 1
    assert [stored(db, i)["idempotency_key"] for i in ids] == [f"k{i}" for i in range(5)]
    again = create(db, "new_keys", [{"task_name": "t", "idempotency_key": "k3"}])
    assert [(r["task_id"], r["created"]) for r in again] == [(ids[3], False)]


def test_a_key_stored_meanwhile_by_another_create_answers_that_task(
    db: Any, database_url: str
) -> None:
    """A create of the same key commits between the batch's probe and its insert: the
    insert's unique violation undoes it, and the keyed way answers the other task."""
    Q.insert_queue(db, name="raced", task_ttl_seconds=0, event_ttl_seconds=0)
    other = psycopg2.connect(database_url, cursor_factory=psycopg2.extras.DictCursor)
    try:
        # the other create holds the key uncommitted: the batch's probe does not see it,
        # its insert waits on it
        [[task_id]] = run_sql(
            other,
            "SELECT task_id FROM dq_create_task_v2('raced', 't', NULL, NULL, NULL, 1, 0, 0, "
            "NULL, 'k', NULL, 0, NULL)",
        )
        batch_conn = connect_autocommit(database_url)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            batch = pool.submit(
                create,
                batch_conn,
                "raced",
                [
                    {"task_name": "a", "idempotency_key": "j"},
                    {"task_name": "b", "idempotency_key": "k"},
                ],
            )
            while not batch.done() and not waiting_on_a_lock(database_url):
                time.sleep(0.01)  # observing the other session, not standing in for it
            other.commit()
            rows = batch.result(timeout=30)
        batch_conn.close()
    finally:
        other.close()
    assert [r["created"] for r in rows] == [True, False]
    assert str(rows[1]["task_id"]) == str(task_id)
    [[count]] = run_sql(
        db, "SELECT count(*) FROM tasks t JOIN queues q ON q.id = t.queue_id WHERE q.name = 'raced'"
    )
    assert count == 2


def waiting_on_a_lock(database_url: str) -> bool:
    [[waiting]] = query_all(
        database_url,
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND query LIKE '%%dq_create_tasks%%'",
    )
    return waiting > 0
