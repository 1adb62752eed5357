"""Rows each maintenance statement reads per pass: in proportion to what it changes.

A pass with nothing to do must read next to nothing, however many rows are old but
not yet due (events older than one queue's TTL but not the largest, tasks finished
long ago under a longer TTL, claims, deadlines and waits due later); a pass with work
reads about what it deletes or updates.

Every statement of a real pass (`Maintenance.sweep_once`, with the parameters it binds)
runs here in a transaction of its own, right after its backend flushed its statistics
(pg_stat_force_next_flush(), PostgreSQL 15+), so PostgreSQL's per-transaction counters
(pg_stat_xact_user_tables) give exactly its rows: those read by sequential, index and
bitmap scans (seq_tup_read + idx_tup_fetch, cascades and triggers included) and those
inserted, updated or deleted.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiosql
import attrs
import psycopg2.extensions
import pytest
from aiosql.types import SQLOperationType

from durable_queue import maintenance
from durable_queue.db import create_pool, queries
from durable_queue.maintenance import Maintenance
from durable_queue.resources import resource_dir
from tests import pg

Q = aiosql.from_path(resource_dir("queries"), "psycopg2")
SQL = Path(__file__).with_name("maintenance_reads.sql")
R = aiosql.from_path(SQL, "psycopg2")
RA = aiosql.from_path(SQL, "aiopg")

COUNT = 2_000  # per queue: finished tasks, pending, claimed, sleeping
EVENTS = 10_000
HOUR, DAY = 3_600, 86_400
# Rows a statement may read per row it changes: it finds a row, locks it and its task or
# run by id, changes them, and looks at the rows beside them (a task's runs, a timed-out
# wait's run that is no longer sleeping). A plan walking rows it leaves alone reads
# thousands per row changed, or thousands while changing none.
READ_PER_CHANGE = 5
# Rows it may read besides: the queues (the sweeps look at each), the count rows the
# fold adds to.
SLACK = 20
NOT_MAINTENANCE = {"try_lock_sweeper"}  # the lock connection's, not the pass's


@attrs.frozen
class Statement:
    """One statement of a pass: the rows it read and changed, by table."""

    query: str
    read: dict[str, int]
    changed: dict[str, int]

    def __str__(self) -> str:
        return f"{self.query}: read {self.read}, changed {self.changed}"


class Measured:
    """Stands in for `queries` in durable_queue.maintenance: each statement runs in a
    transaction of its own, and what it read and changed is recorded."""

    def __init__(self) -> None:
        self.statements: list[Statement] = []

    def __getattr__(self, name: str) -> Any:
        query = getattr(queries, name)
        if name in NOT_MAINTENANCE:
            return query
        if query.operation == SQLOperationType.SELECT:

            async def rows(conn: Any, **params: Any) -> AsyncIterator[Any]:
                result = await self._measure(name, conn, lambda: _all(query(conn, **params)))
                for row in result:
                    yield row

            return rows

        async def one(conn: Any, **params: Any) -> Any:
            return await self._measure(name, conn, lambda: query(conn, **params))

        return one

    async def _measure(self, name: str, conn: Any, run: Any) -> Any:
        # The per-transaction counters of scans are the backend's pending (unflushed)
        # ones: flushed first, they hold this transaction's only.
        await RA.flush_statistics(conn)
        async with conn.cursor() as cur, cur.begin():
            result = await run()
            read, changed = {}, {}
            async for row in RA.rows_in_transaction(conn):
                if row["read"]:
                    read[row["table_name"]] = row["read"]
                if row["changed"]:
                    changed[row["table_name"]] = row["changed"]
        self.statements.append(Statement(name, read, changed))
        return result


async def _all(rows: AsyncIterator[Any]) -> list[Any]:
    return [row async for row in rows]


def maintenance_queries() -> set[str]:
    """The named queries durable_queue/maintenance.py runs."""
    source = Path(maintenance.__file__).read_text()
    return set(re.findall(r"\bqueries\.(\w+)", source)) - NOT_MAINTENANCE


@pytest.fixture
def seeded_db(postgres: pg.TestPostgres) -> Iterator[tuple[str, psycopg2.extensions.connection]]:
    name, url = postgres.new_database()
    conn = psycopg2.connect(url)
    conn.autocommit = True
    if R.server_version_num(conn) < 150000:
        pytest.skip("pg_stat_force_next_flush() is PostgreSQL 15's")
    try:
        yield url, conn
    finally:
        conn.close()
        postgres.drop_database(name)


def seed(conn: Any, age_seconds: int, due_seconds: int) -> None:
    """Two queues, "keep" (tasks kept forever, events for an hour) and "day" (both for a
    day), each with COUNT finished tasks and COUNT pending, claimed and sleeping ones; and
    EVENTS events. The newest finished task and event are `age_seconds` old; deadlines,
    claim expiries and wait timeouts fall `due_seconds` from now."""
    for queue, task_ttl, event_ttl in (("keep", 0, HOUR), ("day", DAY, DAY)):
        Q.insert_queue(conn, name=queue, task_ttl_seconds=task_ttl, event_ttl_seconds=event_ttl)
        R.seed_queue(
            conn, queue_name=queue, count=COUNT, age_seconds=age_seconds, due_seconds=due_seconds
        )
    R.seed_events(conn, count=EVENTS, age_seconds=age_seconds)
    R.analyze(conn)


async def passes(url: str, count: int, monkeypatch: pytest.MonkeyPatch) -> list[list[Statement]]:
    """The statements of `count` maintenance passes, pass by pass."""
    measured = Measured()
    monkeypatch.setattr(maintenance, "queries", measured)
    pool = await create_pool(url, maxsize=2)
    try:
        sweeper = Maintenance(pool, url, interval=1.0, max_claim_expiries=3)
        out = []
        for _ in range(count):
            await sweeper.sweep_once()
            out.append(measured.statements)
            measured.statements = []
    finally:
        pool.close()
        await pool.wait_closed()
    return out


def disproportionate(statements: list[Statement]) -> list[str]:
    """The statements that read more than READ_PER_CHANGE rows per row they changed,
    and some slack."""
    limit = READ_PER_CHANGE
    return [
        str(s) for s in statements if sum(s.read.values()) > limit * sum(s.changed.values()) + SLACK
    ]


def busy(statements: list[Statement]) -> list[str]:
    """The statements that read more than the queues, or changed anything."""
    return [str(s) for s in statements if set(s.read) - {"queues"} or s.changed]


async def test_an_idle_pass_reads_next_to_nothing(seeded_db, monkeypatch) -> None:
    """Everything is old and nothing is due: events two to five hours old (past the
    "keep" queue's event TTL, not the largest), finished tasks as old (kept forever, or
    for a day), deadlines, claims and waits due in an hour."""
    url, conn = seeded_db
    seed(conn, age_seconds=2 * HOUR, due_seconds=HOUR)
    first, second, third = await passes(url, 3, monkeypatch)
    assert {s.query for s in first} >= maintenance_queries()
    # the first pass folds the seeding's count deltas; then there is nothing to do
    assert disproportionate(first) == []
    assert busy(second) == []
    assert busy(third) == []


async def test_a_pass_with_work_reads_what_it_changes(seeded_db, monkeypatch) -> None:
    """Everything is due: events and the "day" queue's finished tasks two days old,
    deadlines, claims and waits an hour overdue. Each statement reads about the rows it
    changes, batch after batch, until a pass finds nothing left to do."""
    url, conn = seeded_db
    seed(conn, age_seconds=2 * DAY, due_seconds=-HOUR)
    *working, idle = await passes(url, 4, monkeypatch)
    assert [disproportionate(statements) for statements in working] == [[]] * len(working)
    assert sum(s.changed.get("events", 0) for s in working[0]) == EVENTS
    assert busy(idle) == []


def test_the_maintenance_queries_are_found() -> None:
    """The measured pass covers what maintenance.py runs (its queries are found by name)."""
    assert maintenance_queries() >= {"delete_expired_events", "delete_expired_tasks"}


# -- flow control (issue 23): slots, buckets and keys add no idle cost ------------------

FLOW_KEYS = 1_000
PER_KEY = 100  # pending runs per key: 100,000 in all, every one due and held back
OVERRIDES = 50
FLOW_TABLES = ("runs", "tasks", "queue_keys", "rate_buckets")


def seed_flow(conn: Any) -> None:
    """R.seed_flow_queue: "flow", key limit 1 and rate limits, 1,000 keys each at its limit
    with 100 due runs held back, 50 key overrides, a bucket short of full per key."""
    runs = R.seed_flow_queue(
        conn, queue_name="flow", keys=FLOW_KEYS, per_key=PER_KEY, overrides=OVERRIDES
    )
    assert runs == FLOW_KEYS * (PER_KEY + 1)
    R.analyze(conn)


def rows_read(url: str, run: Any) -> dict[str, int]:
    """The rows `run(conn)` read, by table, in a transaction of its own on a connection of
    its own (statistics flushed first, as in Measured)."""
    conn = psycopg2.connect(url)
    try:
        conn.autocommit = True
        R.flush_statistics(conn)
        conn.autocommit = False
        run(conn)
        read = {name: n for name, n, _ in R.rows_in_transaction(conn) if n}
        conn.commit()
    finally:
        conn.close()
    return read


def flow_reads(read: dict[str, int]) -> int:
    return sum(read.get(table, 0) for table in FLOW_TABLES)


async def test_an_idle_pass_reads_next_to_nothing_beside_a_held_back_backlog(
    seeded_db, monkeypatch
) -> None:
    """100,000 due runs over 1,000 keys, every key at its limit, rate buckets short of
    full, key overrides: nothing for maintenance to do, and nothing it reads."""
    url, conn = seeded_db
    seed_flow(conn)
    first, second, third = await passes(url, 3, monkeypatch)
    assert {s.query for s in first} >= maintenance_queries()
    assert disproportionate(first) == []  # folds the seeding's count deltas
    assert busy(second) == []
    assert busy(third) == []


def test_a_monitoring_sample_reads_next_to_nothing_beside_a_held_back_backlog(seeded_db) -> None:
    url, conn = seeded_db
    seed_flow(conn)

    def sample(c: Any) -> bool:
        return Q.monitoring_sample(c, settle_seconds=0, keep_seconds=86400)[1]

    while not sample(conn):  # counts the seeded rows first
        pass
    read = rows_read(url, sample)
    assert flow_reads(read) <= SLACK, read


def test_a_metrics_scrape_does_not_read_the_held_back_backlog(seeded_db) -> None:
    """The scrape's held-back and busiest-key gauges (/metrics, the dashboard): the
    claimed runs (bounded by the limits; read for the held keys and for the busiest
    keys), the held-back runs up to the scrape's cap, the keys' overrides; never the
    whole held-back backlog."""
    url, conn = seeded_db
    seed_flow(conn)
    read = rows_read(url, lambda c: list(Q.monitoring_queues(c, busiest_keys=10)))
    claimed = FLOW_KEYS  # one per key
    held_back_cap = 1_000  # queries/monitoring.sql monitoring_queues: dq_held_back(q.id, 1000)
    assert flow_reads(read) <= 2 * claimed + held_back_cap + OVERRIDES + SLACK, read
