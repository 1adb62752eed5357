"""`Worker`: turn async functions into durable tasks of one queue.

    worker = Worker(client, queue="orders", concurrency=8, claim_timeout=60)

    @worker.task("process_order")
    async def process_order(ctx: TaskContext, params: dict) -> dict:
        charge = await ctx.step("charge", lambda: charge_card(params))
        approval = await ctx.await_event(f"approved:{ctx.task_id}", timeout=3600)
        await ctx.sleep_for("cooldown", 30)
        return {"charge": charge, "approval": approval}

    await worker.run()   # until SIGINT/SIGTERM or worker.stop()

The worker claims with long polling, in batches of up to its free slots, and runs at
most `concurrency` handlers at once. A handler's return value completes the run; an
exception fails it with the exception's type, message and traceback (so the task's
retries and backoff apply); a run that sleeps (event wait, durable sleep) is neither.
Stopping is graceful: no new claims, in-flight handlers get `grace_period` seconds, and
the runs still going after it are released to the queue (scheduled to now), which
spends no attempt.

A task may be declared with a schedule, `@worker.task("report", schedule=Schedule(cron=
"0 7 * * *", timezone="Europe/Amsterdam"))`: the worker upserts it on its queue when it
starts, before its first claim; its tasks tell the handler their slot
(`ctx.scheduled_for`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import logging
import signal
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, TypeVar

import attrs

from durable_queue_client import claims
from durable_queue_client.claims import HeldRun
from durable_queue_client.client import DurableClient
from durable_queue_client.context import (
    ClaimLost,
    Keepalive,
    StepValueError,
    Suspended,
    TaskContext,
    as_json,
)
from durable_queue_client.errors import (
    ChildFailed,
    Conflict,
    ConnectionFailed,
    DurableError,
    GatherTimeout,
    NotFound,
    Unavailable,
    WaitTimeout,
)
from durable_queue_client.models import CreateScheduleRequest, FailedRun, JSONValue, TaskDetail
from durable_queue_client.schedules import Schedule

__all__ = [
    "ChildFailed",
    "ClaimLost",
    "GatherTimeout",
    "Handler",
    "Schedule",
    "StepValueError",
    "TaskContext",
    "UnknownTask",
    "WaitTimeout",
    "Worker",
    "wait_for_task",
]

Handler = Callable[[TaskContext, Any], Awaitable[JSONValue]]
OnError = Callable[[TaskContext, BaseException], Awaitable[None] | None]
H = TypeVar("H", bound=Handler)

log = logging.getLogger("durable_queue_client.worker")
log.addHandler(logging.NullHandler())

MAX_ERROR_CHARS: Final = 1024  # the server's limit on a run's error
MAX_HEAD_CHARS: Final = 400  # of it, for the type and message (the traceback's tail after)
CLAIM_BACKOFF: Final = (0.5, 10.0)  # after a failed claim: first delay, cap (doubling)
REPORT_TRIES: Final = 3  # complete / fail / release, when the server is unreachable


class UnknownTask(LookupError):
    """A claimed task's name has no handler in this worker (the run is failed)."""


@attrs.define
class _Running:
    held: HeldRun
    task: asyncio.Task[None]


def describe_error(exc: BaseException) -> str:
    """`module.Type: message` and the traceback, as sent to the fail endpoint."""
    kind = type(exc)
    name = (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )
    head = f"{name}: {exc}" if str(exc) else name
    if len(head) > MAX_HEAD_CHARS:
        head = head[: MAX_HEAD_CHARS - 3] + "..."
    title = "Traceback (most recent call last):\n"
    frames = "".join(traceback.format_tb(exc.__traceback__)).rstrip()
    room = MAX_ERROR_CHARS - len(head) - len(title) - 2
    if len(frames) > room:
        frames = "..." + frames[-(room - 3) :]  # the innermost frames
    return f"{head}\n{title}{frames}" if frames else head


