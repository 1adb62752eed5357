"""`durablectl tasks create --from-file`: reading the JSON-lines file (no server needed) and
the command line's refusals, which come before any request is sent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from asyncclick.testing import CliRunner
from durable_queue_client import CreateTaskRequest, RetryStrategy

from durablectl.batch import BATCH_SIZE, TaskFileError, batches, read_tasks
from durablectl.cli import cli


def write_lines(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_reads_every_task_in_order_skipping_blank_lines(tmp_path):
    path = write_lines(
        tmp_path / "tasks.jsonl",
        json.dumps({"task_name": "a", "params": {"n": 1}}),
        "",
        json.dumps(
            {
                "task_name": "b",
                "max_attempts": 3,
                "retry_strategy": {"kind": "fixed", "base_seconds": 2},
                "idempotency_key": "k-b",
            }
        ),
    )
    assert read_tasks(path) == [
        CreateTaskRequest(task_name="a", params={"n": 1}),
        CreateTaskRequest(
            task_name="b",
            max_attempts=3,
            retry_strategy=RetryStrategy(kind="fixed", base_seconds=2.0),
            idempotency_key="k-b",
        ),
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "tasks.jsonl line 2: not valid JSON"),
        ("[1, 2]", "tasks.jsonl line 2: expected a JSON object"),
        ('{"task_name": "x", "max_attempt": 3}', "tasks.jsonl line 2: unknown field 'max_attempt'"),
        ('{"params": {}}', "tasks.jsonl line 2: task_name is required"),
        ('{"task_name": "x", "run_at": "tomorrow"}', "tasks.jsonl line 2: "),
    ],
)
def test_a_bad_line_is_refused_naming_it(tmp_path, line, message):
    path = write_lines(tmp_path / "tasks.jsonl", '{"task_name": "fine"}', line)
    with pytest.raises(TaskFileError) as caught:
        read_tasks(path)
    assert str(caught.value).startswith(message), str(caught.value)


def test_an_empty_file_is_refused(tmp_path):
    with pytest.raises(TaskFileError, match="holds no tasks"):
        read_tasks(write_lines(tmp_path / "tasks.jsonl", "", "  "))


def test_batches_of_at_most_one_thousand():
    items = list(range(2 * BATCH_SIZE + 500))
    sizes = [len(b) for b in batches(items)]
    assert BATCH_SIZE == 1000 and sizes == [1000, 1000, 500]
    assert [x for b in batches(items) for x in b] == items
    assert list(batches([])) == []


async def invoke(*args: str):
    # a closed port: these refusals must come before any request
    env = {"DURABLE_SERVER": "http://127.0.0.1:9", "DURABLECTL_CONFIG": "/nonexistent"}
    return await CliRunner().invoke(cli, list(args), env=env)


async def test_from_file_refuses_the_single_task_options(tmp_path):
    path = write_lines(tmp_path / "tasks.jsonl", '{"task_name": "a"}')
    result = await invoke(
        "tasks", "create", "--queue", "q", "--from-file", str(path), "--name", "a"
    )
    assert result.exit_code == 2
    assert "--from-file takes every task field from the file" in result.stderr


async def test_from_file_with_a_bad_line_is_a_usage_error_before_any_request(tmp_path):
    path = write_lines(tmp_path / "tasks.jsonl", '{"task_name": "a"}', '{"task_name": 7}')
    result = await invoke("tasks", "create", "--queue", "q", "--from-file", str(path))
    assert result.exit_code == 2
    assert "tasks.jsonl line 2: task_name is required" in result.stderr
    assert "cannot reach" not in result.stderr


async def test_create_needs_a_name_or_a_file():
    result = await invoke("tasks", "create", "--queue", "q")
    assert result.exit_code == 2
    assert "give --name, or --from-file" in result.stderr
