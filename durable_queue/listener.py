"""The listener: one LISTEN connection per process, fanning "a run became claimable"
notifications out to long-polling claim requests.

`Waiters` is the registry: per queue, a FIFO of `Waiter`s (each an asyncio future).
It wakes one waiter per notification (never the whole queue), keeps one timer per
queue for the earliest known `available_at` (so scheduled runs and retries are
delivered when due, by one waiter), wakes every waiter once after a reconnect,
and answers all of them at shutdown.

`Listener` owns the dedicated connection (outside the pool, named
`durable-queue-listener` in pg_stat_activity): it probes it when quiet,
reconnects with backoff when it drops, and feeds notifications to `Waiters`.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import AsyncIterator

import aiopg
from aiohttp import web

from durable_queue.api.keys import LISTENER
from durable_queue.config import Settings
from durable_queue.db import CONNECTION_ERRORS, LISTENER_APPLICATION_NAME, queries

log = logging.getLogger("durable_queue.listener")


class Wake(enum.Enum):
    """Why a waiter was woken."""

    NOTIFIED = "notified"  # a run of its queue became claimable (or a full batch handed on)
    DUE = "due"  # the queue's earliest known available_at has come
    RECONNECTED = "reconnected"  # the listener was away: notifications may have been lost
    SHUTDOWN = "shutdown"  # the server is stopping: answer now with nothing


class Waiter:
    """One long-polling claim request on a queue, woken through its future.

    `idle` is true while the request sleeps in `wait()` and false while it
    claims; a wake that arrives while it claims stays on the future and is
    consumed by its next `wait()`, so no wake-up is lost in between.
    """

    __slots__ = ("_future", "idle", "queue_name")

    def __init__(self, queue_name: str) -> None:
        self.queue_name = queue_name
        self.idle = False
        self._future: asyncio.Future[Wake] = asyncio.get_running_loop().create_future()

    @property
    def woken(self) -> bool:
        """A wake is pending (not consumed by `wait()` yet)."""
        return self._future.done()

    @property
    def pending_wake(self) -> Wake | None:
        return self._future.result() if self._future.done() else None

    def wake(self, reason: Wake) -> bool:
        """Resolve the future unless it already is; True when this call woke it."""
        if self._future.done():
            return False
        self._future.set_result(reason)
        return True

    async def wait(self, seconds: float) -> Wake | None:
        """Sleep until woken (the reason, consumed) or `seconds` pass (None)."""
        self.idle = True
        try:
            await asyncio.wait((self._future,), timeout=seconds)
        finally:
            self.idle = False
        if not self._future.done():
            return None
        reason = self._future.result()
        self._future = asyncio.get_running_loop().create_future()
        return reason


class Waiters:
    """The long-polling claim requests of this process, FIFO per queue."""

    def __init__(self) -> None:
        self._by_queue: dict[str, dict[Waiter, None]] = {}  # insertion-ordered sets
        self._due: dict[str, asyncio.TimerHandle] = {}
        self.closed = False

    def __len__(self) -> int:
        return sum(len(waiters) for waiters in self._by_queue.values())

    def idle_count(self) -> int:
        """How many waiters are asleep and not woken (registered, not claiming, no wake due)."""
        return sum(w.idle and not w.woken for waiters in self._by_queue.values() for w in waiters)

    def register(self, queue_name: str) -> Waiter:
        """A new waiter at the back of its queue's line; a shutdown wakes it at once."""
        waiter = Waiter(queue_name)
        if self.closed:
            waiter.wake(Wake.SHUTDOWN)
        self._by_queue.setdefault(queue_name, {})[waiter] = None
        return waiter

    def unregister(self, waiter: Waiter) -> None:
        """Remove a waiter; a wake it got but did not use goes to the next one in line."""
        waiters = self._by_queue.get(waiter.queue_name)
        if waiters is None or waiters.pop(waiter, False) is False:
            return
        if not waiters:
            del self._by_queue[waiter.queue_name]
            timer = self._due.pop(waiter.queue_name, None)
            if timer is not None:
                timer.cancel()
            return
        reason = waiter.pending_wake
        if reason is not None and reason is not Wake.SHUTDOWN:
            self.wake_one(waiter.queue_name, reason)

    def wake_one(self, queue_name: str, reason: Wake, *, exclude: Waiter | None = None) -> bool:
        """Wake the first waiter in line that is not woken yet, preferring one that sleeps
        over one that is claiming; False when every waiter of the queue is woken already."""
        fallback = None
        for waiter in self._by_queue.get(queue_name, ()):
            if waiter is exclude or waiter.woken:
                continue
            if waiter.idle:
                return waiter.wake(reason)
            if fallback is None:
                fallback = waiter
        return fallback.wake(reason) if fallback is not None else False

    def pass_on(self, waiter: Waiter) -> bool:
        """`waiter` claimed a full batch and leaves: more runs may be due, wake the next one."""
        return self.wake_one(waiter.queue_name, Wake.NOTIFIED, exclude=waiter)

    def wake_all(self, reason: Wake) -> None:
        for waiters in self._by_queue.values():
            for waiter in waiters:
                waiter.wake(reason)

    def wake_at(self, queue_name: str, delay: float) -> None:
        """Wake one waiter of the queue in `delay` seconds, unless one is due sooner already."""
        if self.closed or queue_name not in self._by_queue:
            return
        loop = asyncio.get_running_loop()
        when = loop.time() + delay
        timer = self._due.get(queue_name)
        if timer is not None:
            if timer.when() <= when:
                return
            timer.cancel()
        self._due[queue_name] = loop.call_at(when, self._due_now, queue_name)

    def _due_now(self, queue_name: str) -> None:
        self._due.pop(queue_name, None)
        self.wake_one(queue_name, Wake.DUE)

    def close(self) -> None:
        """Shutdown: wake every waiter (they answer with nothing) and every later one too."""
        self.closed = True
        for timer in self._due.values():
            timer.cancel()
        self._due.clear()
        self.wake_all(Wake.SHUTDOWN)


