"""durablectl's flow-control commands against the real server: `queues create/get/update/
pause/resume` with limits, `keys list/set/delete` (keys that need percent-encoding, paging
with --all), `tasks create --priority --concurrency-key` and `tasks set-priority`, in json
and table output, and the server's refusals as exit 1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from asyncclick.testing import CliRunner, Result

from durablectl.cli import cli

MISSING_ID = "01900000-0000-7000-8000-000000000000"


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
def ctl(server_url: str, tmp_path: Path) -> Ctl:
    return Ctl(
        {
            "DURABLE_SERVER": server_url,
            "DURABLECTL_CONFIG": str(tmp_path / "config.json"),
            "DURABLE_TOKEN": None,
        }
    )


async def test_queue_settings_round_trip(ctl: Ctl) -> None:
    created = await ctl.ok(
        "queues",
        "create",
        "--name",
        "q",
        "--max-concurrency",
        "25",
        "--key-concurrency",
        "2",
        "--rate-limit",
        "50/s",
        "--key-rate-limit",
        "600/1m",
        "--paused",
    )
    assert created["max_concurrency"] == 25
    assert created["key_concurrency"] == 2
    assert created["rate_limit"] == {"limit": 50, "period_seconds": 1.0}
    assert created["key_rate_limit"] == {"limit": 600, "period_seconds": 60.0}
    assert created["paused"] is True
    assert await ctl.ok("queues", "get", "q") == created

    updated = await ctl.ok(
        "queues", "update", "q", "--max-concurrency", "none", "--rate-limit", "10/0.5", "--resume"
    )
    assert updated["max_concurrency"] is None  # printed as null: no limit
    assert updated["rate_limit"] == {"limit": 10, "period_seconds": 0.5}
    assert updated["paused"] is False
    assert updated["key_concurrency"] == 2  # not given: kept
    updated = await ctl.ok("queues", "update", "q", "--task-ttl", "60")
    assert updated["cleanup"]["task_ttl_seconds"] == 60
    updated = await ctl.ok("queues", "update", "q", "--task-ttl", "default")
    assert updated["cleanup"]["task_ttl_seconds"] == 259200
    assert (await ctl.ok("queues", "pause", "q"))["paused"] is True
    assert (await ctl.ok("queues", "resume", "q"))["paused"] is False

    table = await ctl("-o", "table", "queues", "get", "q")
    assert table.exit_code == 0
    lines = dict(line.split(None, 1) for line in table.stdout.splitlines() if line.strip())
    assert lines["rate_limit"] == "10/0.5s"
    assert lines["max_concurrency"] == "-"
    assert lines["paused"] == "false"


async def test_queue_errors_exit_1(ctl: Ctl) -> None:
    result = await ctl("queues", "get", "nope")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: 404 ")
    result = await ctl("queues", "update", "nope", "--pause")
    assert result.exit_code == 1
    assert "404" in result.stderr


async def test_tasks_priority_and_key(ctl: Ctl) -> None:
    await ctl.ok("queues", "create", "--name", "q")
    low = await ctl.ok(
        "tasks",
        "create",
        "--queue",
        "q",
        "--name",
        "a",
        "--priority",
        "-5",
        "--concurrency-key",
        "tenant/1",
    )
    high = await ctl.ok("tasks", "spawn", "--queue", "q", "--name", "b", "--priority", "5")
    detail = await ctl.ok("tasks", "get", low["task_id"])
    assert (detail["priority"], detail["concurrency_key"]) == (-5, "tenant/1")
    raised = await ctl.ok("tasks", "set-priority", low["task_id"], "--priority", "9")
    assert raised["priority"] == 9
    claimed = await ctl.ok("tasks", "claim", "--queue", "q", "--limit", "2")
    assert [t["task_id"] for t in claimed["tasks"]] == [low["task_id"], high["task_id"]]
    assert claimed["tasks"][0]["concurrency_key"] == "tenant/1"
    assert claimed["tasks"][1]["priority"] == 5
    result = await ctl("tasks", "set-priority", MISSING_ID, "--priority", "1")
    assert result.exit_code == 1
    assert "404" in result.stderr


async def test_tasks_from_file_carry_priority_and_key(ctl: Ctl, tmp_path: Path) -> None:
    await ctl.ok("queues", "create", "--name", "q")
    path = tmp_path / "tasks.jsonl"
    path.write_text(
        json.dumps({"task_name": "a", "priority": 3, "concurrency_key": "k"})
        + "\n"
        + json.dumps({"task_name": "b"})
        + "\n"
    )
    created = await ctl.ok("tasks", "create", "--queue", "q", "--from-file", str(path))
    details = [await ctl.ok("tasks", "get", t["task_id"]) for t in created["tasks"]]
    assert [(d["priority"], d.get("concurrency_key")) for d in details] == [(3, "k"), (0, None)]


async def test_keys_set_list_delete(ctl: Ctl) -> None:
    await ctl.ok("queues", "create", "--name", "q", "--key-concurrency", "4")
    keys = ["a/b c", "ünï", "100%", "..", "k1", "k2"]
    for key in keys:
        answer = await ctl.ok("keys", "set", "q", key, "--max-concurrency", "2")
        assert answer["key"] == key
        assert answer["override"] == {"max_concurrency": 2, "rate_limit": None}
    answer = await ctl.ok("keys", "set", "q", "k1", "--rate-limit", "5/1m")
    assert answer["override"] == {
        "max_concurrency": None,
        "rate_limit": {"limit": 5, "period_seconds": 60.0},
    }
    assert answer["max_concurrency"] == 4  # the queue's default again
    # a key starting with "-" goes after --
    dashed = await ctl.ok("keys", "set", "q", "--max-concurrency", "1", "--", "-dash")
    assert dashed["key"] == "-dash"
    keys.append("-dash")

    page = await ctl.ok("keys", "list", "q", "--limit", "2")
    assert len(page["keys"]) == 2
    assert page["next_cursor"] == page["keys"][1]["key"]
    everything = await ctl.ok("keys", "list", "q", "--all", "--limit", "2")
    assert sorted(k["key"] for k in everything["keys"]) == sorted(keys)

    table = await ctl("-o", "table", "keys", "list", "q", "--all")
    assert table.exit_code == 0
    assert table.stdout.splitlines()[0].split()[:3] == ["KEY", "IN_FLIGHT", "PENDING"]
    assert "rate_limit=5/60s" in table.stdout

    for key in keys:
        result = await ctl("keys", "delete", "q", "--", key)
        assert (result.exit_code, result.stdout.strip()) == (0, "deleted"), key
    assert (await ctl.ok("keys", "list", "q"))["keys"] == []
    result = await ctl("keys", "delete", "q", "k1")
    assert result.exit_code == 1
    assert "404" in result.stderr
    result = await ctl("keys", "list", "nope")
    assert result.exit_code == 1
