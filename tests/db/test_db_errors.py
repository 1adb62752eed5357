"""Driver errors are classified once, by SQLSTATE, in the database layer (real PostgreSQL)."""

from __future__ import annotations

import psycopg2
import pytest

from durable_queue.db import connection, create_pool, domain_errors, queries
from durable_queue.errors import Conflict, Unavailable, ValidationError


def run(dsn: str, *statements: str) -> None:
    """Test-only: run raw statements on a connection of their own (autocommit)."""
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("statements", "expected", "message"),
    [
        (["SELECT 2147483647 + 1"], ValidationError, "out of range or invalid"),
        (["SELECT array_fill(0, ARRAY[1000000000])"], ValidationError, "too large to store"),
        (
            ["CREATE TEMP TABLE u (k int UNIQUE)", "INSERT INTO u VALUES (1), (1)"],
            Conflict,
            "already exists",
        ),
        (["SELECT pg_terminate_backend(pg_backend_pid())"], Unavailable, "database unavailable"),
    ],
)
def test_errors_map_by_sqlstate(database_url, statements, expected, message):
    with pytest.raises(expected, match=message):
        with domain_errors():
            run(database_url, *statements)


def test_an_unreachable_server_is_unavailable():
    with pytest.raises(Unavailable):
        with domain_errors():
            run("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")


def test_a_bug_in_sql_stays_a_driver_error(database_url):
    with pytest.raises(psycopg2.errors.SyntaxError):
        with domain_errors():
            run(database_url, "SELEC 1")


@pytest.mark.parametrize("name", ["a\x00b", "a\ud800b"])
async def test_a_parameter_the_driver_cannot_encode_is_a_validation_error(database_url, name):
    pool = await create_pool(database_url)
    try:
        async with connection(pool) as conn:
            with pytest.raises(ValidationError, match="cannot be stored"):
                await queries.get_queue_by_name(conn, name=name)
    finally:
        pool.close()
        await pool.wait_closed()


async def test_a_data_error_inside_a_pooled_connection_is_a_validation_error(database_url):
    pool = await create_pool(database_url)
    try:
        with pytest.raises(ValidationError):
            async with connection(pool) as conn:
                await queries.insert_queue(
                    conn, name="q", task_ttl_seconds=2**40, event_ttl_seconds=1
                )
    finally:
        pool.close()
        await pool.wait_closed()
