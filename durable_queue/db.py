"""Database access: the aiopg pool, the aiosql queries and a transaction helper.

aiosql has no aiopg adapter of its own; `AiopgAdapter` below is the only glue:
it turns aiosql's `:name` parameters into psycopg2's `%(name)s` and runs each
statement on a fresh aiopg cursor of the connection it is given.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiopg
import aiosql
import psycopg2
import psycopg2.extras
from aiosql.adapters.ageneric import AsyncGenericAdapter
from aiosql.adapters.pyformat import _replacer
from aiosql.utils import VAR_REF

from durable_queue.errors import Unavailable, ValidationError
from durable_queue.jsonvalue import register_json_decoding
from durable_queue.resources import resource_dir

POOL_APPLICATION_NAME = "durable-queue"
LISTENER_APPLICATION_NAME = "durable-queue-listener"


class AiopgAdapter(AsyncGenericAdapter):
    """aiosql driver adapter for aiopg (psycopg2 underneath, pyformat parameters)."""

    def process_sql(self, query_name: str, op_type: Any, sql: str) -> str:
        return VAR_REF.sub(_replacer, sql)

    async def select(self, conn, query_name, sql, parameters, record_class=None):
        async with conn.cursor() as cur:
            await cur.execute(sql, parameters)
            columns = [c[0] for c in cur.description]
            for row in await cur.fetchall():
                yield dict(zip(columns, row, strict=True))

    async def select_one(self, conn, query_name, sql, parameters, record_class=None):
        async with conn.cursor() as cur:
            await cur.execute(sql, parameters)
            row = await cur.fetchone()
            if row is None:
                return None
            return dict(zip([c[0] for c in cur.description], row, strict=True))

    async def select_value(self, conn, query_name, sql, parameters):
        async with conn.cursor() as cur:
            await cur.execute(sql, parameters)
            row = await cur.fetchone()
            return row[0] if row else None

    async def insert_returning(self, conn, query_name, sql, parameters):
        return await self.select_one(conn, query_name, sql, parameters)

    async def insert_update_delete(self, conn, query_name, sql, parameters):
        async with conn.cursor() as cur:
            await cur.execute(sql, parameters)
            return cur.rowcount

    async def insert_update_delete_many(self, conn, query_name, sql, parameters):
        async with conn.cursor() as cur:
            total = 0
            for params in parameters:
                await cur.execute(sql, params)
                total += cur.rowcount
            return total

    async def execute_script(self, conn, sql):
        async with conn.cursor() as cur:
            await cur.execute(sql)
            return cur.statusmessage


aiosql.register_adapter("aiopg", AiopgAdapter)
register_json_decoding()
psycopg2.extras.register_uuid()


def load_queries() -> Any:
    """All named queries of queries/*.sql, namespaced by file (queries.claim_runs)."""
    return aiosql.from_path(resource_dir("queries"), "aiopg")


queries = load_queries()


# Driver errors that mean "the database cannot be reached right now".
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    psycopg2.OperationalError,
    psycopg2.InterfaceError,
    ConnectionError,
    TimeoutError,
)


async def create_pool(dsn: str, *, minsize: int = 1, maxsize: int = 10) -> aiopg.Pool:
    """A connection pool whose connections name themselves in pg_stat_activity."""
    return await aiopg.create_pool(
        dsn,
        minsize=minsize,
        maxsize=maxsize,
        timeout=30.0,
        pool_recycle=300.0,
        application_name=POOL_APPLICATION_NAME,
    )


@contextlib.asynccontextmanager
async def connection(pool: aiopg.Pool) -> AsyncIterator[aiopg.Connection]:
    """A pooled connection (autocommit); connection failures become `Unavailable`."""
    try:
        async with pool.acquire() as conn:
            yield conn
    except CONNECTION_ERRORS as exc:
        if str(getattr(exc, "pgcode", None) or "").startswith("54"):
            # program_limit_exceeded (e.g. a value too large for an index): the input's fault
            raise ValidationError("a value in the request is too large to store") from exc
        raise Unavailable() from exc


@contextlib.asynccontextmanager
async def transaction(pool: aiopg.Pool) -> AsyncIterator[aiopg.Connection]:
    """A pooled connection inside one transaction: committed on success, rolled back on error."""
    async with connection(pool) as conn:
        async with conn.cursor() as cur:
            async with cur.begin():
                yield conn
