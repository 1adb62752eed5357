"""Quick start: a task handler, three tasks, one worker.

    durable-queue serve                  # in another terminal
    python examples/quickstart.py        # --server URL (default: $DURABLE_SERVER or :8080)

The worker part alone runs with `durablectl worker quickstart:make_worker` (from
examples/), for tasks created elsewhere (`durablectl tasks create --queue
examples-quickstart --name greet --params '{"name": "Ada"}'`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from typing import Any

from durable_queue_client import Conflict, DurableClient, TaskContext, Worker, wait_for_task

QUEUE = "examples-quickstart"


def make_worker(client: DurableClient) -> Worker:
    worker = Worker(client, QUEUE, concurrency=4, claim_timeout=30)

    @worker.task("greet")
    async def greet(ctx: TaskContext, params: dict[str, Any]) -> dict[str, Any]:
        # A plain handler: its return value completes the run; an exception fails it.
        return {"greeting": f"Hello, {params['name']}!", "attempt": ctx.attempt}

    return worker


async def main(server: str) -> None:
    async with DurableClient(server) as client:
        with contextlib.suppress(Conflict):
            await client.create_queue(QUEUE)
        worker = make_worker(client)
        running = asyncio.create_task(worker.run())
        names = ["Ada", "Grace", "Edsger"]
        created = [await client.create_task(QUEUE, "greet", params={"name": n}) for n in names]
        for task in created:
            detail = await wait_for_task(client, task.task_id)
            print(f"{detail.status}: {detail.result['greeting']}")
        worker.stop()
        await running


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--server", default=os.environ.get("DURABLE_SERVER", "http://localhost:8080")
    )
    asyncio.run(main(parser.parse_args().server))
