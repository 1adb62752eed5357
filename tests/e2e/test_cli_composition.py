"""durablectl's composition commands against the real server: `tasks wait` (the outcome
printed and the exit code by status: 0 completed, 1 failed or canceled, 3 still pending
at --timeout; woken while it waits; json and table; an unknown task), `tasks create
--parent` and `tasks list --parent`, and a task's parent and children in `tasks get`."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from asyncclick.testing import CliRunner, Result
from durable_queue_client import DurableClient

from durablectl.cli import cli

MISSING = "01900000-0000-7000-8000-000000000000"


class Ctl:
    """Runs durablectl in-process against the test server."""

    def __init__(self, env: dict[str, str | None]) -> None:
        self.env = env

    async def __call__(self, *args: str) -> Result:
        return await CliRunner().invoke(cli, list(args), env=self.env, catch_exceptions=False)

    async def ok(self, *args: str) -> Any:
        """Run, expect exit 0, and return the decoded JSON output."""
        result = await self(*args)
        assert result.exit_code == 0, (args, result.stdout, result.stderr)
        return json.loads(result.stdout)


@pytest.fixture
async def ctl(server_url: str, tmp_path: Path) -> Ctl:
    ctl = Ctl(
        {
            "DURABLE_SERVER": server_url,
            "DURABLECTL_CONFIG": str(tmp_path / "config.json"),
            "DURABLE_TOKEN": None,
        }
    )
    await ctl.ok("queues", "create", "--name", "jobs")
    return ctl


async def create(ctl: Ctl, *extra: str) -> str:
    created = await ctl.ok("tasks", "create", "--queue", "jobs", "--name", "work", *extra)
    return str(created["task_id"])


async def claim(ctl: Ctl) -> dict[str, Any]:
    [task] = (await ctl.ok("tasks", "claim", "--queue", "jobs"))["tasks"]
    return dict(task)


async def test_wait_prints_the_outcome_and_exits_by_status(ctl: Ctl) -> None:
    done = await create(ctl)
    task = await claim(ctl)
    await ctl.ok("runs", "complete", task["run_id"], "--result", '{"rows": 3}')
    answer = await ctl.ok("tasks", "wait", done, "--timeout", "5")
    assert answer["task_id"] == done
    assert (answer["status"], answer["result"]) == ("completed", {"rows": 3})
    assert "completed_at" in answer

    failed = await create(ctl)
    task = await claim(ctl)
    await ctl("runs", "fail", task["run_id"], "--error", "boom")
    result = await ctl("tasks", "wait", failed, "--timeout", "5")
    assert result.exit_code == 1, result.stderr
    answer = json.loads(result.stdout)
    assert (answer["status"], answer["error"]) == ("failed", "boom")

    canceled = await create(ctl)
    await ctl.ok("tasks", "cancel", canceled)
    result = await ctl("tasks", "wait", canceled)
    assert result.exit_code == 1
    assert json.loads(result.stdout)["status"] == "canceled"

    pending = await create(ctl)
    started = time.monotonic()
    result = await ctl("tasks", "wait", pending, "--timeout", "1")
    took = time.monotonic() - started
    assert result.exit_code == 3, result.stderr
    assert json.loads(result.stdout) == {"task_id": pending, "status": "pending"}
    assert 0.9 < took < 5, took
    now = await ctl("tasks", "wait", pending, "--timeout", "0")
    assert now.exit_code == 3

    table = await ctl("-o", "table", "tasks", "wait", done)
    assert table.exit_code == 0, table.stderr
    rows = dict(line.split(None, 1) for line in table.stdout.splitlines())
    assert (rows["task_id"], rows["status"], rows["result"]) == (done, "completed", '{"rows":3}')


async def test_wait_is_woken_when_the_task_ends(ctl: Ctl, server_url: str) -> None:
    task_id = await create(ctl)
    waiting = asyncio.create_task(ctl("tasks", "wait", task_id, "--timeout", "30"))
    await asyncio.sleep(0.5)
    assert not waiting.done()
    # completed by a client of its own (CliRunner captures the process's stdout: one
    # command at a time)
    async with DurableClient(server_url, retries=0) as dq:
        [task] = await dq.claim_tasks("jobs", limit=1, claim_timeout=60)
        completed = time.monotonic()
        await dq.complete_run(task.run_id, 42, claim_token=task.claim_token)
    result = await asyncio.wait_for(waiting, 10)
    assert time.monotonic() - completed < 3
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["result"] == 42


async def test_wait_for_an_unknown_task_and_bad_options(ctl: Ctl) -> None:
    result = await ctl("tasks", "wait", MISSING, "--timeout", "1")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: 404 ")
    for bad in (("--timeout", "-1"), ("--timeout", "soon")):
        refused = await ctl("tasks", "wait", MISSING, *bad)
        assert refused.exit_code == 2
        assert "Traceback" not in refused.stderr


async def test_children_from_the_command_line(ctl: Ctl) -> None:
    parent = await create(ctl, "--priority", "9", "--concurrency-key", "tenant-1")
    kept = await create(ctl, "--parent", parent, "--parent-close", "abandon")
    closed = await create(ctl, "--parent", parent)
    child = await ctl.ok("tasks", "get", closed)
    assert (child["parent_task_id"], child["parent_close"]) == (parent, "cancel")
    assert (child["priority"], child["concurrency_key"]) == (9, "tenant-1")  # inherited
    listed = await ctl.ok("tasks", "list", "--parent", parent)
    assert [t["id"] for t in listed["tasks"]] == [closed, kept]  # newest first

    await ctl.ok("tasks", "cancel", parent)
    result = await ctl("tasks", "wait", closed, "--timeout", "5")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["status"] == "canceled"  # closed with its parent
    still = await ctl("tasks", "wait", kept, "--timeout", "0")
    assert still.exit_code == 3  # abandoned: it goes on
    shown = await ctl.ok("tasks", "get", parent)
    assert shown["children"] == {"pending": 1, "completed": 0, "failed": 0, "canceled": 1}
    assert "parent_task_id" not in shown

    missing = await ctl("tasks", "create", "--queue", "jobs", "--name", "w", "--parent", MISSING)
    assert missing.exit_code == 1
    assert missing.stderr.startswith("error: 404 ")
    usage = await ctl(
        "tasks", "create", "--queue", "jobs", "--name", "w", "--parent-close", "cancel"
    )
    assert usage.exit_code == 2
    assert "--parent-close goes with --parent" in usage.stderr
