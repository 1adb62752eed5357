"""Bring a database to this release's schema, under a PostgreSQL advisory lock.

Three steps, one server at a time (N servers starting at once migrate one after the
other; the ones that follow find nothing left to do):
1. a database made by the pre-release migration chain is carried onto the baseline
   (durable_queue/prerelease.py);
2. yoyo applies the pending migrations of migrations/ (synchronous, in a worker
   thread, while this connection holds the lock);
3. the function step installs the functions of migrations/functions/ when the
   database holds an older release's (durable_queue/sql_functions.py).
docs/upgrading.md is the operator's and the maintainer's side of it.
"""

from __future__ import annotations

import asyncio
import logging

import aiopg
from yoyo import get_backend, read_migrations

from durable_queue import __version__
from durable_queue.db import queries
from durable_queue.prerelease import carry_over_if_made_by_chain
from durable_queue.resources import resource_dir
from durable_queue.sql_functions import install_functions

log = logging.getLogger("durable_queue.migrate")

# CREATE OR REPLACE TRIGGER (the function files) is PostgreSQL 14's
MIN_SERVER_VERSION_NUM = 140000


class UnsupportedServerError(RuntimeError):
    """The PostgreSQL server is older than this release supports."""


def last_migration_id() -> str:
    """The id of this checkout's last migration."""
    return read_migrations(str(resource_dir("migrations")))[-1].id


def apply_pending(dsn: str, up_to: str | None = None) -> int:
    """Apply the pending migrations with yoyo (synchronous), all of them or those up to
    and including the migration `up_to` (ValueError when there is none of that id);
    returns how many were applied."""
    backend = get_backend(dsn)
    try:
        migrations = read_migrations(str(resource_dir("migrations")))
        if up_to is not None:
            ids = [migration.id for migration in migrations]
            if up_to not in ids:
                raise ValueError(f"no migration {up_to!r} (have {ids})")
            migrations = migrations[: ids.index(up_to) + 1]
        with backend.lock():
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
        return len(pending)
    finally:
        backend.connection.close()


async def _check_server(conn: aiopg.Connection) -> None:
    version_num = await queries.server_version_num(conn)
    if version_num < MIN_SERVER_VERSION_NUM:
        raise UnsupportedServerError(
            f"durable-queue needs PostgreSQL 14 or newer; this server is {version_num}"
        )


async def apply_migrations(dsn: str, up_to: str | None = None, release: str = __version__) -> int:
    """Carry a pre-release database over, apply pending migrations (all, or up to `up_to`),
    then run the function step as a server of `release`; returns how many migrations
    were applied. The function step runs only once every migration is applied: the
    function files are written for this checkout's schema, not an earlier one's."""
    async with aiopg.connect(dsn, timeout=30.0, application_name="durable-queue-migrate") as conn:
        await _check_server(conn)
        await queries.lock_migrations(conn)
        try:
            await carry_over_if_made_by_chain(conn)
            applied = await asyncio.to_thread(apply_pending, dsn, up_to)
            if up_to is None or up_to == last_migration_id():
                await install_functions(conn, release)
        finally:
            await queries.unlock_migrations(conn)
    if applied:
        log.info("migrations applied", extra={"count": applied})
    return applied