class Listener:
    """The LISTEN connection of this process and the waiters it wakes."""

    def __init__(
        self,
        dsn: str,
        *,
        probe_seconds: float = 5.0,
        min_backoff: float = 0.1,
        max_backoff: float = 5.0,
        connect_timeout: float = 10.0,
    ) -> None:
        self.dsn = dsn
        self.probe_seconds = probe_seconds
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.connect_timeout = connect_timeout
        self.waiters = Waiters()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._connected = asyncio.Event()
        self._retry_now = asyncio.Event()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def waiter_count(self) -> int:
        """Long-polling claim requests registered in this process."""
        return len(self.waiters)

    async def start(self, ready_timeout: float = 10.0) -> None:
        """Start listening; wait (a bounded time) for the first connection."""
        self._task = asyncio.create_task(self._run(), name="durable-queue-listener")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(ready_timeout):
                await self._connected.wait()

    async def stop(self) -> None:
        """Answer every waiter, then stop listening and close the connection."""
        self.waiters.close()
        self._stopping = True
        task, self._task = self._task, None
        # Cancel until it ends: Python 3.11's asyncio.wait_for (which aiopg uses inside) can
        # swallow a cancellation that arrives just as the awaited operation completes.
        while task is not None and not task.done():
            task.cancel()
            await asyncio.wait((task,), timeout=0.5)

    async def wait_connected(self, seconds: float) -> bool:
        """Whether the listener is connected within `seconds`, retrying at once (not after
        the backoff) if it is not."""
        if self.connected:
            return True
        self._retry_now.set()
        try:
            async with asyncio.timeout(seconds):
                await self._connected.wait()
        except TimeoutError:
            return False
        return True

    async def _run(self) -> None:
        delay = self.min_backoff
        while not self._stopping:
            try:
                conn = await aiopg.connect(
                    self.dsn,
                    timeout=self.connect_timeout,
                    application_name=LISTENER_APPLICATION_NAME,
                )
            except Exception as exc:
                _log_failure("listener cannot connect", exc, delay)
                await self._backoff(delay)
                delay = min(delay * 2, self.max_backoff)
                continue
            try:
                await queries.listen_claimable(conn)
                self._connected.set()
                delay = self.min_backoff
                log.info("listener connected")
                # Whatever was notified while we were not listening is lost: every waiter
                # looks once for itself.
                self.waiters.wake_all(Wake.RECONNECTED)
                await self._receive(conn)
            except Exception as exc:
                _log_failure("listener connection lost", exc, delay)
            finally:
                self._connected.clear()
                conn.close()
            await self._backoff(delay)
            delay = min(delay * 2, self.max_backoff)

    async def _receive(self, conn: aiopg.Connection) -> None:
        """Dispatch notifications until the connection fails; probe it whenever it is quiet."""
        while not self._stopping:
            try:
                async with asyncio.timeout(self.probe_seconds):
                    notify = await conn.notifies.get()
            except TimeoutError:
                async with asyncio.timeout(self.probe_seconds):
                    await queries.ping(conn)
                continue
            if notify.payload:
                self.waiters.wake_one(notify.payload, Wake.NOTIFIED)
            else:
                log.warning("notification without a queue name", extra={"channel": notify.channel})

    async def _backoff(self, delay: float) -> None:
        try:
            async with asyncio.timeout(delay):
                await self._retry_now.wait()
        except TimeoutError:
            pass
        finally:
            self._retry_now.clear()


def _log_failure(message: str, exc: BaseException, retry_in: float) -> None:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, CONNECTION_ERRORS):
        log.warning(message, extra={"reason": reason, "retry_in_seconds": retry_in})
    else:
        log.error(message, extra={"reason": reason, "retry_in_seconds": retry_in}, exc_info=exc)


def setup_listener(app: web.Application, settings: Settings) -> None:
    """Open the listener with the app and answer every waiter as soon as shutdown begins."""

    async def listener(app: web.Application) -> AsyncIterator[None]:
        app[LISTENER] = Listener(
            settings.database_url, probe_seconds=max(settings.listener_probe_seconds, 1)
        )
        await app[LISTENER].start()
        try:
            yield
        finally:
            await app[LISTENER].stop()

    async def answer_waiters(app: web.Application) -> None:
        if LISTENER in app:
            app[LISTENER].waiters.close()

    app.cleanup_ctx.append(listener)
    app.on_shutdown.append(answer_waiters)