class Worker:
    """Runs the handlers of one queue's tasks; see the module docstring.

    `claim_timeout` (seconds) is how long a claim lasts without a heartbeat; the worker
    heartbeats every third of it while a handler runs, so a crashed worker's runs are
    taken over about `claim_timeout` seconds later. `long_poll_seconds` (1-30) is how
    long one claim request may wait for work. `on_error(ctx, exc)` (sync or async) is
    called when a handler raises, before the run is failed. With `create_queue` the
    queue is created when missing.
    """

    def __init__(
        self,
        client: DurableClient,
        queue: str,
        *,
        concurrency: int = 8,
        claim_timeout: int = 60,
        long_poll_seconds: int = 30,
        grace_period: float = 30.0,
        on_error: OnError | None = None,
        create_queue: bool = True,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if not isinstance(claim_timeout, int) or claim_timeout < 1:
            raise ValueError("claim_timeout must be a whole number of seconds, at least 1")
        if not 1 <= long_poll_seconds <= 30:
            raise ValueError("long_poll_seconds must be between 1 and 30")
        if grace_period < 0:
            raise ValueError("grace_period must not be negative")
        self.client = client
        self.queue = queue
        self.concurrency = concurrency
        self.claim_timeout = claim_timeout
        self.long_poll_seconds = long_poll_seconds
        self.grace_period = grace_period
        self.on_error = on_error
        self.create_queue = create_queue
        self._handlers: dict[str, Handler] = {}
        self._schedules: dict[str, CreateScheduleRequest] = {}
        self._active: dict[str, _Running] = {}
        self._stop = asyncio.Event()
        self._hurry = asyncio.Event()
        self._slot_freed = asyncio.Event()
        self._drained = asyncio.Event()
        self._releasing = False
        self._running = False
        self._claiming = False

    # -- registration ---------------------------------------------------------------------

    def task(
        self, name: str | None = None, *, schedule: Schedule | None = None
    ) -> Callable[[H], H]:
        """Register the decorated async function as the handler of tasks named `name`
        (default: the function's name). It is called as `handler(ctx, params)`. With
        `schedule`, the worker also upserts that schedule of the task on its queue when
        it starts (see `Schedule`)."""

        def register(fn: H) -> H:
            self.register(name or fn.__name__, fn, schedule=schedule)
            return fn

        return register

    def register(self, name: str, handler: Handler, *, schedule: Schedule | None = None) -> None:
        if not inspect.iscoroutinefunction(handler):
            raise TypeError(f"the handler of {name!r} must be an async function")
        if name in self._handlers:
            raise ValueError(f"a handler of {name!r} is already registered")
        definition = None
        if schedule is not None:
            definition = schedule.definition(self.queue, name)
            if definition.name in self._schedules:
                raise ValueError(f"a schedule named {definition.name!r} is already declared")
        self._handlers[name] = handler
        if definition is not None:
            self._schedules[definition.name] = definition

    @property
    def handlers(self) -> Mapping[str, Handler]:
        return dict(self._handlers)

    @property
    def schedules(self) -> Mapping[str, CreateScheduleRequest]:
        """The declared schedules' definitions, by schedule name."""
        return dict(self._schedules)

    @property
    def in_flight(self) -> int:
        """How many handlers are executing now."""
        return len(self._active)

    @property
    def claiming(self) -> bool:
        """Whether the worker asks for work (false once stopping has ended its last claim)."""
        return self._claiming

    # -- running --------------------------------------------------------------------------

    def stop(self, *, now: bool = False) -> None:
        """Stop claiming; let in-flight handlers finish within the grace period (`now`:
        release their runs at once). `run()` returns when every run is settled."""
        self._stop.set()
        if now:
            self._hurry.set()

    async def run(self, *, handle_signals: bool = True) -> None:
        """Claim and execute tasks until `stop()` (or SIGINT/SIGTERM when `handle_signals`
        and running in the main thread: the first stops gracefully, a second at once)."""
        if self._running:
            raise RuntimeError("this worker is already running")
        if not self._handlers:
            raise RuntimeError("no handlers registered: decorate them with @worker.task()")
        self._running = True
        self._stop.clear()
        self._hurry.clear()
        self._drained.clear()
        self._releasing = False
        signals = self._install_signals() if handle_signals else []
        log.info(
            "worker started on queue %s (concurrency %d, tasks: %s)",
            self.queue,
            self.concurrency,
            ", ".join(sorted(self._handlers)),
            extra={
                "durable": {
                    "queue": self.queue,
                    "event": "worker_started",
                    # "uvloop" or "asyncio": the loop the worker runs on
                    "loop": type(asyncio.get_running_loop()).__module__.split(".")[0],
                }
            },
        )
        try:
            if self.create_queue:
                await self._ensure_queue()
            await self._upsert_schedules()
            claiming = asyncio.create_task(self._claim_loop())
            try:
                await self._drain()
            except asyncio.CancelledError:  # run() itself cancelled: release, then end
                self.stop(now=True)
                await self._drain()
                raise
            finally:
                if not self._stop.is_set():
                    self.stop(now=True)
                await claiming
        finally:
            for sig in signals:
                asyncio.get_running_loop().remove_signal_handler(sig)
            self._running = False
            log.info(
                "worker stopped on queue %s",
                self.queue,
                extra={"durable": {"queue": self.queue, "event": "worker_stopped"}},
            )

    def _install_signals(self) -> list[signal.Signals]:
        if threading.current_thread() is not threading.main_thread():
            return []
        loop = asyncio.get_running_loop()
        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self._on_signal, sig)
            except (NotImplementedError, RuntimeError):  # not on this platform / loop
                continue
            installed.append(sig)
        return installed

    def _on_signal(self, sig: signal.Signals) -> None:
        if self._stop.is_set():
            log.warning("%s again: releasing in-flight runs now", sig.name)
            self.stop(now=True)
        else:
            log.info(
                "%s: stopping (in-flight runs get %gs; send it again to release them now)",
                sig.name,
                self.grace_period,
            )
            self.stop()

    async def _ensure_queue(self) -> None:
        try:
            await self.client.create_queue(self.queue)
        except Conflict:
            pass  # it exists

    async def _upsert_schedules(self) -> None:
        """Create or update the declared schedules, before the first claim. Workers
        starting together leave one schedule per declaration (`upsert_schedule`); an
        error (a bad cron expression, the server unreachable) ends `run()`."""
        for definition in self._schedules.values():
            schedule = await self.client.upsert_schedule(definition)
            log.info(
                "schedule %s of %s on queue %s upserted (next fire at %s)",
                schedule.name,
                schedule.task_name,
                self.queue,
                schedule.next_fire_at.isoformat() if schedule.next_fire_at else "none",
                extra={
                    "durable": {
                        "queue": self.queue,
                        "task_name": schedule.task_name,
                        "event": "schedule_upserted",
                    }
                },
            )

    async def _first(self, *events: asyncio.Event, within: float | None = None) -> None:
        """Until one of `events` is set (or `within` seconds pass)."""
        waits = [asyncio.ensure_future(event.wait()) for event in events]
        try:
            await asyncio.wait(waits, timeout=within, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    async def _claim_loop(self) -> None:
        """Claim while not stopping; what a poll brings once stopping is released at
        once. A long poll in flight when `stop()` comes is abandoned when no run of this
        worker is being released (the server drops a waiter whose client left; a run
        claimed at that very instant comes back when its claim expires, which spends no
        attempt); while runs are released it is let finish, since it may be the one
        the server hands them to."""
        self._claiming = True
        try:
            delay = CLAIM_BACKOFF[0]
            while not self._stop.is_set():
                free = self.concurrency - len(self._active)
                if free <= 0:
                    self._slot_freed.clear()
                    await self._first(self._slot_freed, self._stop)
                    continue
                poll = asyncio.ensure_future(
                    claims.claim(
                        self.client,
                        self.queue,
                        limit=free,
                        claim_timeout=self.claim_timeout,
                        long_poll_seconds=self.long_poll_seconds,
                    )
                )
                await self._poll_or_stop(poll)
                if not poll.done():
                    poll.cancel()
                    await asyncio.gather(poll, return_exceptions=True)
                    return
                try:
                    got = poll.result()
                except DurableError as exc:
                    log.warning(
                        "claiming from %s failed (%s); again in %.1fs",
                        self.queue,
                        exc,
                        delay,
                        extra={"durable": {"queue": self.queue, "event": "claim_failed"}},
                    )
                    await self._first(self._stop, within=delay)
                    delay = min(delay * 2, CLAIM_BACKOFF[1])
                    continue
                delay = CLAIM_BACKOFF[0]
                held = [HeldRun(self.client, claim.task, claim.token) for claim in got]
                if self._stop.is_set():
                    await asyncio.gather(*(self._release_unstarted(run) for run in held))
                    return
                for run in held:
                    self._start(run)
        except BaseException:
            self.stop(now=True)  # the handlers are released rather than left behind
            raise
        finally:
            self._claiming = False

    async def _poll_or_stop(self, poll: asyncio.Future[Any]) -> None:
        """Until the poll ends, or stopping lets it be abandoned (see `_claim_loop`)."""
        stopping = asyncio.ensure_future(self._stop.wait())
        await asyncio.wait({poll, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if poll.done():
            return
        drained = asyncio.ensure_future(self._drained.wait())
        hurry = asyncio.ensure_future(self._hurry.wait())
        try:
            await asyncio.wait({poll, drained, hurry}, return_when=asyncio.FIRST_COMPLETED)
            if drained.done() and not hurry.done() and self._releasing:
                await asyncio.wait({poll, hurry}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            drained.cancel()
            hurry.cancel()

    async def _release_unstarted(self, held: HeldRun) -> None:
        now = dt.datetime.now(dt.UTC)
        try:
            await held.schedule(now)
        except DurableError as exc:
            log.warning("could not release run %s: %s", held.task.run_id, exc)
            return
        log.info(
            "%s run %s released to the queue (claimed while stopping)",
            held.task.task_name,
            held.task.run_id,
            extra={
                "durable": {"queue": self.queue, "run_id": held.task.run_id, "event": "released"}
            },
        )

    def _start(self, held: HeldRun) -> None:
        task = asyncio.create_task(self._execute(held), name=f"durable-run-{held.task.run_id}")
        self._active[held.task.run_id] = _Running(held, task)

        def settled(_: asyncio.Task[None]) -> None:
            self._active.pop(held.task.run_id, None)
            self._slot_freed.set()

        task.add_done_callback(settled)

    async def _drain(self) -> None:
        """Once stopping, in-flight handlers get the grace period; the rest are released."""
        await self._stop.wait()
        try:
            await self._settle_in_flight()
        finally:
            self._drained.set()

    async def _settle_in_flight(self) -> None:
        if not self._active:
            return
        tasks = [running.task for running in self._active.values()]
        log.info(
            "waiting up to %gs for %d in-flight run(s)",
            self.grace_period,
            len(tasks),
            extra={"durable": {"queue": self.queue, "event": "draining"}},
        )
        everything = asyncio.ensure_future(asyncio.wait(tasks))
        hurry = asyncio.ensure_future(self._hurry.wait())
        await asyncio.wait(
            {everything, hurry}, timeout=self.grace_period, return_when=asyncio.FIRST_COMPLETED
        )
        hurry.cancel()
        everything.cancel()
        left = [task for task in tasks if not task.done()]
        if left:
            self._releasing = True
            for task in left:
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- one run --------------------------------------------------------------------------

    async def _execute(self, held: HeldRun) -> None:
        task = held.task
        fields = {
            "queue": self.queue,
            "task_name": task.task_name,
            "task_id": task.task_id,
            "run_id": task.run_id,
            "attempt": task.attempt,
        }
        me = asyncio.current_task()
        assert me is not None
        keepalive = Keepalive(held, self.claim_timeout, me)
        ctx = TaskContext(held, self.queue, self.claim_timeout, keepalive)
        started = time.monotonic()

        def note(level: int, event: str, message: str, *args: Any, **more: Any) -> None:
            took = round((time.monotonic() - started) * 1000, 1)
            extra = {**fields, "event": event, "duration_ms": took, **more}
            log.log(
                level,
                "%s run %s (attempt %d) " + message,
                task.task_name,
                task.run_id,
                task.attempt,
                *args,
                extra={"durable": extra},
            )

        note(logging.DEBUG, "started", "started")
        handler = self._handlers.get(task.task_name)
        try:
            if handler is None:
                known = ", ".join(sorted(self._handlers))
                error: BaseException = UnknownTask(
                    f"unknown task name {task.task_name!r}: this worker handles {known}"
                )
                await self._hook(ctx, error)
                await self._fail(held, error, note)
                return
            beats = asyncio.create_task(keepalive.beat_forever())
            try:
                result = await handler(ctx, ctx.params)
                value = as_json(result, f"the result of {task.task_name!r}")
            except Suspended as why:
                note(logging.INFO, "suspended", "suspended: %s", why)
                return
            except ClaimLost as why:
                note(logging.WARNING, "claim_lost", "lost its claim: %s", why)
                return
            except Exception as exc:
                await self._hook(ctx, exc)
                await self._fail(held, exc, note)
                return
            finally:
                beats.cancel()
            await self._report(held, lambda: held.complete(value), note)
            note(logging.INFO, "completed", "completed")
        except asyncio.CancelledError:
            if keepalive.lost:
                me.uncancel()
                note(logging.WARNING, "claim_lost", "lost its claim (heartbeat refused)")
            elif self._releasing:
                me.uncancel()
                now = dt.datetime.now(dt.UTC)
                if await self._report(held, lambda: held.schedule(now), note):
                    note(logging.INFO, "released", "released to the queue (worker stopping)")
            else:
                raise

    async def _hook(self, ctx: TaskContext, exc: BaseException) -> None:
        if self.on_error is None:
            return
        try:
            outcome = self.on_error(ctx, exc)
            if inspect.isawaitable(outcome):
                await outcome
        except Exception:
            log.exception("on_error hook raised (ignored)")

    async def _fail(self, held: HeldRun, exc: BaseException, note: Callable[..., None]) -> None:
        answers: list[FailedRun] = []

        async def fail() -> None:
            answers.append(await held.fail(describe_error(exc)))

        if not await self._report(held, fail, note):
            return
        retry_at = answers[0].next_attempt_at if answers else None
        error = f"{type(exc).__name__}: {exc}"
        if retry_at:
            note(
                logging.WARNING, "failed", "failed (%s); retry at %s", error, retry_at, error=error
            )
        else:
            note(logging.ERROR, "failed", "failed (%s); no attempts left", error, error=error)

    async def _report(
        self, held: HeldRun, call: Callable[[], Awaitable[object]], note: Callable[..., None]
    ) -> bool:
        """Send a run's outcome; retried while the server is unreachable or answers 503
        (the outcome of such a call is unknown). A complete or fail repeated with the
        run's claim token after it landed is answered with its first outcome; a 409 on a
        repeat (a release, or a server that gives no tokens) also means the first landed.
        False when it could not be reported."""
        for attempt in range(1, REPORT_TRIES + 1):
            try:
                await call()
                return True
            except (Conflict, NotFound) as exc:
                if attempt == 1:
                    note(logging.WARNING, "claim_lost", "lost its claim: %s", exc)
                return attempt > 1
            except DurableError as exc:
                if attempt == REPORT_TRIES or not isinstance(exc, ConnectionFailed | Unavailable):
                    note(
                        logging.ERROR,
                        "report_failed",
                        "outcome not reported (%s); its claim will expire and it will run again",
                        exc,
                    )
                    return False
                await asyncio.sleep(CLAIM_BACKOFF[0] * attempt)
        return False


async def wait_for_task(
    client: DurableClient, task_id: str, *, interval: float = 0.2
) -> TaskDetail:
    """The task once it is finished (completed, failed or canceled), asking every
    `interval` seconds (wrap it in `asyncio.timeout()` to bound the wait)."""
    while True:
        detail = await client.get_task(task_id)
        if detail.status != "pending":
            return detail
        await asyncio.sleep(interval)
