"""Databases made by the pre-release migration chain: carried onto the baseline.

Before its first release durable-queue migrated with a chain of twelve migrations
(0001.uuidv7 ... 0012.idempotency), since replaced by one baseline. A database that
applied the whole chain holds the baseline's tables already: it is carried onto it in
one transaction (migrations/prerelease/carry_over.sql), every row kept, and recorded
as having applied the baseline. A database that applied only part of the chain cannot
be carried; migrate refuses it with what to do.
"""

from __future__ import annotations

import logging

import aiopg
from yoyo.migrations import get_migration_hash

from durable_queue.db import queries
from durable_queue.resources import resource_dir

log = logging.getLogger("durable_queue.migrate")

BASELINE = "0001.baseline"
CHAIN = (
    "0001.uuidv7",
    "0002.schema",
    "0003.functions",
    "0004.scale",
    "0005.monitoring",
    "0006.claim_tokens",
    "0007.hot_path",
    "0008.claim",
    "0009.batch_create",
    "0010.plans",
    "0011.checks",
    "0012.idempotency",
)
# the last commit whose server migrates with the chain
LAST_CHAIN_COMMIT = "5ca2b31"


class PartialChainError(RuntimeError):
    """The database applied part of the pre-release chain only."""


def chain_state(applied: set[str]) -> str:
    """'none' (no chain migration applied), 'complete' (all of them, baseline not yet
    recorded) or 'partial'."""
    chain = applied & set(CHAIN)
    if not chain or BASELINE in applied:
        return "none"
    if chain == set(CHAIN):
        return "complete"
    return "partial"


def partial_chain_message(applied: set[str]) -> str:
    missing = [migration for migration in CHAIN if migration not in applied]
    return (
        "this database was made by a pre-release durable-queue and lacks the pre-release "
        f"migrations {', '.join(missing)}; only a database with all of them can be carried "
        f"onto this release's schema. Start the pre-release server (commit "
        f"{LAST_CHAIN_COMMIT}) on it once to finish them, then this one; or point this "
        "server at a new database (docs/upgrading.md)"
    )


async def carry_over_if_made_by_chain(conn: aiopg.Connection) -> bool:
    """On `conn` (autocommit, under the migration lock): carry a database made by the
    whole pre-release chain onto the baseline; True when it did. Raises
    PartialChainError for a database with part of the chain."""
    if not await queries.yoyo_tables_exist(conn):
        return False
    applied = {row["migration_id"] async for row in queries.applied_migration_ids(conn)}
    state = chain_state(applied)
    if state == "none":
        return False
    if state == "partial":
        raise PartialChainError(partial_chain_message(applied))
    carry_over = resource_dir("migrations").joinpath("prerelease", "carry_over.sql").read_text()
    async with conn.cursor() as cur:
        async with cur.begin():
            await cur.execute(carry_over)
            await queries.replace_applied_migrations(
                conn,
                old_ids=list(CHAIN),
                new_hash=get_migration_hash(BASELINE),
                new_id=BASELINE,
            )
    log.warning("database of the pre-release migration chain carried onto the baseline")
    return True
