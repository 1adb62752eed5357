"""Per-queue counts: exact whatever writes the rows (the store, retention, hand-written
SQL, cascades, TRUNCATE), before and after the maintenance loop folds the deltas."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import aiosql
import pytest

from durable_queue import store as store_module
from durable_queue.commands import NewTask
from durable_queue.db import connection, create_pool, queries
from durable_queue.errors import NotFound
from durable_queue.maintenance import Maintenance
from durable_queue.store import Store

C = aiosql.from_path(Path(__file__).with_name("counters.sql"), "aiopg")
RUN_STATUSES = ("pending", "claimed", "completed", "failed", "sleeping", "canceled")


@pytest.fixture
async def store(database_url):
    pool = await create_pool(database_url, maxsize=10)
    store = Store(pool)
    await store.create_queue("q", None, None)
    await store.create_queue("other", None, None)
    yield store
    pool.close()
    await pool.wait_closed()


@pytest.fixture
def sweeper(store, database_url) -> Maintenance:
    return Maintenance(store.pool, database_url, interval=1.0, max_claim_expiries=3)


async def truth(store: Store, queue: str) -> dict[tuple[str, str], int]:
    async with connection(store.pool) as conn:
        return {
            (row["kind"], row["status"]): row["count"]
            async for row in C.true_counts(conn, queue_name=queue)
        }


async def counted(store: Store, queue: str) -> dict[tuple[str, str], int]:
    """The counts GET /queues/{q}/stats reports, keyed like `truth`, zeros left out."""
    stats = await store.queue_stats(queue)
    runs = {("run", s): getattr(stats, f"{s}_runs") for s in RUN_STATUSES}
    tasks = {("task", s): n for s, n in stats.tasks_by_status.items()}
    return {key: n for key, n in {**runs, **tasks}.items() if n}


async def assert_exact(store: Store, *queues: str) -> None:
    for queue in queues:
        assert await counted(store, queue) == await truth(store, queue), queue


async def unfolded(store: Store) -> int:
    async with connection(store.pool) as conn:
        return await C.unfolded_deltas(conn)


async def test_counts_follow_the_store_and_the_fold(store, sweeper):
    await store.create_tasks("q", [NewTask("a") for _ in range(10)])
    await store.create_task("q", NewTask("b", max_attempts=2))
    await store.create_task("q", NewTask("c"))
    await assert_exact(store, "q")
    claimed = await store.claim("q", 12, 600)
    by_name = {c.task_name: c for c in claimed}
    await store.complete_runs([(c.run_id, 1) for c in claimed[:3]])
    await store.complete_run(claimed[3].run_id)
    await store.fail_run(by_name["b"].run_id, "boom")  # retried: a second pending run
    await store.schedule_run(claimed[4].run_id, claimed[4].claim_expires_at)
    await store.cancel_task(by_name["c"].task_id)
    await assert_exact(store, "q", "other")
    assert await unfolded(store) > 0
    await sweeper.sweep_once()
    assert await unfolded(store) == 0
    await assert_exact(store, "q", "other")
    stats = await store.queue_stats("q")
    assert (stats.claimed_runs, stats.completed_runs, stats.failed_runs) == (5, 4, 1)
    assert (stats.pending_runs, stats.canceled_runs, stats.scheduled_runs) == (
        2,
        1,
        2,
    )  # both not yet due
    assert stats.tasks_by_status == {"pending": 7, "completed": 4, "canceled": 1}


async def test_counts_follow_hand_written_sql_and_retention(store, sweeper):
    await store.create_tasks("q", [NewTask("a") for _ in range(6)] + [NewTask("b")] * 4)
    await store.create_tasks("other", [NewTask("c") for _ in range(3)])
    for c in await store.claim("q", 4, 600):
        await store.complete_run(c.run_id)
    await sweeper.sweep_once()  # some counts folded, later changes not
    async with connection(store.pool) as conn:
        await C.move_by_hand(conn, task_name="b", queue_name="other")  # tasks only
        await C.delete_by_hand(conn, task_name="c")  # runs by cascade
    await assert_exact(store, "q", "other")
    async with connection(store.pool) as conn:
        await C.fail_pending_by_hand(conn, queue_name="q")
        await C.age_finished_by_hand(conn, queue_name="q", seconds=3600)
        await C.set_task_ttl(conn, queue_name="q", seconds=60)
    await assert_exact(store, "q", "other")
    report = await sweeper.sweep_once()
    assert report.deleted_tasks > 0
    await assert_exact(store, "q", "other")
    assert (await store.queue_stats("q")).tasks_by_status.get("failed", 0) == 0


async def test_truncate_resets_the_counts(store, sweeper):
    await store.create_tasks("q", [NewTask("a") for _ in range(5)])
    await sweeper.sweep_once()
    await store.create_tasks("q", [NewTask("a") for _ in range(2)])
    async with connection(store.pool) as conn:
        await C.truncate_tasks(conn)
    await assert_exact(store, "q")
    await store.create_task("q", NewTask("a"))
    await sweeper.sweep_once()
    await assert_exact(store, "q")
    assert (await store.queue_stats("q")).tasks_by_status == {"pending": 1}


async def test_counts_stay_exact_under_concurrent_writers_and_folds(store, sweeper):
    async def worker(n: int) -> None:
        await store.create_tasks("q", [NewTask("w") for _ in range(20)])
        for _ in range(3):
            for c in await store.claim("q", 5, 600):
                if c.run_id.int % 3:
                    await store.complete_run(c.run_id)
                else:
                    await store.fail_run(c.run_id, "no")

    async def folder() -> None:
        for _ in range(5):
            await sweeper.sweep_once()

    await asyncio.gather(*(worker(n) for n in range(6)), folder())
    await assert_exact(store, "q")
    await sweeper.sweep_once()
    await assert_exact(store, "q")


async def test_force_delete_goes_in_batches_and_frees_the_name(store, monkeypatch):
    monkeypatch.setattr(store_module, "QUEUE_DELETE_BATCH", 4)
    await store.create_tasks("q", [NewTask("a") for _ in range(10)])
    claimed = await store.claim("q", 3, 600)
    queue_id = (await store.get_queue("q")).id
    await store.delete_queue("q", force=True)
    with pytest.raises(NotFound):
        await store.queue_stats("q")
    with pytest.raises(NotFound):
        await store.complete_run(claimed[0].run_id)
    async with connection(store.pool) as conn:
        left = await C.count_rows_of_queue(conn, queue_id=queue_id)
    assert dict(left) == {"tasks": 0, "runs": 0, "counts": 0, "queue": False}
    await store.create_queue("q", None, None)  # the name is free again, counted afresh
    await store.create_task("q", NewTask("a"))
    await assert_exact(store, "q")


async def test_maintenance_finishes_a_deletion_that_stopped_half_way(store, sweeper):
    await store.create_tasks("q", [NewTask("a") for _ in range(5)])
    queue_id = (await store.get_queue("q")).id
    async with connection(store.pool) as conn:
        await queries.detach_queue(conn, queue_id=queue_id)  # then the server went away
    assert [q.name for q in await store.list_queues()] == ["other"]
    with pytest.raises(NotFound):
        await store.create_task("q", NewTask("late"))
    report = await sweeper.sweep_once()
    assert report.deleted_queues == 1
    async with connection(store.pool) as conn:
        left = await C.count_rows_of_queue(conn, queue_id=queue_id)
    assert dict(left) == {"tasks": 0, "runs": 0, "counts": 0, "queue": False}
    await sweeper.sweep_once()  # the deleted queue's deltas are dropped, not folded
    assert await unfolded(store) == 0


async def test_a_queue_name_never_taken_has_no_counts(store):
    with pytest.raises(NotFound):
        await store.queue_stats(f"nope-{uuid.uuid4().hex[:6]}")
