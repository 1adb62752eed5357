"""Apply the yoyo migrations of migrations/ under a PostgreSQL advisory lock.

The advisory lock is held on one connection while yoyo (which is synchronous)
runs in a worker thread, so N servers starting at once migrate one at a time;
the ones that follow find nothing left to apply.
"""

from __future__ import annotations

import asyncio
import logging

import aiopg
from yoyo import get_backend, read_migrations

from durable_queue.db import queries
from durable_queue.resources import resource_dir

log = logging.getLogger("durable_queue.migrate")


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


async def apply_migrations(dsn: str) -> int:
    """Apply pending migrations; returns how many were applied."""
    async with aiopg.connect(dsn, timeout=30.0, application_name="durable-queue-migrate") as conn:
        await queries.lock_migrations(conn)
        try:
            applied = await asyncio.to_thread(apply_pending, dsn)
        finally:
            await queries.unlock_migrations(conn)
    if applied:
        log.info("migrations applied", extra={"count": applied})
    return applied
