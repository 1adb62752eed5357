"""A sweep's batches go on while rows are due: a row it must skip (its task or run locked
by a worker at that moment) leaves the rest of the backlog to the next batch of the same
pass, not to the next pass."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg2.extensions
import pytest

from durable_queue.commands import NewTask
from durable_queue.maintenance import Maintenance
from durable_queue.store import Store
from tests.helpers import connect_autocommit, run_sql

TASKS = 10
BATCH = 5


@pytest.fixture
def sweeper(store: Store, database_url: str) -> Maintenance:
    return Maintenance(
        store.pool, database_url, interval=1.0, max_claim_expiries=3, batch_size=BATCH
    )


@pytest.fixture
def worker(database_url: str) -> Iterator[psycopg2.extensions.connection]:
    """A second session, as a worker's: it holds row locks in an open transaction."""
    conn = psycopg2.connect(database_url)
    yield conn
    conn.rollback()
    conn.close()


async def claimed_runs(store: Store) -> list:
    for _ in range(TASKS):
        await store.create_task("q", NewTask(task_name="t"))
    return await store.claim("q", TASKS, 600)


async def test_a_locked_task_does_not_end_the_claim_expiry_pass(
    store, sweeper, worker, database_url
):
    await claimed_runs(store)
    db = connect_autocommit(database_url)
    run_sql(db, "UPDATE runs SET claim_expires_at = now() - interval '1 hour'")
    [(oldest_task,)] = run_sql(db, "SELECT task_id FROM runs ORDER BY claim_expires_at, id LIMIT 1")
    run_sql(worker, "SELECT 1 FROM tasks WHERE id = %s FOR UPDATE", oldest_task)

    report = await sweeper.sweep_once()
    assert report.expired_claims == TASKS - 1  # every batch of the pass, past the locked one

    worker.rollback()
    assert (await sweeper.sweep_once()).expired_claims == 1
    db.close()


async def test_a_locked_run_does_not_end_the_wait_timeout_pass(
    store, sweeper, worker, database_url
):
    for run in await claimed_runs(store):
        await store.wait_for_event(
            run.run_id, task_id=run.task_id, event_name="e", step_name="s", timeout_seconds=600
        )
    db = connect_autocommit(database_url)
    run_sql(db, "UPDATE event_waits SET timeout_at = now() - interval '1 hour'")
    [(oldest_run,)] = run_sql(db, "SELECT run_id FROM event_waits ORDER BY timeout_at, id LIMIT 1")
    run_sql(worker, "SELECT 1 FROM runs WHERE id = %s FOR UPDATE", oldest_run)

    report = await sweeper.sweep_once()
    assert report.timed_out_waits == TASKS - 1

    worker.rollback()
    assert (await sweeper.sweep_once()).timed_out_waits == 1
    db.close()
