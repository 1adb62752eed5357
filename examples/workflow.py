"""A workflow run: one task fans out to several, waits for their results through
events, and records the outcome on the workflow run (GET /workflow-runs/{id}).

    durable-queue serve                 # in another terminal
    python examples/workflow.py         # --server URL

`count_words` splits a text into chunks and creates one `count_chunk` task per chunk, in
the same workflow run (a step, with idempotency keys: a retry creates nothing twice).
Each chunk task counts its words and emits `counted:<its task id>`; the parent waits for
those events (sleeping on the server in between, holding no worker slot), adds them up,
and marks the workflow run completed with the total. Afterwards
`durablectl workflows get <id>` shows the run with its tasks and their counts by status.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from typing import Any

from durable_queue_client import Conflict, DurableClient, TaskContext, Worker, wait_for_task

QUEUE = "examples-workflow"
TEXT = "a durable queue keeps every task until a worker finishes it " * 3


def make_worker(client: DurableClient) -> Worker:
    worker = Worker(client, QUEUE, concurrency=4, claim_timeout=30)

    @worker.task("count_words")
    async def count_words(ctx: TaskContext, params: dict[str, Any]) -> dict[str, Any]:
        words = params["text"].split()
        chunks = [" ".join(words[i : i + 10]) for i in range(0, len(words), 10)]

        async def fan_out() -> list[str]:
            await client.update_workflow_run(ctx.workflow_run_id, status="running")
            children = []
            for number, chunk in enumerate(chunks):
                created = await client.create_task(
                    QUEUE,
                    "count_chunk",
                    params={"text": chunk},
                    workflow_run_id=ctx.workflow_run_id,
                    idempotency_key=f"{ctx.task_id}:{number}",
                )
                children.append(created.task_id)
            return children

        children = await ctx.step("fan-out", fan_out)
        counts = [await ctx.await_event(f"counted:{child}", timeout=600) for child in children]
        total = sum(count["words"] for count in counts)

        async def record() -> None:
            await client.update_workflow_run(
                ctx.workflow_run_id, status="completed", result={"words": total}
            )

        await ctx.step("record", record)
        return {"chunks": len(chunks), "words": total}

    @worker.task("count_chunk")
    async def count_chunk(ctx: TaskContext, params: dict[str, Any]) -> int:
        words = len(params["text"].split())

        async def report() -> None:
            await client.emit_event(f"counted:{ctx.task_id}", {"words": words})

        await ctx.step("report", report)
        return words

    return worker


async def main(server: str) -> None:
    async with DurableClient(server) as client:
        with contextlib.suppress(Conflict):
            await client.create_queue(QUEUE)
        worker = make_worker(client)
        running = asyncio.create_task(worker.run())
        workflow = await client.create_workflow_run("word-count", inputs={"text": TEXT})
        parent = await client.create_task(
            QUEUE,
            "count_words",
            params={"text": TEXT},
            workflow_run_id=workflow.workflow_run_id,
        )
        detail = await wait_for_task(client, parent.task_id)
        print(f"count_words {detail.status}: {detail.result}")
        run = await client.get_workflow_run(workflow.workflow_run_id)
        print(f"workflow run {run.workflow_run_id}: {run.status}, result {run.result}")
        print(f"tasks by status: {run.task_counts}")
        for task in sorted(run.tasks, key=lambda task: task.created_at):
            print(f"  {task.task_name} {task.id} {task.status}")
        print(f"see it again with: durablectl workflows get {run.workflow_run_id}")
        worker.stop()
        await running


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--server", default=os.environ.get("DURABLE_SERVER", "http://localhost:8080")
    )
    asyncio.run(main(parser.parse_args().server))
