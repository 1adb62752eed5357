"""`TaskHandle`: a task made (`DurableClient.enqueue`, `TaskContext.spawn`) and the wait
for its outcome, over `GET /tasks/{task_id}/result?wait_seconds=N`.

The server holds each request until the task ends or `wait_seconds` (at most
`MAX_WAIT_SECONDS`) pass, woken by the database, never by polling; a longer wait is a
loop of such requests.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from typing import Final, Protocol

import attrs

from durable_queue_client.errors import TaskCanceled, TaskFailed
from durable_queue_client.models import JSONValue, TaskResult


class ResultSource(Protocol):
    """What a handle needs of its client (a `DurableClient` is one)."""

    async def get_task_result(self, task_id: str, wait_seconds: int = 0) -> TaskResult: ...


MAX_WAIT_SECONDS: Final = 60  # the most one GET /tasks/{id}/result waits on the server


def seconds_of(timeout: float | dt.timedelta | None) -> float | None:
    """A timeout in seconds (None: no limit); a negative one is a `ValueError`."""
    if timeout is None:
        return None
    seconds = timeout.total_seconds() if isinstance(timeout, dt.timedelta) else float(timeout)
    if math.isnan(seconds) or seconds < 0:
        raise ValueError("timeout must not be negative")
    return seconds


def next_wait(left: float | None) -> int:
    """`wait_seconds` of the next request, with `left` seconds of the caller's timeout
    to go (None: no limit): whole seconds, rounded up (a task that ends within the
    timeout is seen), at most `MAX_WAIT_SECONDS`."""
    if left is None:
        return MAX_WAIT_SECONDS
    return min(MAX_WAIT_SECONDS, max(0, math.ceil(left)))


async def wait_for_outcome(
    client: ResultSource,
    task_id: str,
    timeout: float | dt.timedelta | None = None,  # noqa: ASYNC109 - a server-side wait
) -> TaskResult:
    """The task's outcome once it has ended, or its "pending" answer once `timeout`
    seconds (None: no limit) have passed; `timeout=0` asks once without waiting.
    `NotFound` when the task does not exist."""
    seconds = seconds_of(timeout)
    loop = asyncio.get_running_loop()
    deadline = None if seconds is None else loop.time() + seconds
    while True:
        left = None if deadline is None else deadline - loop.time()
        answer = await client.get_task_result(task_id, wait_seconds=next_wait(left))
        if answer.finished:
            return answer
        if deadline is not None and loop.time() >= deadline:
            return answer


def raise_for_outcome(answer: TaskResult) -> JSONValue:
    """The result of a completed task; `TaskFailed` / `TaskCanceled` for one that ended
    otherwise; `TimeoutError` for one still pending."""
    if answer.status == "completed":
        return answer.result
    if answer.status == "canceled":
        raise TaskCanceled(answer.task_id, answer.status, answer.error)
    if answer.status == "pending":
        raise TimeoutError(f"task {answer.task_id} is still pending")
    raise TaskFailed(answer.task_id, answer.status, answer.error)


@attrs.frozen
class TaskHandle:
    """A task and the client that made it: `task_id`, `run_id` (its first run), and
    `workflow_run_id`. `TaskHandle(client, task_id)` makes one for any task.

        handle = await client.enqueue("images", "resize", {"url": url})
        thumbnail = await handle.result(timeout=30)

    Inside a handler, `ctx.spawn` returns one per child; join children with
    `ctx.gather(*children)`, which waits durably (the handler's claim is released while
    they run), where `result()` waits in the worker's process.
    """

    client: ResultSource = attrs.field(eq=False, repr=False)
    task_id: str
    run_id: str | None = None
    workflow_run_id: str | None = None

    async def result(
        self,
        timeout: float | dt.timedelta | None = None,  # noqa: ASYNC109 - a server-side wait
    ) -> JSONValue:
        """The task's result once it has completed (waiting up to `timeout` seconds, None:
        as long as it takes). Raises `TaskFailed` (its `error` is the last run's) when
        it failed, `TaskCanceled` when it was canceled, `TimeoutError` when `timeout`
        passed first (the task goes on)."""
        return raise_for_outcome(await self.outcome(timeout))

    async def outcome(
        self,
        timeout: float | dt.timedelta | None = None,  # noqa: ASYNC109 - a server-side wait
    ) -> TaskResult:
        """The task's outcome once it has ended, whatever it is, or its "pending" answer
        when `timeout` seconds pass first; raises nothing for the task's sake."""
        return await wait_for_outcome(self.client, self.task_id, timeout)
