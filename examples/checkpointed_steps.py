"""Checkpointed steps: a worker killed in the middle of a task, and another one that
finishes it without running the finished steps again.

    durable-queue serve                        # in another terminal
    python examples/checkpointed_steps.py      # --server URL

The script starts a worker process (`durablectl worker checkpointed_steps:make_worker`),
waits until the task's first step is checkpointed, kills that process with SIGKILL (no
chance to clean up), and starts a second worker. The claim of the dead worker expires
(3 s here), the task is claimed again, and the handler runs from the top: `download`
returns its checkpointed value, `transform` and `upload` run. Every step appends a line
to a journal file, so you can see that each ran exactly once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from durable_queue_client import Conflict, DurableClient, TaskContext, Worker, wait_for_task

QUEUE = "examples-checkpointed-steps"
HERE = Path(__file__).resolve().parent


def record(journal: Path, step: str, value: Any) -> Any:
    """A step's side effect: one line in the journal."""
    with journal.open("a") as out:
        out.write(f"{step}\n")
    return value


def make_worker(client: DurableClient) -> Worker:
    # A short claim so that the dead worker's task is taken over within seconds.
    worker = Worker(client, QUEUE, concurrency=2, claim_timeout=3, long_poll_seconds=5)

    @worker.task("import_orders")
    async def import_orders(ctx: TaskContext, params: dict[str, Any]) -> dict[str, Any]:
        journal = Path(params["journal"])
        rows = await ctx.step("download", lambda: record(journal, "download", [3, 4, 5]))
        if params.get("stall_first_attempt") and ctx.attempt == 1:
            # Stands in for a long computation during which the machine dies:
            # main() kills this process here.
            await asyncio.Event().wait()
        total = await ctx.step("transform", lambda: record(journal, "transform", sum(rows)))
        await ctx.step("upload", lambda: record(journal, "upload", None))
        return {"rows": rows, "total": total, "attempt": ctx.attempt}

    return worker


async def until_checkpointed(client: DurableClient, task_id: str, step: str) -> None:
    while True:
        if step in {c.step_name for c in await client.list_checkpoints(task_id)}:
            return
        await asyncio.sleep(0.2)


async def start_worker(server: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "durablectl",
        "--server",
        server,
        "worker",
        "checkpointed_steps:make_worker",
        "--log-level",
        "warning",
        cwd=HERE,
    )


async def main(server: str) -> int:
    journal = Path(tempfile.mkdtemp(prefix="durable-steps-")) / "journal.txt"
    async with DurableClient(server) as client:
        with contextlib.suppress(Conflict):
            await client.create_queue(QUEUE)
        task = await client.create_task(
            QUEUE,
            "import_orders",
            params={"journal": str(journal), "stall_first_attempt": True},
        )
        print(f"task {task.task_id} created; journal {journal}")

        first = await start_worker(server)
        await until_checkpointed(client, task.task_id, "download")
        first.kill()
        await first.wait()
        print(f"step 'download' checkpointed; worker {first.pid} killed (SIGKILL)")

        second = await start_worker(server)
        detail = await wait_for_task(client, task.task_id)
        second.send_signal(signal.SIGTERM)  # a graceful stop
        await second.wait()
        print(f"worker {second.pid} finished the task: {detail.status}, result {detail.result}")
        for run in sorted(detail.runs, key=lambda run: run.attempt):
            print(f"  run attempt {run.attempt}: {run.status} {run.error or ''}".rstrip())

    steps = journal.read_text().splitlines()
    print(f"journal: {', '.join(steps)}")
    if steps != ["download", "transform", "upload"]:
        print("a step ran twice!", file=sys.stderr)
        return 1
    print("each step ran exactly once")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--server", default=os.environ.get("DURABLE_SERVER", "http://localhost:8080")
    )
    sys.exit(asyncio.run(main(parser.parse_args().server)))
