"""durablectl against the real server, through asyncclick's CliRunner: output, exit codes,
errors, the config file and client-side validation of JSON and time options."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import asyncclick as click
import pytest
from asyncclick.testing import CliRunner, Result

from durablectl.cli import cli
from tests.helpers import has_route

MISSING_ID = "01900000-0000-7000-8000-000000000000"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Ctl:
    """Runs durablectl in-process with an environment of its own."""

    def __init__(self, env: dict[str, str | None]) -> None:
        self.env = env

    async def __call__(self, *args: str, env: dict[str, str | None] | None = None) -> Result:
        runner = CliRunner()
        return await runner.invoke(
            cli, list(args), env={**self.env, **(env or {})}, catch_exceptions=False
        )

    async def ok(self, *args: str) -> Any:
        """Run, expect exit 0, and return the decoded JSON output."""
        result = await self(*args)
        assert result.exit_code == 0, (result.stdout, result.stderr)
        return json.loads(result.stdout)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    return tmp_path / "durablectl" / "config.json"


@pytest.fixture
def ctl(server_url: str, config_file: Path) -> Ctl:
    return Ctl(
        {
            "DURABLE_SERVER": server_url,
            "DURABLECTL_CONFIG": str(config_file),
            "DURABLE_TOKEN": None,
        }
    )


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def all_commands(
    group: click.Group, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], click.Command]]:
    found: list[tuple[tuple[str, ...], click.Command]] = []
    for name, command in group.commands.items():
        found.append(((*path, name), command))
        if isinstance(command, click.Group):
            found.extend(all_commands(command, (*path, name)))
    return found


# -- help -------------------------------------------------------------------------------


async def test_every_command_has_help_with_an_example(ctl: Ctl) -> None:
    commands = all_commands(cli)
    names = {" ".join(path) for path, _ in commands}
    assert {
        "config set-server",
        "config get-server",
        "queues create",
        "queues list",
        "queues delete",
        "queues stats",
        "queues get",
        "queues update",
        "queues pause",
        "queues resume",
        "keys list",
        "keys set",
        "keys delete",
        "tasks create",
        "tasks spawn",
        "tasks claim",
        "tasks list",
        "tasks get",
        "tasks cancel",
        "tasks set-priority",
        "runs list",
        "runs complete",
        "runs fail",
        "runs schedule",
        "runs heartbeat",
        "events emit",
        "checkpoints get",
        "checkpoints set",
        "checkpoints list",
        "workflows create",
        "workflows update",
        "workflows get",
        "workflows list",
    } <= names
    for path, _ in [((), cli), *commands]:
        result = await ctl(*path, "--help")
        assert result.exit_code == 0, path
        assert "Example:\n    durablectl " in result.stdout, path
        assert result.stdout.startswith("Usage: durablectl "), path


# -- config -----------------------------------------------------------------------------


async def test_config_set_and_get_server(ctl: Ctl, config_file: Path, server_url: str) -> None:
    no_env: dict[str, str | None] = {"DURABLE_SERVER": None}
    result = await ctl("config", "get-server", env=no_env)
    assert result.stdout == "http://localhost:8080 (default)\n"
    result = await ctl("config", "set-server", server_url, env=no_env)
    assert (result.exit_code, result.stdout) == (0, f"Server set to {server_url}\n")
    assert read_json(config_file) == {"server": server_url}
    assert (await ctl("config", "get-server", env=no_env)).stdout == f"{server_url}\n"

    # The configured server is used when neither --server nor DURABLE_SERVER is given.
    result = await ctl("queues", "list", env=no_env)
    assert (result.exit_code, json.loads(result.stdout)) == (0, {"queues": []})
    # DURABLE_SERVER, then --server, take precedence over the file.
    elsewhere = f"http://127.0.0.1:{closed_port()}"
    assert (await ctl("config", "get-server", env={"DURABLE_SERVER": elsewhere})).stdout == (
        f"{elsewhere}\n"
    )
    result = await ctl("--server", elsewhere, "queues", "list", env=no_env)
    assert result.exit_code == 2


# -- queues -----------------------------------------------------------------------------


async def test_queues_create_list_delete(ctl: Ctl) -> None:
    result = await ctl("queues", "create", "--name", "demo")
    assert result.exit_code == 0
    assert result.stdout.startswith('{\n  "name": "demo",\n  "created_at": ')
    created = json.loads(result.stdout)
    assert created["name"] == "demo"
    created = await ctl.ok("queues", "create", "--name", "ttl", "--task-ttl", "60")
    assert created["cleanup"]["task_ttl_seconds"] == 60

    listed = await ctl.ok("queues", "list")
    assert sorted(q["name"] for q in listed["queues"]) == ["demo", "ttl"]

    result = await ctl("queues", "delete", "demo")
    assert (result.exit_code, result.stdout) == (0, "deleted\n")
    assert [q["name"] for q in (await ctl.ok("queues", "list"))["queues"]] == ["ttl"]


async def test_queues_delete_force(ctl: Ctl) -> None:
    await ctl.ok("queues", "create", "--name", "busy")
    await ctl.ok("tasks", "create", "--queue", "busy", "--name", "job")
    result = await ctl("queues", "delete", "busy")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: 409 CONFLICT: ")
    result = await ctl("queues", "delete", "busy", "--force")
    assert (result.exit_code, result.stdout) == (0, "deleted\n")


async def test_queues_errors(ctl: Ctl) -> None:
    await ctl.ok("queues", "create", "--name", "demo")
    result = await ctl("queues", "create", "--name", "demo")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: 409 CONFLICT: ")
    assert result.stderr.count("\n") == 1

    result = await ctl("queues", "stats", "nope")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: 404 NOT_FOUND: ")
    assert result.stderr.count("\n") == 1

    result = await ctl("queues", "create")  # --name is required: a usage error
    assert result.exit_code == 2
    assert "--name" in result.stderr


async def test_queues_stats_json_and_table(ctl: Ctl) -> None:
    await ctl.ok("queues", "create", "--name", "demo")
    await ctl.ok("tasks", "create", "--queue", "demo", "--name", "a")
    stats = await ctl.ok("queues", "stats", "demo")
    assert stats["queue_name"] == "demo"
    assert (stats["pending_runs"], stats["claimed_runs"], stats["completed_runs"]) == (1, 0, 0)
    assert "oldest_pending_run_age_seconds" in stats

    result = await ctl("--output", "table", "queues", "stats", "demo")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["queue_name", "demo"]
    assert ["pending_runs", "1"] in [line.split() for line in lines]


async def test_queues_stats_watch(ctl: Ctl) -> None:
    await ctl.ok("queues", "create", "--name", "demo")
    result = await ctl("queues", "stats", "demo", "--watch", "--interval", "0", "--count", "3")
    assert result.exit_code == 0
    decoder = json.JSONDecoder()
    docs, text = [], result.stdout.strip()
    while text:
        doc, end = decoder.raw_decode(text)
        docs.append(doc)
        text = text[end:].strip()
    assert [d["queue_name"] for d in docs] == ["demo"] * 3

    result = await ctl(
        "-o", "table", "queues", "stats", "demo", "-w", "--interval", "0", "--count", "2"
    )
    assert result.stdout.count("-- ") == 2
    assert result.stdout.count("queue_name") == 2


async def test_queues_list_table(ctl: Ctl) -> None:
    result = await ctl("-o", "table", "queues", "list")
    assert (result.exit_code, result.stdout) == (0, "(none)\n")
    await ctl.ok("queues", "create", "--name", "demo")
    result = await ctl("-o", "table", "queues", "list")
    header, row = result.stdout.splitlines()
    assert header.split() == [
        "NAME",
        "CREATED_AT",
        "CLEANUP",
        "MAX_CONCURRENCY",
        "KEY_CONCURRENCY",
        "RATE_LIMIT",
        "KEY_RATE_LIMIT",
        "PAUSED",
    ]
    assert row.split()[0] == "demo"
    assert row.split()[-5:] == ["-", "-", "-", "-", "false"]


# -- tasks ------------------------------------------------------------------------------


async def test_tasks_create_and_claim(ctl: Ctl) -> None:
    await ctl.ok("queues", "create", "--name", "demo")
    created = await ctl.ok(
        "tasks",
        "create",
        "--queue",
        "demo",
        "--name",
        "send",
        "--params",
        '{"to": "a@b.c", "n": [1, 2]}',
        "--max-attempts",
        "3",
        "--retry-delay",
        "2.5",
        "--retry-strategy",
        "exponential",
    )
    assert set(created) == {"task_id", "run_id"}
    claimed = await ctl.ok("tasks", "claim", "--queue", "demo", "--limit", "5", "--timeout", "60")
    [task] = claimed["tasks"]
    assert (task["task_id"], task["run_id"]) == (created["task_id"], created["run_id"])
    assert task["params"] == {"to": "a@b.c", "n": [1, 2]}
    assert task["max_attempts"] == 3
    assert task["retry_strategy"] == {"kind": "exponential", "base_seconds": 2.5}
    assert (await ctl.ok("tasks", "claim", "--queue", "demo")) == {"tasks": []}


async def test_tasks_create_defaults_follow_the_original(ctl: Ctl) -> None:
    await ctl.ok("queues", "create", "--name", "demo")
    await ctl.ok("tasks", "create", "--queue", "demo", "--name", "plain")
    await ctl.ok("tasks", "create", "--queue", "demo", "--name", "retry", "--max-attempts", "2")
    claimed = (await ctl.ok("tasks", "claim", "--queue", "demo", "--limit", "2"))["tasks"]
    by_name = {t["task_name"]: t for t in claimed}
    assert "retry_strategy" not in by_name["plain"]
    assert "params" not in by_name["plain"]
    assert by_name["plain"]["max_attempts"] == 1
    assert by_name["retry"]["retry_strategy"] == {"kind": "fixed", "base_seconds": 1.0}


async def test_tasks_spawn_alias_and_long_poll_claim(ctl: Ctl) -> None:
    await ctl.ok("queues", "create", "--name", "demo")
    created = await ctl.ok("tasks", "spawn", "--queue", "demo", "--name", "old-style")
    claimed = await ctl.ok("tasks", "claim", "--queue", "demo", "--poll", "1")
    assert [t["task_id"] for t in claimed["tasks"]] == [created["task_id"]]


async def test_tasks_create_options(ctl: Ctl) -> None:
    await ctl.ok("queues", "create", "--name", "demo")
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    await ctl.ok("tasks", "create", "--queue", "demo", "--name", "later", "--run-at", later)
    assert (await ctl.ok("queues", "stats", "demo"))["scheduled_runs"] == 1
    first = await ctl.ok(
        "tasks", "create", "--queue", "demo", "--name", "once", "--idempotency-key", "k"
    )
    again = await ctl.ok(
        "tasks", "create", "--queue", "demo", "--name", "once", "--idempotency-key", "k"
    )
    assert first == again
    workflow = await ctl.ok("workflows", "create", "--name", "etl")
    joined = await ctl.ok(
        "tasks",
        "create",
        "--queue",
        "demo",
        "--name",
        "step",
        "--workflow-run-id",
        workflow["workflow_run_id"],
    )
    assert joined["workflow_run_id"] == workflow["workflow_run_id"]


async def test_tasks_create_bad_json_is_refused_before_any_request(ctl: Ctl) -> None:
    await ctl.ok("queues", "create", "--name", "demo")
    result = await ctl("tasks", "create", "--queue", "demo", "--name", "x", "--params", "{nope")
    assert result.exit_code == 2
    assert "--params" in result.stderr
    assert "not valid JSON" in result.stderr
    assert (await ctl.ok("tasks", "list")) == {"tasks": []}


async def test_tasks_create_errors(ctl: Ctl) -> None:
    result = await ctl("tasks", "create", "--queue", "missing", "--name", "x")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: 404 NOT_FOUND: ")
    result = await ctl("tasks", "create", "--queue", "q", "--name", "x", "--run-at", "2030-01-01")
    assert result.exit_code == 2
    assert "time zone" in result.stderr
    result = await ctl("tasks", "claim", "--queue", "missing")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: 404 NOT_FOUND: ")


async def test_tasks_list_pages(ctl: Ctl) -> None:
    await ctl.ok("queues", "create", "--name", "demo")
    await ctl.ok("queues", "create", "--name", "other")
    ids = [
        (await ctl.ok("tasks", "create", "--queue", "demo", "--name", f"t{i}"))["task_id"]
        for i in range(3)
    ]
    await ctl.ok("tasks", "create", "--queue", "other", "--name", "t0")

    listed = await ctl.ok("tasks", "list", "--queue", "demo")
    assert [t["id"] for t in listed["tasks"]] == ids[::-1]
    assert "next_cursor" not in listed
    assert listed["tasks"][0]["status"] == "pending"
    assert "completed_at" not in listed["tasks"][0]

    first = await ctl.ok("tasks", "list", "--queue", "demo", "--limit", "2")
    assert [t["id"] for t in first["tasks"]] == [ids[2], ids[1]]
    rest = await ctl.ok(
        "tasks", "list", "--queue", "demo", "--limit", "2", "--cursor", first["next_cursor"]
    )
    assert [t["id"] for t in rest["tasks"]] == [ids[0]]

    every = await ctl.ok("tasks", "list", "--queue", "demo", "--limit", "1", "--all")
    assert [t["id"] for t in every["tasks"]] == ids[::-1]
    assert "next_cursor" not in every

    named = await ctl.ok("tasks", "list", "--name", "t0", "--status", "pending")
    assert sorted(t["queue_name"] for t in named["tasks"]) == ["demo", "other"]

    result = await ctl("-o", "table", "tasks", "list", "--queue", "demo", "--limit", "2")
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["ID", "TASK_NAME", "STATUS"]
    assert [line.split()[0] for line in lines[1:3]] == [ids[2], ids[1]]
    assert lines[-1] == f"next cursor: {first['next_cursor']}"


async def test_tasks_list_errors(ctl: Ctl) -> None:
    result = await ctl("tasks", "list", "--status", "bogus")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: 400 VALIDATION_ERROR: ")
    result = await ctl("tasks", "list", "--cursor", "nope")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: 400 VALIDATION_ERROR: ")


def assert_one_line_error(result: Result, head: str) -> None:
    """Exit 1, nothing on stdout, one `error: <status> <CODE>: message` line on stderr."""
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {head}: "), result.stderr
    assert result.stderr.count("\n") == 1


def key_value_lines(text: str) -> dict[str, str]:
    """The `key  value` lines of a table-rendered record (up to its first blank line)."""
    head = text.split("\n\n", 1)[0]
    return dict(line.split(maxsplit=1) for line in head.splitlines())  # type: ignore[misc]


async def test_tasks_get(ctl: Ctl) -> None:
    await ctl.ok("queues", "create", "--name", "demo")
    created = await ctl.ok(
        "tasks",
        "create",
        "--queue",
        "demo",
        "--name",
        "send",
        "--params",
        '{"to": "a@b.c"}',
        "--max-attempts",
        "2",
        "--retry-delay",
        "0",
    )
    task_id = created["task_id"]
    [first] = (await ctl.ok("tasks", "claim", "--queue", "demo"))["tasks"]
    await ctl.ok("runs", "fail", first["run_id"], "--error", "boom")
    [second] = (await ctl.ok("tasks", "claim", "--queue", "demo"))["tasks"]
    await ctl.ok(
        "checkpoints", "set", task_id, "fetch", "--state", "1", "--owner-run", second["run_id"]
    )

    detail = await ctl.ok("tasks", "get", task_id)
    assert (detail["id"], detail["task_name"], detail["status"], detail["queue_name"]) == (
        task_id,
        "send",
        "pending",
        "demo",
    )
    assert (detail["params"], detail["max_attempts"]) == ({"to": "a@b.c"}, 2)
    assert detail["retry_strategy"] == {"kind": "fixed", "base_seconds": 0.0}
    assert [(r["id"], r["attempt"], r["status"]) for r in detail["runs"]] == [
        (first["run_id"], 1, "failed"),
        (second["run_id"], 2, "claimed"),
    ]
    assert detail["runs"][0]["error"] == "boom"
    assert detail["checkpoints"] == ["fetch"]

    result = await ctl("-o", "table", "tasks", "get", task_id)
    assert result.exit_code == 0
    fields = key_value_lines(result.stdout)
    assert (fields["id"], fields["status"], fields["params"]) == (
        task_id,
        "pending",
        '{"to":"a@b.c"}',
    )
    assert fields["checkpoints"] == '["fetch"]'
    runs_table = result.stdout.split("\n\nruns:\n", 1)[1].splitlines()
    assert runs_table[0].split()[:5] == ["ID", "TASK_ID", "ATTEMPT", "STATUS", "ERROR"]
    assert [line.split()[:5] for line in runs_table[1:]] == [
        [first["run_id"], task_id, "1", "failed", "boom"],
        [second["run_id"], task_id, "2", "claimed", "-"],
    ]

    assert_one_line_error(await ctl("tasks", "get", MISSING_ID), "404 NOT_FOUND")
    assert_one_line_error(await ctl("tasks", "get", "not-a-uuid"), "400 VALIDATION_ERROR")
    assert (await ctl("tasks", "get")).exit_code == 2  # TASK_ID is required


async def test_tasks_cancel_and_cancel_twice(ctl: Ctl) -> None:
    await ctl.ok("queues", "create", "--name", "demo")
    task = await claim_one(ctl)
    canceled = await ctl.ok("tasks", "cancel", task["task_id"])
    assert canceled == {"task_id": task["task_id"], "status": "canceled"}
    detail = await ctl.ok("tasks", "get", task["task_id"])
    assert (detail["status"], detail["error"]) == ("canceled", "canceled")
    assert [r["status"] for r in detail["runs"]] == ["canceled"]

    again = await ctl("tasks", "cancel", task["task_id"])  # already finished: 409
    assert_one_line_error(again, "409 CONFLICT")
    assert task["task_id"] in again.stderr
    # the fenced-off holder of the claim gets 409 too
    assert_one_line_error(await ctl("runs", "complete", task["run_id"]), "409 CONFLICT")

    result = await ctl("-o", "table", "tasks", "cancel", task["task_id"])
    assert_one_line_error(result, "409 CONFLICT")  # errors look the same in table mode
    assert_one_line_error(await ctl("tasks", "cancel", MISSING_ID), "404 NOT_FOUND")

    other = await ctl.ok("tasks", "create", "--queue", "demo", "--name", "other")
    result = await ctl("-o", "table", "tasks", "cancel", other["task_id"])
    assert result.exit_code == 0
    assert key_value_lines(result.stdout) == {"task_id": other["task_id"], "status": "canceled"}


# -- runs -------------------------------------------------------------------------------


async def claim_one(ctl: Ctl, queue: str = "demo", *create: str) -> dict[str, Any]:
    await ctl.ok("tasks", "create", "--queue", queue, "--name", "job", *create)
    [task] = (await ctl.ok("tasks", "claim", "--queue", queue))["tasks"]
    return task  # type: ignore[no-any-return]


async def test_runs_complete_and_list(ctl: Ctl) -> None:
    await ctl.ok("queues", "create", "--name", "demo")
    task = await claim_one(ctl)
    done = await ctl.ok("runs", "complete", task["run_id"], "--result", '{"ok": true}')
    assert done == {"run_id": task["run_id"], "status": "completed"}
    runs = await ctl.ok("runs", "list", "--task", task["task_id"])
    assert [(r["id"], r["status"]) for r in runs["runs"]] == [(task["run_id"], "completed")]
    assert (await ctl.ok("tasks", "list", "--status", "completed"))["tasks"][0]["id"] == (
        task["task_id"]
    )

    result = await ctl("runs", "complete", task["run_id"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: 409 CONFLICT: ")


async def test_runs_complete_without_result_and_bad_result(ctl: Ctl) -> None:
    await ctl.ok("queues", "create", "--name", "demo")
    task = await claim_one(ctl)
    result = await ctl("runs", "complete", task["run_id"], "--result", "[1,")
    assert result.exit_code == 2
    assert "--result" in result.stderr
    assert (await ctl.ok("runs", "complete", task["run_id"]))["status"] == "completed"


async def test_runs_fail_and_list_pages(ctl: Ctl) -> None:
    await ctl.ok("queues", "create", "--name", "demo")
    task = await claim_one(ctl, "demo", "--max-attempts", "2", "--retry-delay", "0")
    failed = await ctl.ok("runs", "fail", task["run_id"], "--error", "boom")
    assert (failed["status"], failed["attempt"]) == ("failed", 1)
    assert "next_run_id" in failed

    listed = await ctl.ok("runs", "list", "--task", task["task_id"], "--limit", "1")
    assert [r["id"] for r in listed["runs"]] == [failed["next_run_id"]]
    older = await ctl.ok(
        "runs", "list", "--task", task["task_id"], "--cursor", listed["next_cursor"]
    )
    assert [(r["id"], r["error"]) for r in older["runs"]] == [(task["run_id"], "boom")]
    every = await ctl.ok("runs", "list", "--limit", "1", "--all")
    assert [r["id"] for r in every["runs"]] == [failed["next_run_id"], task["run_id"]]
    only_failed = await ctl.ok("runs", "list", "--status", "failed")
    assert [r["id"] for r in only_failed["runs"]] == [task["run_id"]]

    result = await ctl("-o", "table", "runs", "list", "--task", task["task_id"])
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["ID", "TASK_ID", "ATTEMPT", "STATUS"]
    assert lines[2].split()[:5] == [task["run_id"], task["task_id"], "1", "failed", "boom"]

    result = await ctl("runs", "fail", failed["next_run_id"])  # --error is required
    assert result.exit_code == 2
    result = await ctl("runs", "fail", MISSING_ID, "--error", "x")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: 404 NOT_FOUND: ")
    result = await ctl("runs", "fail", "not-a-uuid", "--error", "x")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: 400 VALIDATION_ERROR: ")


async def test_runs_schedule(ctl: Ctl) -> None:
    await ctl.ok("queues", "create", "--name", "demo")
    created = await ctl.ok("tasks", "create", "--queue", "demo", "--name", "job")
    scheduled = await ctl.ok("runs", "schedule", created["run_id"], "--in", "3600")
    assert scheduled["run_id"] == created["run_id"]
    at = dt.datetime.fromisoformat(scheduled["scheduled_at"])
    assert at > dt.datetime.now(dt.UTC) + dt.timedelta(minutes=59)
    assert (await ctl.ok("tasks", "claim", "--queue", "demo")) == {"tasks": []}

    scheduled = await ctl.ok("runs", "schedule", created["run_id"], "--at", "2030-01-01T00:00:00Z")
    assert dt.datetime.fromisoformat(scheduled["scheduled_at"]) == dt.datetime(
        2030, 1, 1, tzinfo=dt.UTC
    )
    for bad in (
        [],
        ["--in", "5", "--at", "2030-01-01T00:00:00Z"],
        ["--at", "2030-01-01T00:00:00"],
        ["--at", "tomorrow"],
    ):
        result = await ctl("runs", "schedule", created["run_id"], *bad)
        assert result.exit_code == 2, bad


async def test_runs_heartbeat(ctl: Ctl) -> None:
    await ctl.ok("queues", "create", "--name", "demo")
    task = await claim_one(ctl)  # claimed for the default 30 seconds
    beat = await ctl.ok("runs", "heartbeat", task["run_id"], "--extend-by", "3600")
    assert beat["run_id"] == task["run_id"]
    assert dt.datetime.fromisoformat(beat["claim_expires_at"]) > dt.datetime.fromisoformat(
        task["claim_expires_at"]
    )

    result = await ctl("-o", "table", "runs", "heartbeat", task["run_id"], "--extend-by", "60")
    assert result.exit_code == 0
    fields = key_value_lines(result.stdout)
    assert set(fields) == {"run_id", "claim_expires_at"}
    assert fields["run_id"] == task["run_id"]

    result = await ctl("runs", "heartbeat", task["run_id"])  # --extend-by is required
    assert result.exit_code == 2
    assert "--extend-by" in result.stderr
    result = await ctl("runs", "heartbeat", task["run_id"], "--extend-by", "soon")
    assert result.exit_code == 2
    assert_one_line_error(
        await ctl("runs", "heartbeat", task["run_id"], "--extend-by", "0"), "400 VALIDATION_ERROR"
    )
    assert_one_line_error(
        await ctl("runs", "heartbeat", MISSING_ID, "--extend-by", "60"), "404 NOT_FOUND"
    )
    await ctl.ok("runs", "complete", task["run_id"])
    assert_one_line_error(  # no live claim any more
        await ctl("runs", "heartbeat", task["run_id"], "--extend-by", "60"), "409 CONFLICT"
    )


# -- events -----------------------------------------------------------------------------


async def test_events_emit(ctl: Ctl) -> None:
    event = await ctl.ok("events", "emit", "--name", "order.paid", "--payload", '{"order": 42}')
    assert event["event_name"] == "order.paid"
    assert {"event_id", "created_at"} <= set(event)
    assert (await ctl.ok("events", "emit", "--name", "bare"))["event_name"] == "bare"
    result = await ctl("events", "emit", "--name", "x", "--payload", "not json")
    assert result.exit_code == 2
    assert "--payload" in result.stderr


async def test_event_wakes_a_waiting_run(ctl: Ctl, server_url: str) -> None:
    """events emit resolves a wait made through the client (the CLI has no wait command)."""
    from durable_queue_client import DurableClient

    await ctl.ok("queues", "create", "--name", "demo")
    task = await claim_one(ctl)
    async with DurableClient(server_url) as client:
        waiting = await client.wait_for_event(
            task["run_id"],
            task_id=task["task_id"],
            event_name="go",
            step_name="s",
            timeout_seconds=60,
        )
        assert waiting.status == "sleeping"
        await ctl.ok("events", "emit", "--name", "go", "--payload", "7")
        [again] = (await ctl.ok("tasks", "claim", "--queue", "demo"))["tasks"]
        resolved = await client.wait_for_event(
            again["run_id"],
            task_id=task["task_id"],
            event_name="go",
            step_name="s",
            timeout_seconds=60,
        )
    assert (resolved.status, resolved.payload) == ("resolved", 7)


# -- checkpoints ------------------------------------------------------------------------


async def test_checkpoints_set_and_get(ctl: Ctl) -> None:
    await ctl.ok("queues", "create", "--name", "demo")
    task = await claim_one(ctl)
    saved = await ctl.ok(
        "checkpoints",
        "set",
        task["task_id"],
        "fetch",
        "--state",
        '{"page": 3}',
        "--owner-run",
        task["run_id"],
        "--extend-claim-by",
        "120",
    )
    assert (saved["task_id"], saved["step_name"]) == (task["task_id"], "fetch")
    got = await ctl.ok("checkpoints", "get", task["task_id"], "fetch")
    assert got["state"] == {"page": 3}
    assert got["updated_at"] == saved["updated_at"]

    await ctl.ok(
        "checkpoints",
        "set",
        task["task_id"],
        "fetch",
        "--state",
        "null",
        "--owner-run",
        task["run_id"],
    )
    got = await ctl.ok("checkpoints", "get", task["task_id"], "fetch")
    assert "state" in got
    assert got["state"] is None

    result = await ctl(
        "checkpoints", "set", task["task_id"], "s", "--state", "{", "--owner-run", task["run_id"]
    )
    assert result.exit_code == 2
    assert "--state" in result.stderr
    result = await ctl("checkpoints", "get", task["task_id"], "never")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: 404 NOT_FOUND: ")
    result = await ctl(
        "checkpoints", "set", task["task_id"], "s", "--state", "1", "--owner-run", MISSING_ID
    )
    assert result.exit_code == 1


async def test_checkpoints_list(ctl: Ctl) -> None:
    await ctl.ok("queues", "create", "--name", "demo")
    task = await claim_one(ctl)
    assert await ctl.ok("checkpoints", "list", task["task_id"]) == {"checkpoints": []}
    result = await ctl("-o", "table", "checkpoints", "list", task["task_id"])
    assert (result.exit_code, result.stdout) == (0, "(none)\n")

    for step, state in (("b-second", '{"page": 3}'), ("a-first", "null")):
        await ctl.ok(
            "checkpoints",
            "set",
            task["task_id"],
            step,
            "--state",
            state,
            "--owner-run",
            task["run_id"],
        )
    listed = (await ctl.ok("checkpoints", "list", task["task_id"]))["checkpoints"]
    assert [(c["step_name"], c["state"]) for c in listed] == [
        ("a-first", None),
        ("b-second", {"page": 3}),
    ]
    assert all(dt.datetime.fromisoformat(c["updated_at"]).tzinfo for c in listed)

    result = await ctl("-o", "table", "checkpoints", "list", task["task_id"])
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["STEP_NAME", "UPDATED_AT", "STATE"]
    assert [(row.split()[0], row.split()[2]) for row in rows] == [
        ("a-first", "-"),
        ("b-second", '{"page":3}'),
    ]

    assert_one_line_error(await ctl("checkpoints", "list", MISSING_ID), "404 NOT_FOUND")
    assert_one_line_error(await ctl("checkpoints", "list", "nope"), "400 VALIDATION_ERROR")


# -- workflow runs ----------------------------------------------------------------------


async def test_workflows_create_and_update(ctl: Ctl) -> None:
    created = await ctl.ok(
        "workflows",
        "create",
        "--name",
        "etl",
        "--version",
        "2",
        "--inputs",
        '{"day": "mon"}',
        "--created-by",
        "me",
        "--tag",
        "env=test",
        "--tag",
        "team=data",
    )
    assert (created["workflow_name"], created["status"]) == ("etl", "pending")
    updated = await ctl.ok(
        "workflows",
        "update",
        created["workflow_run_id"],
        "--status",
        "running",
        "--started-at",
        "2026-02-14T10:10:00Z",
    )
    assert (updated["workflow_run_id"], updated["status"]) == (
        created["workflow_run_id"],
        "running",
    )
    done = await ctl.ok(
        "workflows",
        "update",
        created["workflow_run_id"],
        "--status",
        "completed",
        "--result",
        '{"rows": 10}',
        "--completed-at",
        "2026-02-14T10:15:00+01:00",
    )
    assert done["status"] == "completed"

    result = await ctl("workflows", "update", MISSING_ID, "--status", "running")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: 404 NOT_FOUND: ")
    result = await ctl("workflows", "create", "--name", "x", "--tag", "no-equals")
    assert result.exit_code == 2
    result = await ctl("workflows", "create", "--name", "x", "--inputs", "{")
    assert result.exit_code == 2
    result = await ctl("workflows", "update", created["workflow_run_id"], "--result", "{")
    assert result.exit_code == 2


async def test_workflows_get(ctl: Ctl) -> None:
    created = await ctl.ok(
        "workflows", "create", "--name", "etl", "--version", "2", "--tag", "env=test"
    )
    wid = created["workflow_run_id"]
    await ctl.ok("queues", "create", "--name", "demo")
    step = await ctl.ok(
        "tasks", "create", "--queue", "demo", "--name", "extract", "--workflow-run-id", wid
    )
    await ctl.ok("workflows", "update", wid, "--status", "running")

    got = await ctl.ok("workflows", "get", wid)
    assert (got["id"], got["workflow_run_id"]) == (wid, wid)
    assert (got["workflow_name"], got["workflow_version"], got["status"]) == (
        "etl",
        "2",
        "running",
    )
    assert got["tags"] == {"env": "test"}
    assert [(t["id"], t["task_name"]) for t in got["tasks"]] == [(step["task_id"], "extract")]
    assert got["task_counts"] == {"pending": 1}

    result = await ctl("-o", "table", "workflows", "get", wid)
    assert result.exit_code == 0
    fields = key_value_lines(result.stdout)
    assert (fields["id"], fields["workflow_name"], fields["status"]) == (wid, "etl", "running")
    assert "workflow_run_id" not in fields  # the same id is shown once
    assert fields["task_counts"] == '{"pending":1}'
    tasks_table = result.stdout.split("\n\ntasks:\n", 1)[1].splitlines()
    assert tasks_table[0].split()[:3] == ["ID", "TASK_NAME", "STATUS"]
    assert tasks_table[1].split()[:3] == [step["task_id"], "extract", "pending"]

    assert_one_line_error(await ctl("workflows", "get", MISSING_ID), "404 NOT_FOUND")
    assert_one_line_error(await ctl("workflows", "get", "nope"), "400 VALIDATION_ERROR")


async def test_workflows_list_pages_filters_all_and_table(ctl: Ctl) -> None:
    ids = [
        (await ctl.ok("workflows", "create", "--name", name))["workflow_run_id"]
        for name in ("etl", "report", "etl")
    ]
    await ctl.ok("workflows", "update", ids[0], "--status", "completed")

    listed = await ctl.ok("workflows", "list")
    assert [w["id"] for w in listed["workflow_runs"]] == ids[::-1]
    assert all(w["workflow_run_id"] == w["id"] for w in listed["workflow_runs"])
    assert "next_cursor" not in listed
    etl = await ctl.ok("workflows", "list", "--name", "etl")
    assert [w["id"] for w in etl["workflow_runs"]] == [ids[2], ids[0]]
    done = await ctl.ok("workflows", "list", "--status", "completed")
    assert [(w["id"], w["status"]) for w in done["workflow_runs"]] == [(ids[0], "completed")]

    first = await ctl.ok("workflows", "list", "--limit", "2")
    assert [w["id"] for w in first["workflow_runs"]] == [ids[2], ids[1]]
    rest = await ctl.ok("workflows", "list", "--limit", "2", "--cursor", first["next_cursor"])
    assert [w["id"] for w in rest["workflow_runs"]] == [ids[0]]
    assert "next_cursor" not in rest

    every = await ctl.ok("workflows", "list", "--limit", "1", "--all")
    assert [w["id"] for w in every["workflow_runs"]] == ids[::-1]
    assert "next_cursor" not in every
    every_etl = await ctl.ok("workflows", "list", "--name", "etl", "--limit", "1", "--all")
    assert [w["id"] for w in every_etl["workflow_runs"]] == [ids[2], ids[0]]

    result = await ctl("-o", "table", "workflows", "list", "--limit", "2")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["ID", "WORKFLOW_NAME", "STATUS", "CREATED_AT"]
    assert [line.split()[:3] for line in lines[1:3]] == [
        [ids[2], "etl", "pending"],
        [ids[1], "report", "pending"],
    ]
    assert lines[-1] == f"next cursor: {first['next_cursor']}"
    result = await ctl("-o", "table", "workflows", "list", "--status", "canceled")
    assert (result.exit_code, result.stdout) == (0, "(none)\n")

    assert_one_line_error(
        await ctl("workflows", "list", "--status", "bogus"), "400 VALIDATION_ERROR"
    )
    assert_one_line_error(
        await ctl("workflows", "list", "--cursor", "nope"), "400 VALIDATION_ERROR"
    )


# -- unreachable server -----------------------------------------------------------------


async def test_unreachable_server_exits_2_with_one_line(ctl: Ctl) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    for args in (
        ["queues", "list"],
        ["queues", "stats", "demo"],
        ["tasks", "create", "--queue", "q", "--name", "x"],
        ["events", "emit", "--name", "e"],
    ):
        result = await ctl("--server", url, *args)
        assert result.exit_code == 2, args
        assert result.stdout == ""
        assert result.stderr.startswith("error: ")
        assert url in result.stderr
        assert result.stderr.count("\n") == 1


async def test_console_entry_point_prints_one_line_when_unreachable(tmp_path: Path) -> None:
    """The real process (not CliRunner, whose log capture would hide stray output): retries
    log nothing on stderr, only the one error line."""
    url = f"http://127.0.0.1:{closed_port()}"
    env = {**os.environ, "DURABLECTL_CONFIG": str(tmp_path / "config.json")}
    env.pop("DURABLE_SERVER", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "durablectl",
        "--server",
        url,
        "queues",
        "list",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    stdout, stderr = await proc.communicate()
    assert proc.returncode == 2
    assert stdout == b""
    assert stderr.decode().count("\n") == 1
    assert stderr.decode().startswith(f"error: cannot reach server at {url}")


async def test_ctrl_c_ends_queues_stats_watch_without_a_traceback(
    ctl: Ctl, server_url: str, tmp_path: Path
) -> None:
    """The real process: --watch runs until Ctrl-C, which exits 130 with nothing on stderr."""
    await ctl.ok("queues", "create", "--name", "demo")
    env = {**os.environ, "DURABLECTL_CONFIG": str(tmp_path / "config.json")}
    env.pop("DURABLE_SERVER", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "durablectl",
        "--server",
        server_url,
        "-o",
        "table",
        "queues",
        "stats",
        "demo",
        "--watch",
        "--interval",
        "0.1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        # SIGINT may be ignored by the test runner's process (a background job): the child
        # gets the default disposition so that Python turns it into KeyboardInterrupt.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert proc.stdout is not None
    seen = b""
    while b"tasks_by_status" not in seen:  # the first sample has been printed in full
        line = await proc.stdout.readline()
        assert line, "durablectl exited before printing a sample"
        seen += line
    proc.send_signal(signal.SIGINT)
    stdout, stderr = await proc.communicate()
    assert proc.returncode == 130
    assert stderr == b""
    assert (seen + stdout).count(b"queue_name") >= 1


async def test_tasks_create_from_file_sends_batches_of_a_thousand(
    ctl: Ctl, app: Any, tmp_path: Path
) -> None:
    if not has_route(app, "POST", "/api/v1/queues/{queue_name}/tasks/batch"):
        pytest.skip("POST /queues/{queue_name}/tasks/batch is not served yet")
    await ctl.ok("queues", "create", "--name", "bulk")
    path = tmp_path / "tasks.jsonl"
    lines = [json.dumps({"task_name": f"t{i}", "params": {"i": i}}) for i in range(2500)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = await ctl("tasks", "create", "--queue", "bulk", "--from-file", str(path))
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""  # no progress bar when stderr is not a terminal
    created = json.loads(result.stdout)["tasks"]
    assert len(created) == 2500 and all(t["created"] for t in created)
    listed = await ctl.ok("tasks", "list", "--queue", "bulk", "--limit", "1000", "--all")
    assert {t["id"] for t in listed["tasks"]} == {t["task_id"] for t in created}
