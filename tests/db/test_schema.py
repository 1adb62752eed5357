"""The schema a database ends up with: a fresh install, a database upgraded one
migration at a time, and a database of the pre-release chain carried over all have the
same catalog; the function step installs over older releases only, once under
concurrent starts; a partial pre-release chain is refused untouched."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import aiosql
import pytest
from yoyo import read_migrations

from durable_queue import __version__
from durable_queue.migrate import UnsupportedServerError, apply_migrations
from durable_queue.prerelease import CHAIN, PartialChainError
from durable_queue.resources import resource_dir
from durable_queue.sql_functions import checksum, function_files, function_sources
from tests import pg
from tests.helpers import connect_autocommit, query_all, query_one, run_sql

CATALOG = aiosql.from_path(Path(__file__).with_name("catalog.sql"), "psycopg2")
PRERELEASE_DUMP = Path(__file__).parent / "fixtures" / "prerelease_chain.sql"
MIGRATION_IDS = [migration.id for migration in read_migrations(str(resource_dir("migrations")))]


def catalog(dsn: str) -> dict[str, list[tuple[Any, ...]]]:
    """Everything of the public schema a migration could change, as comparable rows."""
    with closing(connect_autocommit(dsn)) as conn:
        return {
            kind: [tuple(row) for row in getattr(CATALOG, f"catalog_{kind}")(conn)]
            for kind in ("columns", "constraints", "indexes", "triggers", "functions", "types")
        }


def fingerprints(dsn: str) -> list[tuple[Any, ...]]:
    with closing(connect_autocommit(dsn)) as conn:
        return [tuple(row) for row in CATALOG.table_fingerprints(conn)]


@pytest.fixture
def empty_database(postgres: pg.TestPostgres) -> Iterator[str]:
    """A database with nothing in it (not cloned from the migrated template)."""
    name, url = postgres.new_empty_database()
    yield url
    postgres.drop_database(name)


@pytest.fixture
def prerelease_database(empty_database: str) -> str:
    """A database as the pre-release chain left it (restored from the fixture's dump)."""
    with closing(connect_autocommit(empty_database)) as conn:
        run_sql(conn, PRERELEASE_DUMP.read_text())
    return empty_database


def test_fresh_install_has_the_baseline_and_every_function(database_url: str) -> None:
    schema = catalog(database_url)
    functions = {name for name, _, _ in schema["functions"]}
    assert {path.stem for path in function_files()} <= functions
    tables = {row[0] for row in schema["columns"]}
    assert {"queues", "tasks", "runs", "installed_functions"} <= tables
    [row] = query_all(database_url, "SELECT release, checksum FROM installed_functions")
    assert row == (__version__, checksum(function_sources()))


async def test_upgraded_one_migration_at_a_time_equals_a_fresh_install(
    empty_database: str, database_url: str
) -> None:
    """Each migration applied by a run of its own, the function step after each (as
    releases one after the other do), ends where a fresh install of all of them does."""
    ids = [migration.id for migration in read_migrations(str(resource_dir("migrations")))]
    assert ids[0] == "0001.baseline"
    for migration_id in ids:
        assert await apply_migrations(empty_database, up_to=migration_id) == 1
    assert await apply_migrations(empty_database) == 0
    assert catalog(empty_database) == catalog(database_url)


async def test_a_prerelease_database_is_carried_over_with_every_row(
    prerelease_database: str, database_url: str
) -> None:
    before = fingerprints(prerelease_database)
    assert dict((name, n) for name, n, _ in before)["tasks"] == 9
    # the carry-over onto the baseline keeps every row as it was (later migrations add
    # columns, which change the rows' text)
    await apply_migrations(prerelease_database, up_to="0001.baseline")
    assert fingerprints(prerelease_database) == before
    await apply_migrations(prerelease_database)
    assert catalog(prerelease_database) == catalog(database_url)
    ids = query_all(
        prerelease_database, "SELECT migration_id FROM _yoyo_migration ORDER BY migration_id"
    )
    # and it works: the pending task the chain left is claimable and completes
    with closing(connect_autocommit(prerelease_database)) as conn:
        [claimed] = run_sql(conn, "SELECT run_id FROM dq_claim('emails', 10, 60)")
        [done] = run_sql(conn, "SELECT outcome FROM dq_complete_run(%s, '{}')", claimed["run_id"])
    assert ids == [(migration_id,) for migration_id in MIGRATION_IDS]
    assert done["outcome"] == "ok"
    assert await apply_migrations(prerelease_database) == 0


async def test_a_partial_prerelease_chain_is_refused_untouched(prerelease_database: str) -> None:
    with closing(connect_autocommit(prerelease_database)) as conn:
        run_sql(conn, "DELETE FROM _yoyo_migration WHERE migration_id = %s", CHAIN[-1])
    before = catalog(prerelease_database)
    with pytest.raises(PartialChainError, match=r"lacks the pre-release migrations 0012"):
        await apply_migrations(prerelease_database)
    assert catalog(prerelease_database) == before


# -- the function step -------------------------------------------------------------

MARKER = "-- installed by hand"


def mark_a_function(conn: Any) -> None:
    """Replace dq_uuid_floor's body with one carrying MARKER (same behaviour)."""
    definition = resource_dir("migrations").joinpath("functions", "dq_uuid_floor.sql").read_text()
    run_sql(conn, definition.replace("SELECT encode(", f"{MARKER}\n    SELECT encode("))


def marked(conn: Any) -> bool:
    [row] = run_sql(conn, "SELECT prosrc FROM pg_proc WHERE proname = 'dq_uuid_floor'")
    return MARKER in row["prosrc"]


def record(conn: Any, release: str, digest: str) -> None:
    run_sql(conn, "UPDATE installed_functions SET release = %s, checksum = %s", release, digest)


async def test_an_older_release_leaves_a_newer_releases_functions(db: Any, database_url: str):
    mark_a_function(db)
    record(db, "99.0.0", "bodies of a newer release")
    await apply_migrations(database_url)
    assert marked(db)
    [row] = run_sql(db, "SELECT release FROM installed_functions")
    assert row["release"] == "99.0.0"


async def test_functions_of_an_older_release_are_replaced(db: Any, database_url: str) -> None:
    mark_a_function(db)
    record(db, "0.0.1", "bodies of an older release")
    await apply_migrations(database_url)
    assert not marked(db)
    [row] = run_sql(db, "SELECT release, checksum FROM installed_functions")
    assert tuple(row) == (__version__, checksum(function_sources()))


async def test_other_bodies_of_the_same_release_are_replaced(db: Any, database_url: str) -> None:
    mark_a_function(db)
    record(db, __version__, "bodies of another checkout")
    await apply_migrations(database_url)
    assert not marked(db)


async def test_the_same_bodies_are_not_installed_again(db: Any, database_url: str) -> None:
    mark_a_function(db)  # by hand, without recording it: the record says these are current
    await apply_migrations(database_url)
    assert marked(db)


async def test_servers_starting_at_once_migrate_once(empty_database: str) -> None:
    applied = await asyncio.gather(*(apply_migrations(empty_database) for _ in range(4)))
    assert sorted(applied) == [0, 0, 0, len(MIGRATION_IDS)]
    releases = query_all(empty_database, "SELECT release FROM installed_functions")
    [count] = query_all(empty_database, "SELECT count(*) FROM pg_proc WHERE proname LIKE 'dq\\_%%'")
    assert releases == [(__version__,)]
    assert count[0] >= len([p for p in function_files() if p.stem.startswith("dq_")])


async def test_a_server_older_than_postgresql_14_is_refused(
    empty_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("durable_queue.migrate.MIN_SERVER_VERSION_NUM", 10_000_000)
    with pytest.raises(UnsupportedServerError, match="PostgreSQL 14 or newer"):
        await apply_migrations(empty_database)
    assert query_one(empty_database, "SELECT to_regclass('tasks') IS NULL") == (True,)
