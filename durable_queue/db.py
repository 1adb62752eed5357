"""Database access: the aiopg pool, the aiosql queries, transactions and driver errors.

aiosql ships an async pyformat adapter written for psycopg 3 (`conn.execute`);
`AiopgAdapter` keeps its parameter conversion and only runs each statement on
a fresh aiopg cursor, returning rows as dicts.

Driver errors are classified here and only here, by SQLSTATE
(`domain_error`): nothing above this module needs to know psycopg2.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import warnings
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiopg
import aiosql
import attrs
import psycopg2
import psycopg2.extensions
import psycopg2.extras
from aiopg.utils import create_completed_future
from aiosql.adapters.apyformat import AsyncPyFormatAdapter

from durable_queue.errors import Conflict, DurableError, Unavailable, ValidationError
from durable_queue.jsonvalue import register_json_decoding
from durable_queue.resources import resource_dir
from durable_queue.uuidvalue import register_uuid_decoding

POOL_APPLICATION_NAME = "durable-queue"
LISTENER_APPLICATION_NAME = "durable-queue-listener"
# Sent at connect (libpq `options`) by every connection of the server, so no statement
# pays for it: JIT off. The server's statements are short; JIT compiling one costs far
# more than it saves (docs/performance.md, "JIT off").
SESSION_OPTIONS = "-c jit=off"

# Driver errors that mean "the database cannot be reached right now".
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    psycopg2.OperationalError,
    psycopg2.InterfaceError,
    ConnectionError,
    TimeoutError,
)
# SQLSTATE classes that mean the server is going away or cannot take us now:
# connection exception, insufficient resources, operator intervention (shutdown, cancel).
_UNAVAILABLE_CLASSES = ("08", "53", "57")


def domain_error(exc: BaseException) -> DurableError | None:
    """The domain error a driver error stands for, by SQLSTATE; None when it is not the
    input's or the database's availability's fault (a bug: let it be a 500)."""
    code = getattr(exc, "pgcode", None) or ""
    if code.startswith("22"):  # data exception: out of range, bad encoding, bad format
        return ValidationError("a value in the request is out of range or invalid")
    if code.startswith("54"):  # program limit exceeded, e.g. a value too large for an index
        return ValidationError("a value in the request is too large to store")
    if code == "23505":  # unique violation the statement did not resolve itself
        return Conflict("the resource already exists")
    if code.startswith(_UNAVAILABLE_CLASSES):
        return Unavailable()
    if not code and isinstance(exc, CONNECTION_ERRORS):  # no server answer at all
        return Unavailable()
    return None


@contextlib.contextmanager
def domain_errors() -> Iterator[None]:
    """Re-raise driver errors raised inside as their domain error; others pass unchanged."""
    try:
        yield
    except (psycopg2.Error, ConnectionError, TimeoutError) as exc:
        error = domain_error(exc)
        if error is None:
            raise
        raise error from exc


# The hot path's statements: prepared on a connection at their first use there and sent as
# EXECUTE afterwards, so PostgreSQL parses and plans them once per connection, not per call.
# (A prepared statement lives as long as its session, and survives a rollback.)
PREPARED_QUERIES = frozenset(
    {
        "create_task",
        "create_tasks",
        "claim_runs",
        "claim_runs_or_due",
        "complete_run",
        "complete_runs",
        "fail_run",
        "extend_claim",
    }
)
_PYFORMAT_PARAMETER = re.compile(r"%\((\w+)\)s")


@attrs.frozen
class PreparedStatement:
    """One named query as PREPARE text ($n placeholders) and the EXECUTE sent per call."""

    prepare_sql: str
    execute_sql: str

    @classmethod
    def of(cls, query_name: str, sql: str) -> PreparedStatement:
        """From aiosql's pyformat SQL: each distinct %(name)s becomes $n, by first use."""
        names: list[str] = []

        def positional(match: re.Match[str]) -> str:
            if match.group(1) not in names:
                names.append(match.group(1))
            return f"${names.index(match.group(1)) + 1}"

        body = _PYFORMAT_PARAMETER.sub(positional, sql).rstrip().rstrip(";")
        statement = f"durable_{query_name}"
        arguments = ", ".join(f"%({name})s" for name in names)
        return cls(
            prepare_sql=f"PREPARE {statement} AS {body}",
            execute_sql=f"EXECUTE {statement}({arguments})" if names else f"EXECUTE {statement}",
        )


