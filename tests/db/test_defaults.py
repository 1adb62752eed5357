"""Defaults that exist both in the schema and in Python or SQL code agree.

The migration's column defaults are the source of truth. A command record
(NewTask) and the queue-creation path repeat some of them because they must
fill a value before SQL sees the request; the batch function repeats them
because it inserts from JSON. These tests fail when one side moves alone.
"""

from __future__ import annotations

import json

import attrs

from durable_queue.commands import NewTask
from durable_queue.store import DEFAULT_TTL_SECONDS
from tests.helpers import query_all, query_one

TASK_DEFAULTS = ("max_attempts", "start_timeout", "execution_timeout")


def column_defaults(dsn: str, table: str) -> dict[str, str]:
    """Test-only inspection of the schema: column name → default expression."""
    sql = (
        "SELECT column_name, column_default FROM information_schema.columns"
        " WHERE table_name = %s AND column_default IS NOT NULL"
    )
    return dict(query_all(dsn, sql, (table,)))


def stored_task(dsn: str, task_id) -> dict[str, int]:
    sql = "SELECT max_attempts, start_timeout, execution_timeout FROM tasks WHERE id = %s"
    return dict(zip(TASK_DEFAULTS, query_one(dsn, sql, (str(task_id),)), strict=True))


def test_new_task_defaults_are_the_columns_defaults(database_url):
    columns = column_defaults(database_url, "tasks")
    fields = attrs.fields_dict(NewTask)
    for name in TASK_DEFAULTS:
        assert int(columns[name]) == fields[name].default, name


def test_queue_ttl_default_is_the_columns_default(database_url):
    columns = column_defaults(database_url, "queues")
    assert int(columns["task_ttl_seconds"]) == DEFAULT_TTL_SECONDS
    assert int(columns["event_ttl_seconds"]) == DEFAULT_TTL_SECONDS


async def test_a_task_created_without_options_stores_the_columns_defaults(store, database_url):
    columns = {
        k: int(v) for k, v in column_defaults(database_url, "tasks").items() if k in TASK_DEFAULTS
    }
    single, _ = await store.create_task("q", NewTask(task_name="one"))
    answer = await store.create_tasks("q", [NewTask(task_name="two")])
    [batched] = json.loads(answer.text)["tasks"]
    assert stored_task(database_url, single.task_id) == columns
    assert stored_task(database_url, batched["task_id"]) == columns
