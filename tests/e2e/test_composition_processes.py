"""Composition with real processes (issue 25): a worker SIGKILLed while its parent task
was spawning children (50 of 100 spawned) is taken over by another worker, which makes
the other 50, joins all 100 and completes the parent. Exactly 100 children exist, as the
database recorded them: the spawns the killed attempt made are not made again."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from durable_queue_client import DurableClient

from tests.e2e.test_worker_process import start_worker
from tests.helpers import eventually, query_all
from tests.worker_fixtures import FANOUT_QUEUE, finished

TARGET = "tests.worker_fixtures:fanout_worker"


@pytest.fixture
async def dq(server_url: str) -> AsyncIterator[DurableClient]:
    async with DurableClient(server_url, retries=0) as client:
        yield client


def children_of(database_url: str, task_id: str) -> list[tuple]:
    return query_all(
        database_url,
        "SELECT id, params->>'n', status, idempotency_key FROM tasks WHERE parent_task_id = %s",
        (task_id,),
    )


async def test_a_parent_killed_mid_spawn_has_exactly_its_children_after_retry(
    dq: DurableClient, server_url: str, database_url: str, tmp_path: Path
) -> None:
    await dq.create_queue(FANOUT_QUEUE)
    parent = await dq.create_task(
        FANOUT_QUEUE, "parent", params={"children": 100, "stall_after": 50}, max_attempts=3
    )
    first = await start_worker(server_url, TARGET, tmp_path / "first.log")
    try:
        await eventually(
            lambda: len(children_of(database_url, parent.task_id)) == 50,
            what="50 children spawned",
            deadline_seconds=60,
        )
    finally:
        first.kill()  # SIGKILL while the parent's run is claimed, mid fan-out
        await first.wait()
    assert first.returncode == -signal.SIGKILL
    second = await start_worker(server_url, TARGET, tmp_path / "second.log")
    try:
        detail = await finished(dq, parent.task_id)
    finally:
        second.send_signal(signal.SIGTERM)
        await second.wait()
    assert detail.status == "completed", (tmp_path / "second.log").read_text()
    assert detail.result == [n * 2 for n in range(100)]
    children = children_of(database_url, parent.task_id)
    assert len(children) == 100  # not 150
    assert sorted(int(n) for _, n, _, _ in children) == list(range(100))
    assert {status for _, _, status, _ in children} == {"completed"}
    assert len({key for _, _, _, key in children}) == 100
    assert detail.children.completed == 100