class AiopgAdapter(AsyncPyFormatAdapter):
    """aiosql driver adapter for aiopg: aiosql's pyformat conversion, aiopg cursors, dict rows;
    the queries of PREPARED_QUERIES go out as EXECUTE of their prepared statement."""

    def __init__(self) -> None:
        super().__init__()
        self.prepared: dict[str, PreparedStatement] = {}
        # the queries prepared on each connection so far
        self._prepared_on: weakref.WeakKeyDictionary[aiopg.Connection, set[str]] = (
            weakref.WeakKeyDictionary()
        )

    def process_sql(self, query_name: str, op_type: Any, sql: str) -> str:
        sql = super().process_sql(query_name, op_type, sql)
        if query_name in PREPARED_QUERIES:
            self.prepared[query_name] = PreparedStatement.of(query_name, sql)
        return sql

    async def _run(self, cur: aiopg.Cursor, sql: str, parameters: Any, query_name: str) -> None:
        prepared = self.prepared.get(query_name)
        if prepared is not None:
            done = self._prepared_on.setdefault(cur.connection, set())
            if query_name not in done:
                await cur.execute(prepared.prepare_sql)
                done.add(query_name)
            sql = prepared.execute_sql
        try:
            await cur.execute(sql, parameters)
        except ValueError as exc:
            # psycopg2 could not encode a parameter (a lone surrogate, a NUL in a string):
            # the statement never reached the server.
            raise ValidationError("a text value in the request cannot be stored") from exc

    async def select(self, conn, query_name, sql, parameters, record_class=None):
        async with conn.cursor() as cur:
            await self._run(cur, sql, parameters, query_name)
            columns = [c[0] for c in cur.description]
            for row in await cur.fetchall():
                yield dict(zip(columns, row, strict=True))

    async def select_one(self, conn, query_name, sql, parameters, record_class=None):
        async with conn.cursor() as cur:
            await self._run(cur, sql, parameters, query_name)
            row = await cur.fetchone()
            if row is None:
                return None
            return dict(zip([c[0] for c in cur.description], row, strict=True))

    async def select_value(self, conn, query_name, sql, parameters):
        async with conn.cursor() as cur:
            await self._run(cur, sql, parameters, query_name)
            row = await cur.fetchone()
            return row[0] if row else None

    async def insert_returning(self, conn, query_name, sql, parameters):
        return await self.select_one(conn, query_name, sql, parameters)

    async def insert_update_delete(self, conn, query_name, sql, parameters):
        async with conn.cursor() as cur:
            await self._run(cur, sql, parameters, query_name)
            return cur.rowcount

    async def insert_update_delete_many(self, conn, query_name, sql, parameters):
        async with conn.cursor() as cur:
            total = 0
            for params in parameters:
                await self._run(cur, sql, params, query_name)
                total += cur.rowcount
            return total

    async def execute_script(self, conn, sql):
        async with conn.cursor() as cur:
            await self._run(cur, sql, None, "")
            return cur.statusmessage


aiosql.register_adapter("aiopg", AiopgAdapter)
register_json_decoding()
register_uuid_decoding()


def load_queries() -> Any:
    """All named queries of queries/*.sql, namespaced by file (queries.claim_runs)."""
    return aiosql.from_path(resource_dir("queries"), "aiopg")


queries = load_queries()


