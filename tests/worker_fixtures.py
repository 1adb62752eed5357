"""Helpers of the worker tests: a worker running in the test's event loop, a server whose
claim answers carry a claim token (added when the server does not hand one out yet) and
that records the token of every call, and worker factories for `durablectl worker`
subprocesses (the side effects of their steps are appended to a file, one line each)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
from aiohttp import web
from durable_queue_client import Conflict, DurableClient, TaskContext, Worker

from tests.helpers import eventually

REPO = Path(__file__).resolve().parent.parent


@contextlib.asynccontextmanager
async def running(worker: Worker) -> AsyncIterator[asyncio.Task[None]]:
    """`worker.run()` in the background (its queue created first, so tasks can be made at
    once); stopped (and awaited) on the way out."""
    with contextlib.suppress(Conflict):
        await worker.client.create_queue(worker.queue)
    task = asyncio.create_task(worker.run(handle_signals=False))
    try:
        yield task
    finally:
        worker.stop(now=True)
        await task


async def finished(client: DurableClient, task_id: str) -> Any:
    """The task's detail once it is no longer pending."""

    async def check() -> Any:
        detail = await client.get_task(task_id)
        return detail if detail.status != "pending" else None

    return await eventually(check, what=f"task {task_id} to finish")


# -- claim tokens -----------------------------------------------------------------------

TOKENED_PATHS = ("/complete", "/fail", "/schedule", "/wait-for-event", "/heartbeat")


@attrs.define
class TokenLog:
    """What `token_recorder` saw: the tokens claim answers carried, by run id, and every
    call on a run as (action, run_id, token); action is the path's last segment, or
    "checkpoint" for a checkpoint write (its run is the body's owner_run)."""

    issued: dict[str, list[str]] = attrs.field(factory=dict)
    calls: list[tuple[str, str, Any]] = attrs.field(factory=list)

    def count(self, action: str) -> int:
        return sum(1 for call in self.calls if call[0] == action)


def token_recorder(seen: TokenLog) -> Any:
    """A middleware: claim answers get a `claim_token` per task when they lack one (a
    server that does not hand them out yet); calls on runs are recorded in `seen`."""

    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        path = request.path
        if request.method == "POST" and path.endswith(TOKENED_PATHS):
            body = await request.json()
            seen.calls.append((path.rsplit("/", 1)[1], path.split("/")[4], body.get("claim_token")))
        elif request.method == "PUT" and "/checkpoints/" in path:
            body = await request.json()
            seen.calls.append(("checkpoint", body.get("owner_run"), body.get("claim_token")))
        response = await handler(request)
        if path.endswith("/tasks/claim") and isinstance(response, web.Response):
            data = json.loads(response.text or "{}")
            for task in data.get("tasks", []):
                token = task.setdefault("claim_token", f"token-{len(seen.issued)}")
                seen.issued.setdefault(task["run_id"], []).append(token)
            return web.json_response(data, status=response.status)
        return response

    return record


# -- factories for `durablectl worker` subprocesses -------------------------------------

STEPS_QUEUE = "worker-steps"


def record_side_effect(log: Path, step: str) -> str:
    with log.open("a") as out:
        out.write(f"{step}\n")
    return step


def steps_worker(client: DurableClient) -> Worker:
    """Three steps; the first attempt stalls after step one (until it is killed) when the
    params ask for it. Claim timeout 2 s, so a killed worker's run is taken over soon."""
    worker = Worker(client, STEPS_QUEUE, concurrency=2, claim_timeout=2, long_poll_seconds=5)

    @worker.task("three_steps")
    async def three_steps(ctx: TaskContext, params: dict[str, Any]) -> dict[str, Any]:
        log = Path(params["log"])
        first = await ctx.step("one", lambda: record_side_effect(log, "one"))
        if params.get("stall") and ctx.attempt == 1:
            await asyncio.Event().wait()  # until the process is killed (or released)
        second = await ctx.step("two", lambda: record_side_effect(log, "two"))
        third = await ctx.step("three", lambda: record_side_effect(log, "three"))
        return {"steps": [first, second, third], "pid": os.getpid()}

    return worker


def durablectl_worker(server_url: str, target: str, *extra: str) -> list[str]:
    """The command line of a `durablectl worker` subprocess."""
    return [sys.executable, "-m", "durablectl", "--server", server_url, "worker", target, *extra]


FANOUT_QUEUE = "worker-fanout"


def fanout_worker(client: DurableClient) -> Worker:
    """A parent that spawns `params["children"]` children one by one, then joins them and
    returns their results; the first attempt stalls after `params["stall_after"]` spawns
    (until the process is killed). Children return twice their number. Claim timeout 2 s,
    so a killed worker's run is taken over soon."""
    worker = Worker(client, FANOUT_QUEUE, concurrency=8, claim_timeout=2, long_poll_seconds=5)

    @worker.task("parent")
    async def parent(ctx: TaskContext, params: dict[str, Any]) -> list[Any]:
        children = []
        for n in range(params["children"]):
            if ctx.attempt == 1 and n == params.get("stall_after"):
                await asyncio.Event().wait()  # until the process is killed
            children.append(await ctx.spawn("child", {"n": n}, step=f"child-{n}"))
        return await ctx.gather(*children, timeout=120)

    @worker.task("child")
    async def child(ctx: TaskContext, params: dict[str, Any]) -> int:
        return params["n"] * 2

    return worker
