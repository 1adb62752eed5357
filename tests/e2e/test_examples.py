"""The scripts in examples/ run as documented against a live server, each on its own
queue, and print what their docstrings promise."""

from __future__ import annotations

import ast
import asyncio
import shlex
import sys
from pathlib import Path

from tests.e2e.test_worker_process import subprocess_env
from tests.worker_fixtures import REPO

EXAMPLES = REPO / "examples"


async def run_example(name: str, url: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLES / name),
        "--server",
        url,
        cwd=REPO,
        env=subprocess_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finish(proc: asyncio.subprocess.Process) -> str:
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def test_quickstart(server_url: str) -> None:
    out = await finish(await run_example("quickstart.py", server_url))
    assert out.splitlines() == [
        "completed: Hello, Ada!",
        "completed: Hello, Grace!",
        "completed: Hello, Edsger!",
    ]


async def test_checkpointed_steps_survive_a_killed_worker(server_url: str) -> None:
    out = await finish(await run_example("checkpointed_steps.py", server_url))
    assert "worker " in out and "killed (SIGKILL)" in out
    assert "'total': 12, 'attempt': 2" in out
    assert "run attempt 1: failed claim expired" in out
    assert "journal: download, transform, upload" in out
    assert out.rstrip().endswith("each step ran exactly once")


async def test_approval_event_wakes_on_durablectl_events_emit(server_url: str) -> None:
    proc = await run_example("approval_event.py", server_url)
    assert proc.stdout is not None
    lines = []
    while True:
        line = (await proc.stdout.readline()).decode()
        assert line, "the example ended before printing the approval command"
        lines.append(line)
        if "events emit" in line:
            break
    assert lines[0].startswith("the run sleeps until approved")
    command = shlex.split(line.strip())
    assert command[0] == "durablectl"
    emit = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        *command,
        cwd=REPO,
        env=subprocess_env(),
        stdout=asyncio.subprocess.DEVNULL,
    )
    assert await emit.wait() == 0
    out = await finish(proc)
    assert "publishing" in out
    assert out.splitlines()[-1] == "completed: {'published': True, 'approved_by': 'you'}"


async def test_workflow_run_groups_the_tasks(server_url: str) -> None:
    out = await finish(await run_example("workflow.py", server_url))
    lines = out.splitlines()
    assert lines[0] in (
        "count_words completed: {'chunks': 4, 'words': 33}",
        "count_words completed: {'words': 33, 'chunks': 4}",  # as stored: JSONB orders keys
    )
    assert lines[1].endswith(": completed, result {'words': 33}")
    assert lines[2] == "tasks by status: {'completed': 5}"
    assert sorted(line.split()[0] for line in lines[3 : 7 + 1]) == ["count_chunk"] * 4 + [
        "count_words"
    ]
    assert lines[-1].startswith("see it again with: durablectl workflows get ")


async def test_nightly_report_declares_its_schedule_and_triggers_it(server_url: str) -> None:
    out = await finish(await run_example("nightly_report.py", server_url))
    lines = out.splitlines()
    assert lines[0] == "schedule examples-nightly-report: 0 7 * * * in Europe/Amsterdam"
    fire_times = lines[1].removeprefix("next fire times: ").split(", ")
    assert len(fire_times) == 3 and all(" 07:00 CE" in t for t in fire_times), lines[1]
    assert lines[2].startswith("triggered: task ")
    assert (
        lines[3].startswith("completed: {") and "'schedule': 'examples-nightly-report'" in lines[3]
    )
    assert lines[4].startswith("last task ") and lines[4].endswith(": completed")
    assert lines[-1] == "deleted the schedule (a real deployment keeps it)"


async def test_fan_out_spawns_children_and_gathers_their_results(server_url: str) -> None:
    out = await finish(await run_example("fan_out.py", server_url))
    lines = out.splitlines()
    assert lines[0].startswith("completed: "), out
    assert ast.literal_eval(lines[0].removeprefix("completed: ")) == {
        "words": 6,
        "letters": 23,
        "longest": "durable",
    }
    assert lines[1] == "children: 6, by status {'completed': 6}"
    assert lines[-1].startswith("see it again with: durablectl tasks get ")


def test_every_example_is_tested_and_has_its_own_queue() -> None:
    scripts = sorted(path.name for path in EXAMPLES.glob("*.py"))
    assert scripts == [
        "approval_event.py",
        "checkpointed_steps.py",
        "fan_out.py",
        "nightly_report.py",
        "quickstart.py",
        "workflow.py",
    ]
    queues = [
        line.split("=", 1)[1].strip()
        for name in scripts
        for line in Path(EXAMPLES / name).read_text().splitlines()
        if line.startswith("QUEUE = ")
    ]
    assert len(queues) == len(set(queues)) == len(scripts)