class LifoPool(aiopg.Pool):
    """aiopg's pool, handing out the free connection released last, without ceremony
    when one is free.

    aiopg hands out the one released first, so under a light load every statement went
    to another backend and every pooled backend stayed busy, each with cold caches. Last
    in, first out keeps the work on as few backends as the concurrency needs; the others
    sit idle until `pool_recycle` closes them.

    aiopg also enters a timeout and the pool's condition on every acquire, and starts a
    task to notify that condition on every release: event-loop work on every statement.
    (What both cost: docs/performance.md, "Last in, first out" and "The pool hands out a
    free connection at once".) Here an acquire that finds a usable free connection and
    nobody waiting takes it at once, and a release wakes the condition only when someone
    waits on it (an acquire of a full pool, `wait_closed`); everything else is aiopg 1.4's
    `Pool._acquire` and `Pool.release` (tests/db/test_pool.py checks order and waits)."""

    def _waited_on(self) -> bool:
        return bool(self._cond._waiters)  # asyncio.Condition keeps its waiters here

    def _usable(self, conn: aiopg.Connection) -> bool:
        """Free and fit to hand out as it is: open, and younger than `pool_recycle`
        (aiopg's `_fill_free_pool` closes the others)."""
        return not conn.closed and not (-1 < self._recycle < self._loop.time() - conn.last_usage)

    async def _acquire(self) -> aiopg.Connection:
        if self._closing:
            raise RuntimeError("Cannot acquire connection after closing pool")
        if self._free and self._usable(self._free[-1]) and not self._waited_on():
            conn = self._free.pop()
            self._used.add(conn)
            return conn
        async with asyncio.timeout(self._timeout), self._cond:
            while True:
                await self._fill_free_pool(True)
                if self._free:
                    conn = self._free.pop()  # aiopg: popleft()
                    assert not conn.closed, conn
                    assert conn not in self._used, (conn, self._used)
                    self._used.add(conn)
                    return conn
                await self._cond.wait()

    def release(self, conn: aiopg.Connection) -> asyncio.Future[None]:
        """Back to the free connections (closed instead if it is in a transaction or the
        pool is closing); the condition is notified only when someone waits on it."""
        done = create_completed_future(self._loop)
        if conn in self._terminated:
            assert conn.closed, conn
            self._terminated.remove(conn)
            return done
        assert conn in self._used, (conn, self._used)
        self._used.remove(conn)
        if conn.closed:
            return done
        status = conn.raw.get_transaction_status()
        if status != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
            warnings.warn(
                f"Invalid transaction status on released connection: {status}",
                ResourceWarning,
                stacklevel=2,
            )
            conn.close()
            return done
        if self._closing:
            conn.close()
        else:
            self._free.append(conn)
        if self._waited_on():
            return asyncio.ensure_future(self._wakeup())
        return done


def session_options(dsn: str) -> str:
    """libpq `options` for a connection of the server: SESSION_OPTIONS, then the user's own
    (the `options` of the DSN, else the PGOPTIONS environment variable, which libpq reads
    only when no `options` is given), so a user's setting of the same parameter wins."""
    given = psycopg2.extensions.parse_dsn(dsn).get("options") or os.environ.get("PGOPTIONS")
    return f"{SESSION_OPTIONS} {given}" if given else SESSION_OPTIONS


async def connect(dsn: str, *, connect_timeout: float, application_name: str) -> aiopg.Connection:
    """A connection outside the pool (an advisory lock's, the listener's) with the pool's
    session options, named `application_name` in pg_stat_activity; aiopg's `timeout`
    (connecting, and each statement) is `connect_timeout` seconds."""
    return await aiopg.connect(
        dsn,
        timeout=connect_timeout,
        application_name=application_name,
        options=session_options(dsn),
    )


async def create_pool(dsn: str, *, minsize: int = 1, maxsize: int = 10) -> aiopg.Pool:
    """A connection pool (last released, first used) whose connections name themselves
    in pg_stat_activity and run with SESSION_OPTIONS."""
    return await LifoPool.from_pool_fill(
        dsn,
        minsize,
        maxsize,
        30.0,  # seconds to wait for a free connection
        pool_recycle=300.0,
        application_name=POOL_APPLICATION_NAME,
        options=session_options(dsn),
        enable_json=True,  # aiopg's default
        enable_hstore=False,  # no hstore here: skips aiopg's type lookup on every connect
        # uuid columns through uuidvalue's process-wide caster (aiopg would register
        # psycopg2's slower one on each connection, which takes precedence)
        enable_uuid=False,
        echo=False,
        on_connect=None,
    )


async def _acquire(pool: aiopg.Pool) -> aiopg.Connection:
    """`pool.acquire()`, asked again when aiopg trips over a pooled connection the database
    closed while the pool was opening another one (its `assert not conn.closed` in
    `Pool._acquire`: pg_terminate_backend, a failover). The closed connection has left the
    pool by then, so the next attempt gets a live or a new one."""
    for _ in range(2):
        try:
            return await pool.acquire()
        except AssertionError:
            continue
    return await pool.acquire()


@contextlib.asynccontextmanager
async def connection(pool: aiopg.Pool) -> AsyncIterator[aiopg.Connection]:
    """A pooled connection (autocommit); driver errors inside become domain errors."""
    with domain_errors():
        conn = await _acquire(pool)
        try:
            yield conn
        finally:
            await pool.release(conn)


@contextlib.asynccontextmanager
async def transaction(pool: aiopg.Pool) -> AsyncIterator[aiopg.Connection]:
    """A pooled connection inside one transaction: committed on success, rolled back on error."""
    async with connection(pool) as conn:
        async with conn.cursor() as cur:
            async with cur.begin():
                yield conn
