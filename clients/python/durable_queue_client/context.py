"""`TaskContext`: what a handler sees of its run: durable steps, event waits and sleeps.

A handler is re-executed from the top every time its task is claimed again (after a
sleep, an event wait, a released claim or a crash). Steps that finished in an earlier
execution return their checkpointed value without running again, so the handler must
call its steps in the same order each time (ordinary deterministic code does).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import json
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from durable_queue_client.claims import HeldRun
from durable_queue_client.client import DurableClient
from durable_queue_client.convert import structure, to_dict
from durable_queue_client.errors import (
    ChildFailed,
    Conflict,
    DurableError,
    GatherTimeout,
    InvalidResponse,
    NotFound,
)
from durable_queue_client.handles import TaskHandle, seconds_of
from durable_queue_client.models import (
    UNSET,
    CreatedTask,
    JSONValue,
    RetryStrategy,
    TaskOutcome,
    Unset,
)

T = TypeVar("T")

log = logging.getLogger("durable_queue_client.worker")

LOCAL_SLEEP_LIMIT = 1.0
"""A resumed sleep with at most this many seconds left waits in process instead of
releasing the claim again (it also absorbs small clock differences with the server)."""

MAX_GATHER = 1000
"""The most task ids one wait-for-tasks call takes; `gather` of more waits in groups."""

GATHER_FOREVER = 366 * 24 * 3600
"""The timeout `gather` sends when the caller gives none (a year and a day)."""


class Suspended(BaseException):
    """Raised inside a handler when its run went to sleep on the server (an event wait or
    a durable sleep): the worker ends the execution without completing or failing.

    A BaseException so that a handler's `except Exception` does not swallow it.
    """


class ClaimLost(Exception):
    """The run is no longer held by this worker (its claim expired and was taken over,
    or the task was canceled): nothing more may be reported for it."""


class StepValueError(TypeError):
    """A step's function returned a value that is not JSON."""


