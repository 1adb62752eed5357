"""The hot statements go out as EXECUTE of a statement prepared once per connection."""

from __future__ import annotations

import pytest

from durable_queue.commands import NewTask
from durable_queue.db import PREPARED_QUERIES, PreparedStatement, connection, create_pool, queries
from durable_queue.store import Store


def test_named_parameters_become_positional_by_first_use() -> None:
    statement = PreparedStatement.of(
        "claim", "SELECT f(%(queue)s, %(limit)s) WHERE x = %(queue)s;\n"
    )
    assert statement.prepare_sql == "PREPARE durable_claim AS SELECT f($1, $2) WHERE x = $1"
    assert statement.execute_sql == "EXECUTE durable_claim(%(queue)s, %(limit)s)"


def test_a_statement_without_parameters_executes_bare() -> None:
    statement = PreparedStatement.of("ping", "SELECT 1")
    assert statement.execute_sql == "EXECUTE durable_ping"


def test_every_prepared_query_exists() -> None:
    assert PREPARED_QUERIES <= set(queries.driver_adapter.prepared)


@pytest.fixture
async def store(database_url: str):
    pool = await create_pool(database_url, minsize=1, maxsize=1)  # one connection: the same
    try:
        yield Store(pool)
    finally:
        pool.close()
        await pool.wait_closed()


async def test_the_hot_path_prepares_once_per_connection(store: Store) -> None:
    await store.create_queue("prepared", None, None)
    for i in range(3):
        await store.create_task("prepared", NewTask(task_name="t", params={"i": i}))
    claimed = await store.claim("prepared", 3, 60)
    assert len(claimed) == 3
    async with connection(store.pool) as conn, conn.cursor() as cur:
        await cur.execute("SELECT name FROM pg_prepared_statements ORDER BY name")
        names = [row[0] for row in await cur.fetchall()]
    # prepared once each, however often they ran
    assert names == ["durable_claim_runs", "durable_create_task"]
