"""Fan out and fan in: a task that spawns a child task per word and joins their results.

    durable-queue serve                    # in another terminal
    python examples/fan_out.py             # --server URL

The producer enqueues one `count_letters` task and waits for its result with
`handle.result()`, a long poll on `GET /tasks/{id}/result` that the server answers when
the task ends (no polling). The parent handler spawns one `measure` child per word with
`ctx.spawn` and joins them with `ctx.gather`:

- `ctx.spawn` creates each child once per parent, even when the parent runs again: a
  replay, a retry or a worker killed mid-way finds the children it made (a checkpointed
  step and an idempotency key per parent and step), never a second set;
- `ctx.gather` answers at once when every child has ended; otherwise the parent's run
  sleeps on the server (no worker slot held) until the last child ends, and the handler
  runs again from the top: the spawns return the same children and the gather their
  results, in the order given. A child that failed after its retries raises
  `ChildFailed` in the parent, naming it.

The same by hand, with the parent's task id:

    curl -s 'localhost:8080/api/v1/tasks?parent_task_id=<task_id>'      # its children
    curl -s 'localhost:8080/api/v1/tasks/<task_id>/result?wait_seconds=30'
    durablectl tasks wait <task_id> --timeout 30
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from collections import Counter
from typing import Any

from durable_queue_client import ChildFailed, Conflict, DurableClient, TaskContext, Worker

QUEUE = "examples-fan-out"
WORDS = ["durable", "queue", "fan", "out", "and", "in"]


def make_worker(client: DurableClient) -> Worker:
    worker = Worker(client, QUEUE, concurrency=8, claim_timeout=30)

    @worker.task("measure")
    async def measure(ctx: TaskContext, params: dict[str, Any]) -> dict[str, Any]:
        return {"word": params["word"], "letters": len(params["word"])}

    @worker.task("count_letters")
    async def count_letters(ctx: TaskContext, params: dict[str, Any]) -> dict[str, Any]:
        children = [
            await ctx.spawn("measure", {"word": word}, step=f"measure:{i}")
            for i, word in enumerate(params["words"])
        ]
        try:
            measured = await ctx.gather(*children, timeout=600)
        except ChildFailed as exc:  # a child failed after its retries, or was canceled
            return {"failed": exc.task_id, "error": exc.error}
        longest = max(measured, key=lambda m: m["letters"])
        return {
            "words": len(measured),
            "letters": sum(m["letters"] for m in measured),
            "longest": longest["word"],
        }

    return worker


async def main(server: str) -> None:
    async with DurableClient(server) as client:
        with contextlib.suppress(Conflict):
            await client.create_queue(QUEUE)
        worker = make_worker(client)
        running = asyncio.create_task(worker.run())
        try:
            handle = await client.enqueue(QUEUE, "count_letters", {"words": WORDS})
            result = await handle.result(timeout=60)
            print(f"completed: {result}")
            children = (await client.list_tasks(parent_task_id=handle.task_id, limit=100)).tasks
            print(
                f"children: {len(children)}, by status {dict(Counter(c.status for c in children))}"
            )
            print(f"see it again with: durablectl tasks get {handle.task_id}")
        finally:
            worker.stop()
            await running


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--server", default=os.environ.get("DURABLE_SERVER", "http://localhost:8080")
    )
    asyncio.run(main(parser.parse_args().server))
