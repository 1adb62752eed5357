"""The listener: one LISTEN connection per process, whose "a run became claimable"
notifications wake long-polling claim requests through `Waiters`, and whose schedule
notifications wake the scheduler (`on_schedules`).

The connection is dedicated (outside the pool, named `durable-queue-listener` in
pg_stat_activity); it is probed when quiet, reconnected with backoff when it drops,
and after each (re)connect every waiter is woken once, since notifications sent
while nobody listened are lost. Which waiter to wake is `durable_queue.waiters`' job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import aiopg

from durable_queue.db import CONNECTION_ERRORS, LISTENER_APPLICATION_NAME, queries
from durable_queue.result_waits import ResultWaiters
from durable_queue.waiters import Waiters, Wake

log = logging.getLogger("durable_queue.listener")
SCHEDULES_CHANNEL = "durable_queue_schedules"
TASK_DONE_CHANNEL = "durable_queue_task_done"


class Listener:
    """The LISTEN connection of this process, feeding notifications to `waiters`."""

    def __init__(
        self,
        dsn: str,
        waiters: Waiters,
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
        self.waiters = waiters
        # called on a schedule notification, and after each (re)connect
        self.on_schedules: list[Callable[[], None]] = []
        # the result waits of this process (GET /tasks/{id}/result), when the app has them
        self.result_waiters: ResultWaiters | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._connected = asyncio.Event()
        self._retry_now = asyncio.Event()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def start(self, ready_timeout: float = 10.0) -> None:
        """Start listening; wait (a bounded time) for the first connection."""
        self._task = asyncio.create_task(self._run(), name="durable-queue-listener")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(ready_timeout):
                await self._connected.wait()

    async def stop(self) -> None:
        """Stop listening and close the connection (the waiters are the caller's to close)."""
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
                await queries.listen_schedules(conn)
                await queries.listen_task_done(conn)
                self.waiters.listening = True
                self._connected.set()
                delay = self.min_backoff
                log.info("listener connected")
                # Whatever was notified while we were not listening is lost: every waiter
                # looks once for itself.
                self.waiters.wake_all(Wake.RECONNECTED)
                self._schedules_changed()
                if self.result_waiters is not None:
                    self.result_waiters.wake_all()
                await self._receive(conn)
            except Exception as exc:
                _log_failure("listener connection lost", exc, delay)
            finally:
                self.waiters.stop_listening()
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
            self._dispatch(notify)
            while not conn.notifies.empty():  # the rest of a burst, without a task per get
                self._dispatch(conn.notifies.get_nowait())

    def _dispatch(self, notify: Any) -> None:
        if notify.channel == SCHEDULES_CHANNEL:
            self._schedules_changed()
        elif notify.channel == TASK_DONE_CHANNEL:
            if self.result_waiters is not None:
                self.result_waiters.notified(notify.payload)
        elif notify.payload:
            self.waiters.notified(notify.payload)
        else:
            log.warning("notification without a queue name", extra={"channel": notify.channel})

    def _schedules_changed(self) -> None:
        for callback in self.on_schedules:
            callback()

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
