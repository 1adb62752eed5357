"""`durablectl worker` processes against the live server: a worker killed (SIGKILL)
between steps is taken over by another that finishes the task without repeating the
finished steps; SIGTERM stops gracefully, releasing the in-flight run without spending an
attempt. Step side effects are counted in a file."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from durable_queue_client import DurableClient

from tests.helpers import eventually
from tests.worker_fixtures import REPO, STEPS_QUEUE, durablectl_worker, finished


@pytest.fixture
async def dq(server_url: str) -> AsyncIterator[DurableClient]:
    async with DurableClient(server_url, retries=0) as client:
        yield client


def subprocess_env() -> dict[str, str]:
    """The working tree's client and durablectl first, whatever copy is installed."""
    paths = [str(REPO / "clients" / "python"), str(REPO)]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


async def start_worker(url: str, target: str, log: Path, *extra: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *durablectl_worker(url, target, *extra),
        cwd=REPO,
        env=subprocess_env(),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=log.open("wb"),
    )


async def checkpointed(dq: DurableClient, task_id: str, step: str) -> bool:
    return step in {entry.step_name for entry in await dq.list_checkpoints(task_id)}


async def test_killed_worker_is_taken_over_without_repeating_finished_steps(
    dq: DurableClient, server_url: str, tmp_path: Path
) -> None:
    effects = tmp_path / "effects.txt"
    await dq.create_queue(STEPS_QUEUE)
    created = await dq.create_task(
        STEPS_QUEUE, "three_steps", params={"log": str(effects), "stall": True}
    )
    target = "tests.worker_fixtures:steps_worker"
    first = await start_worker(server_url, target, tmp_path / "first.log")
    try:
        await eventually(lambda: checkpointed(dq, created.task_id, "one"), what="step one")
    finally:
        first.kill()  # SIGKILL: no release, no goodbye; its claim (2 s) must expire
        await first.wait()
    assert first.returncode == -signal.SIGKILL
    assert effects.read_text().splitlines() == ["one"]

    second = await start_worker(server_url, target, tmp_path / "second.log")
    try:
        detail = await finished(dq, created.task_id)
    finally:
        second.send_signal(signal.SIGTERM)
        await second.wait()
    assert second.returncode == 0, (tmp_path / "second.log").read_text()
    assert detail.status == "completed"
    assert detail.result["steps"] == ["one", "two", "three"]
    assert detail.result["pid"] == second.pid
    assert effects.read_text().splitlines() == ["one", "two", "three"]  # each exactly once
    runs = sorted(detail.runs, key=lambda run: run.attempt)
    assert [(run.attempt, run.status, run.error) for run in runs] == [
        (1, "failed", "claim expired"),
        (2, "completed", None),
    ]


async def test_sigterm_releases_the_in_flight_run_without_spending_an_attempt(
    dq: DurableClient, server_url: str, tmp_path: Path
) -> None:
    effects = tmp_path / "effects.txt"
    await dq.create_queue(STEPS_QUEUE)
    created = await dq.create_task(
        STEPS_QUEUE, "three_steps", params={"log": str(effects), "stall": True}, max_attempts=1
    )
    log = tmp_path / "worker.log"
    proc = await start_worker(
        server_url, "tests.worker_fixtures:steps_worker", log, "--grace-period", "0"
    )
    try:
        await eventually(lambda: checkpointed(dq, created.task_id, "one"), what="step one")
    finally:
        proc.send_signal(signal.SIGTERM)
        await proc.wait()
    text = log.read_text()
    assert proc.returncode == 0, text
    assert "released to the queue" in text and f"run_id={created.run_id}" in text
    [run] = (await dq.list_runs(task_id=created.task_id)).runs
    assert (run.id, run.attempt, run.status) == (created.run_id, 1, "pending")
    assert (await dq.get_task(created.task_id)).status == "pending"


async def test_worker_command_refuses_a_target_that_is_not_a_worker(
    server_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    proc = await start_worker(server_url, "tests.worker_fixtures:STEPS_QUEUE", log)
    assert await proc.wait() == 2
    assert "not a Worker or a function returning one" in log.read_text()
