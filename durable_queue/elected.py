"""A periodic job that one server process among many runs, elected by an advisory lock.

Every process runs the loop, but only the holder of a session-level PostgreSQL
advisory lock does the work. The lock lives on a connection of its own, so when
its process dies the lock goes with it and another process takes over at its
next interval. Maintenance (the sweeper) and the monitoring history sampler
are such jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import ClassVar

import aiopg

from durable_queue.db import connect, domain_errors, queries
from durable_queue.errors import Unavailable


class ElectedLoop:
    """Hold (or try to take) the lock, do one pass if held, wait one interval; until `stop()`.

    A subclass names its `job` (in log lines, "maintenance"), the `role` of the
    elected process ("sweeper"), the `application_name` of its lock connection,
    and defines `try_lock` and `one_pass`. Stopping lets the current pass finish
    instead of cancelling it, so no pooled connection is abandoned mid-query.
    """

    job: ClassVar[str]
    role: ClassVar[str]
    application_name: ClassVar[str]
    log: ClassVar[logging.Logger]

    def __init__(self, dsn: str, *, interval: float) -> None:
        self.dsn = dsn
        self.interval = interval
        self.active = False  # whether this process holds the lock
        self._lock_conn: aiopg.Connection | None = None
        self._stopping = asyncio.Event()
        self._nudged = asyncio.Event()  # set by stop() and wake(): the wait ends early

    async def try_lock(self, conn: aiopg.Connection) -> bool:
        """Take the job's advisory lock on `conn` if it is free; whether it was taken."""
        raise NotImplementedError

    async def one_pass(self) -> object:
        """The job's work, done while this process holds the lock."""
        raise NotImplementedError

    def seconds_to_next_pass(self, outcome: object) -> float:
        """How long to wait after a pass that returned `outcome` (the interval; a job
        may answer sooner, e.g. when its next piece of work is due)."""
        return self.interval

    async def run(self) -> None:
        while not self._stopping.is_set():
            wait = self.interval
            try:
                with domain_errors():
                    if await self._hold_lock():
                        wait = self.seconds_to_next_pass(await self.one_pass())
            except Unavailable as exc:
                reason = str(exc.__cause__ or exc).strip()[:200]
                self.log.warning(f"{self.job}: database unavailable", extra={"reason": reason})
                self._drop_lock(lost=True)
            except Exception:
                self.log.exception(f"{self.job} pass failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(wait, 0.0)):
                    await self._nudged.wait()
            self._nudged.clear()
        self._drop_lock(lost=False)

    def stop(self) -> None:
        """Ask `run()` to return after the current pass."""
        self._stopping.set()
        self._nudged.set()

    def wake(self) -> None:
        """Start the next pass now (or as soon as the current one ends), not after the wait."""
        self._nudged.set()

    @contextlib.asynccontextmanager
    async def running(self, stop_timeout: float = 30.0) -> AsyncIterator[None]:
        """`run()` in a task for the body's duration (an app's cleanup context); on exit,
        stop and let the current pass finish, abandoning it after `stop_timeout` seconds."""
        task = asyncio.create_task(self.run(), name=f"durable-queue-{self.job}")
        try:
            yield
        finally:
            self.stop()
            try:
                await asyncio.wait_for(task, timeout=stop_timeout)
            except TimeoutError:
                self.log.warning(f"{self.job} pass did not finish in time; abandoned")

    async def _hold_lock(self) -> bool:
        """Whether this process is the elected one; checks the lock connection is alive."""
        if self._lock_conn is None or self._lock_conn.closed:
            self.active = False
            self._lock_conn = await connect(
                self.dsn, connect_timeout=10.0, application_name=self.application_name
            )
        if self.active:
            await queries.ping(self._lock_conn)  # a dead connection means the lock is gone
        else:
            self.active = bool(await self.try_lock(self._lock_conn))
            if self.active:
                self.log.info(f"{self.job}: this instance is now the {self.role}")
        return self.active

    def _drop_lock(self, *, lost: bool) -> None:
        """Close the lock connection (the lock goes with it): `lost` when the database
        took it away, else a clean release at stop."""
        if self.active:
            verb = "lost" if lost else "released"
            log_line = self.log.warning if lost else self.log.info
            log_line(f"{self.job}: {verb} the {self.role} lock")
        self.active = False
        if self._lock_conn is not None:
            with contextlib.suppress(Exception):
                self._lock_conn.close()
            self._lock_conn = None