def as_json(value: Any, what: str) -> JSONValue:
    """`value` as it reads back from the server (tuples become lists, ...), or
    `StepValueError` naming `what` when it is not JSON."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise StepValueError(
            f"{what} is not JSON ({type(value).__name__}): {exc}; return dicts, lists, "
            "strings, numbers, booleans or None"
        ) from exc


class Keepalive:
    """Heartbeats for one run while its handler executes: every third of the claim
    timeout the claim is extended by the claim timeout. A 409 means the claim is gone:
    `lost` is set and the handler's task is cancelled. Paused around the calls that may
    release the claim (an event wait, a durable sleep), where a 409 is expected."""

    def __init__(self, run: HeldRun, claim_timeout: int, owner: asyncio.Task[Any]) -> None:
        self.run = run
        self.claim_timeout = claim_timeout
        self.owner = owner
        self.paused = False
        self.lost = False

    async def beat_forever(self) -> None:
        while True:
            await asyncio.sleep(self.claim_timeout / 3)
            if self.paused:
                continue
            try:
                await self.run.heartbeat(self.claim_timeout)
            except (Conflict, NotFound):
                if not self.paused:
                    self.lost = True
                    self.owner.cancel()
                    return
            except DurableError as exc:  # unreachable for now: the next beat tries again
                log.warning("heartbeat of run %s failed: %s", self.run.task.run_id, exc)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _task_id_of(child: TaskHandle | CreatedTask | str) -> str:
    if isinstance(child, str):
        return child
    task_id = getattr(child, "task_id", None)
    if not isinstance(task_id, str):
        raise TypeError(f"gather takes handles from spawn or task ids, not {child!r}")
    return task_id


class TaskContext:
    """The run a handler is executing; passed as its first argument.

    `task_id`, `run_id`, `attempt` (1 for the first run of the task; a retry or a
    takeover after a crash adds one), `task_name`, `params`, `headers`, `queue`,
    `workflow_run_id`, `priority` (0 unless set; None from a server without flow
    control), `concurrency_key` (None when the task has none), `schedule_name` and
    `scheduled_for` (the schedule that made the task and the slot it is for, an aware
    UTC datetime; None for a task not made by a schedule), and `client` (the worker's
    `DurableClient`, e.g. to create follow-up tasks inside a step; `spawn` does that
    once per task for you).
    """

    def __init__(
        self,
        run: HeldRun,
        queue: str,
        claim_timeout: int,
        keepalive: Keepalive | None = None,
    ) -> None:
        task = run.task
        self._run = run
        self._claim_timeout = claim_timeout
        self._keepalive = keepalive
        self._checkpoints: dict[str, JSONValue] | None = None
        self._names_used: dict[str, int] = {}
        self.client: DurableClient = run.client
        self.queue = queue
        self.task_id = task.task_id
        self.run_id = task.run_id
        self.attempt = task.attempt
        self.task_name = task.task_name
        self.params: JSONValue = task.params
        self.headers: dict[str, str] = dict(task.headers or {})
        self.workflow_run_id = task.workflow_run_id
        self.priority = task.priority
        self.concurrency_key = task.concurrency_key
        self.schedule_name = task.schedule_name
        self.scheduled_for = task.scheduled_for

    # -- steps ----------------------------------------------------------------------------

    async def step(self, name: str, fn: Callable[[], T | Awaitable[T]]) -> T:
        """Run `fn()` (sync or async) once for this task and return its result.

        When the step finished in an earlier execution its checkpointed value is returned
        and `fn` is not called. Otherwise the JSON result is checkpointed (as the live
        claim holder, extending the claim) before it is returned. A name used twice in
        one execution counts up: the second `step("page")` is stored as `page#2`.
        """
        return await self._once(self._unique(name), fn)

    async def _once(self, key: str, fn: Callable[[], Any]) -> Any:
        """The step `key`'s checkpointed value, or `fn()`'s (awaited when awaitable),
        checkpointed first."""
        done = await self._saved()
        if key in done:
            return done[key]
        result = fn()
        if inspect.isawaitable(result):
            result = await result
        value = as_json(result, f"step {key!r} returned a value that")
        await self._checkpoint(key, value)
        return value

    async def await_event(
        self,
        event_name: str,
        timeout: float | dt.timedelta,  # noqa: ASYNC109 - the durable wait's own timeout
    ) -> JSONValue:
        """The payload of the event `event_name`, emitted before or after this call.

        When it has not been emitted yet, the run sleeps on the server (its claim is
        released) and this execution ends; the handler runs again from the top once the
        event arrives, and this call then returns the payload. When `timeout` (seconds,
        at least 1, counted from the first call) passes first, raises `WaitTimeout`.
        """
        seconds = timeout.total_seconds() if isinstance(timeout, dt.timedelta) else timeout
        if seconds < 1:
            raise ValueError("timeout must be at least 1 second")
        step_name = self._unique(f"event:{event_name}")
        self._pause_heartbeats()  # the answer may be "sleeping": no heartbeat after it
        answer = await self._call(
            self._run.wait_for_event(event_name, step_name, math.ceil(seconds))
        )
        if answer.status == "resolved":
            if self._keepalive is not None:
                self._keepalive.paused = False
            return answer.payload
        raise Suspended(f"waiting for event {event_name!r}")

    async def sleep_for(self, name: str, seconds: float | dt.timedelta) -> None:
        """Sleep durably for `seconds`, counted from the first execution that got here."""
        delta = seconds if isinstance(seconds, dt.timedelta) else dt.timedelta(seconds=seconds)
        await self._sleep(name, lambda: _utcnow() + delta)

    async def sleep_until(self, name: str, when: dt.datetime) -> None:
        """Sleep durably until `when` (an aware datetime)."""
        if when.tzinfo is None:
            raise ValueError("when has no time zone; pass an aware datetime")
        await self._sleep(name, lambda: when)

    async def spawn(
        self,
        task_name: str,
        params: JSONValue = None,
        *,
        queue: str | None = None,
        priority: int | None = None,
        concurrency_key: str | None = None,
        max_attempts: int | None = None,
        retry_strategy: RetryStrategy | None = None,
        headers: dict[str, str] | None = None,
        run_at: dt.datetime | None = None,
        workflow_run_id: str | Unset | None = UNSET,
        parent_close: str | None = None,
        step: str | None = None,
    ) -> TaskHandle:
        """Create a child task of this one, once per task, and return its handle
        (`task_id`, `run_id`; join children with `gather`).

        A durable step named `spawn:<step>` (default `spawn:<task_name>`; a second spawn
        of the same name in one execution is `spawn:<name>#2`, as for `step`): a replay
        returns the first execution's ids and creates nothing. The create is sent with an
        idempotency key made of this task's id and the step name, so a worker that dies
        between the create and its checkpoint does not create the task twice either.

        The task goes on `queue` (default: this worker's queue) as a child of this task
        (`parent_task_id`): it is in this task's workflow run, and takes this task's
        priority and concurrency key unless `priority` (-1000 to 1000) or
        `concurrency_key` (1-255 characters) are given. `parent_close` "cancel" (the
        server's default: the child is canceled when this task ends failed or canceled
        while it is unfinished) or "abandon" (it keeps running)."""
        key = self._unique(f"spawn:{step or task_name}")

        async def create() -> Any:
            created = await self.client.create_task(
                self.queue if queue is None else queue,
                task_name,
                params=params,
                headers=headers,
                retry_strategy=retry_strategy,
                max_attempts=max_attempts,
                run_at=run_at,
                workflow_run_id=(
                    self.workflow_run_id if workflow_run_id is UNSET else workflow_run_id
                ),
                idempotency_key=f"{self.task_id}:{key}",
                priority=priority,
                concurrency_key=concurrency_key,
                parent_task_id=self.task_id,
                parent_close=parent_close,
            )
            return to_dict(created)

        created = structure(await self._once(key, create), CreatedTask)
        return TaskHandle(self.client, created.task_id, created.run_id, created.workflow_run_id)

    async def gather(
        self,
        *children: TaskHandle | CreatedTask | str,
        timeout: float | dt.timedelta | None = None,  # noqa: ASYNC109 - the durable wait's own
    ) -> list[JSONValue]:
        """The results of `children` (handles from `spawn`, or task ids), in their order,
        once every one has completed.

        While one is unfinished the run sleeps on the server (its claim is released, no
        worker slot is held) and this execution ends; the handler runs again from the
        top once the last child ends (`spawn` then returns the same children), and this
        call returns their results. Raises `ChildFailed` (naming the child, its status
        and error) when a child failed after its retries or was canceled: the first such
        child in the order given. When `timeout` (seconds, at least 1, counted on the
        server from the first wait; None: no limit) passes first, raises `GatherTimeout`
        with the children's outcomes then. More than 1,000 children are waited for in
        groups of 1,000, one after the other."""
        seconds = seconds_of(timeout)
        if seconds is not None and seconds < 1:
            raise ValueError("timeout must be at least 1 second")
        wait = GATHER_FOREVER if seconds is None else math.ceil(seconds)
        task_ids = [_task_id_of(child) for child in children]
        outcomes: list[TaskOutcome] = []
        for start in range(0, len(task_ids), MAX_GATHER):
            outcomes.extend(await self._wait_for_tasks(task_ids[start : start + MAX_GATHER], wait))
        for outcome in outcomes:
            if outcome.status != "completed":
                raise ChildFailed(outcome.task_id, outcome.status, outcome.error, outcomes)
        return [outcome.result for outcome in outcomes]

    async def heartbeat(self, extend_by: int | None = None) -> None:
        """Extend the claim to now + `extend_by` seconds (default: the claim timeout).

        The worker already does this every third of the claim timeout while the handler
        runs; call it yourself only inside long synchronous stretches."""
        await self._call(self._run.heartbeat(extend_by or self._claim_timeout))

    # -- internals ------------------------------------------------------------------------

    async def _sleep(self, name: str, wake_time: Callable[[], dt.datetime]) -> None:
        """The wake time is the step's checkpoint: the first execution fixes it; every
        execution before it releases the claim until then (schedule) and ends."""
        key = self._unique(f"sleep:{name}")
        done = await self._saved()
        resumed = key in done
        if resumed:
            wake = dt.datetime.fromisoformat(str(done[key]))
        else:
            wake = wake_time()
            await self._checkpoint(key, wake.isoformat())
        left = (wake - _utcnow()).total_seconds()
        if left <= 0:
            return
        if resumed and left <= LOCAL_SLEEP_LIMIT:
            await asyncio.sleep(left)
            return
        self._pause_heartbeats()
        await self._call(self._run.schedule(wake))
        raise Suspended(f"sleeping until {wake.isoformat()}")

    async def _wait_for_tasks(self, task_ids: list[str], timeout_seconds: int) -> list[TaskOutcome]:
        """One wait-for-tasks call: the outcomes when all have ended; `Suspended` when the
        run went to sleep; `GatherTimeout` when the wait timed out."""
        self._pause_heartbeats()  # the answer may be "sleeping": no heartbeat after it
        try:
            answer = await self._call(
                self.client.wait_for_tasks(
                    self.run_id, task_ids, timeout_seconds, claim_token=self._run.token
                )
            )
        except DurableError:  # refused (e.g. an unknown task id): the claim is still held
            self._resume_heartbeats()
            raise
        if answer.status == "sleeping":
            raise Suspended(f"waiting for {len(task_ids)} task(s)")
        self._resume_heartbeats()
        outcomes = list(answer.tasks or [])
        if answer.status == "timeout":
            left = sum(1 for outcome in outcomes if outcome.status == "pending")
            raise GatherTimeout(
                f"{left} of {len(task_ids)} task(s) unfinished when the wait timed out",
                outcomes,
            )
        if answer.status != "completed" or len(outcomes) != len(task_ids):
            raise InvalidResponse(
                200,
                "INVALID_RESPONSE",
                f"unexpected wait-for-tasks answer: status {answer.status!r} with "
                f"{len(outcomes)} of {len(task_ids)} tasks",
            )
        return outcomes

    def _pause_heartbeats(self) -> None:
        if self._keepalive is not None:
            self._keepalive.paused = True

    def _resume_heartbeats(self) -> None:
        if self._keepalive is not None:
            self._keepalive.paused = False

    def _unique(self, name: str) -> str:
        if not isinstance(name, str) or not name:
            raise ValueError("a step name must be a non-empty string")
        count = self._names_used.get(name, 0) + 1
        self._names_used[name] = count
        return name if count == 1 else f"{name}#{count}"

    async def _saved(self) -> dict[str, JSONValue]:
        """The task's checkpoints, read once per execution (a no-op handler never asks)."""
        if self._checkpoints is None:
            self._checkpoints = await self._call(self._run.checkpoints())
        return self._checkpoints

    async def _checkpoint(self, key: str, value: JSONValue) -> None:
        await self._call(self._run.checkpoint(key, value, extend_claim_by=self._claim_timeout))
        assert self._checkpoints is not None
        self._checkpoints[key] = value

    @staticmethod
    async def _call(call: Awaitable[T]) -> T:
        """A call on the held run; a 409 means the claim is gone (`ClaimLost`)."""
        try:
            return await call
        except (Conflict, NotFound) as exc:
            raise ClaimLost(str(exc)) from exc
