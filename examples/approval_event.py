"""Waiting for an event: a task that sleeps on the server until someone approves it.

    durable-queue serve                    # in another terminal
    python examples/approval_event.py      # --server URL

The handler drafts a post (a checkpointed step), then waits for the event
`approved:<task_id>`. Until it is emitted the run sleeps on the server: no worker holds
it, and a worker restart changes nothing. Approve it from another terminal with the
command the script prints:

    durablectl events emit --name approved:<task_id> --payload '{"by": "you"}'

The run is then claimed again, the handler runs from the top (the draft step returns its
checkpoint), the wait returns the event's payload, and the post is published.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from typing import Any

from durable_queue_client import (
    Conflict,
    DurableClient,
    TaskContext,
    WaitTimeout,
    Worker,
    wait_for_task,
)

QUEUE = "examples-approval"


def make_worker(client: DurableClient) -> Worker:
    worker = Worker(client, QUEUE, concurrency=4, claim_timeout=30)

    @worker.task("publish_post")
    async def publish_post(ctx: TaskContext, params: dict[str, Any]) -> dict[str, Any]:
        draft = await ctx.step("draft", lambda: f"# {params['title']}\n\n(draft text)")
        try:
            approval = await ctx.await_event(f"approved:{ctx.task_id}", timeout=3600)
        except WaitTimeout:
            return {"published": False, "reason": "nobody approved it within an hour"}
        await ctx.step("publish", lambda: print(f"publishing {len(draft)} characters"))
        return {"published": True, "approved_by": (approval or {}).get("by")}

    return worker


async def until_asleep(client: DurableClient, task_id: str) -> None:
    while True:
        if [run.status for run in (await client.list_runs(task_id=task_id)).runs] == ["sleeping"]:
            return
        await asyncio.sleep(0.2)


async def main(server: str) -> None:
    async with DurableClient(server) as client:
        with contextlib.suppress(Conflict):
            await client.create_queue(QUEUE)
        worker = make_worker(client)
        running = asyncio.create_task(worker.run())
        task = await client.create_task(QUEUE, "publish_post", params={"title": "Durable"})
        await until_asleep(client, task.task_id)
        print("the run sleeps until approved; approve it with:", flush=True)
        print(
            f"  durablectl --server {server} events emit --name approved:{task.task_id} "
            """--payload '{"by": "you"}'""",
            flush=True,
        )
        detail = await wait_for_task(client, task.task_id)
        print(f"{detail.status}: {detail.result}")
        worker.stop()
        await running


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--server", default=os.environ.get("DURABLE_SERVER", "http://localhost:8080")
    )
    asyncio.run(main(parser.parse_args().server))
