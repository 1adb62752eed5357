"""`serve --workers N`: N server processes sharing one port, watched by the parent.

The parent has already started the embedded PostgreSQL (if any) and applied the
migrations; it serves nothing itself. Each child is `durable-queue serve-worker`, a
full server (its own pool, listener and maintenance loop; the sweeper lock keeps one
sweeper among them) bound with SO_REUSEPORT, so the kernel spreads new connections
over the children.

The protocol with a child is two pipes:
- its stdout: one line, READY, once it listens (anything else, or EOF, means it failed);
- its stdin: never written; EOF means the parent is gone, and the child stops.

A child that dies after it was ready is logged at ERROR and replaced (a crash in one
process must not take the port away from the others); one that dies before it is ready,
or more than RESTART_BUDGET restarts within RESTART_WINDOW seconds, stops the whole
server with exit status 1, so that a process manager sees the failure. SIGTERM or
SIGINT to the parent: SIGTERM to every child, wait for them (SIGKILL after
STOP_TIMEOUT), then the parent returns and the embedded database stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Coroutine
from typing import Any

from durable_queue.api.browser_guard import answered_hosts
from durable_queue.config import Settings

log = logging.getLogger("durable_queue.supervisor")

READY = b"READY"
START_TIMEOUT = 120.0  # seconds for a child to listen (its pool opens first)
STOP_TIMEOUT = 90.0  # a child's own shutdown waits up to 60 s for open requests
RESTART_WINDOW = 60.0
RESTART_BUDGET = 5


class WorkerFailed(Exception):
    """A child did not become ready."""


class Child:
    """One `serve-worker` process."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.pid = proc.pid

    @classmethod
    async def start(cls, settings: Settings) -> Child:
        """Start a child and wait for its READY line."""
        env = {**os.environ, "DATABASE_URL": settings.database_url or ""}
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "durable_queue",
            "serve-worker",
            "--host",
            settings.host,
            "--port",
            str(settings.port),
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,  # the children log to the parent's stderr
            start_new_session=True,  # a terminal's Ctrl-C reaches the parent only: it stops them
        )
        child = cls(proc)
        try:
            async with asyncio.timeout(START_TIMEOUT):
                line = await proc.stdout.readline()  # type: ignore[union-attr]
            if line.strip() != READY:
                raise WorkerFailed(f"server worker {child.pid} exited before it was ready")
        except TimeoutError as exc:
            await child.stop()
            raise WorkerFailed(f"server worker {child.pid} was not ready in time") from exc
        except BaseException:  # WorkerFailed, or cancelled while starting: stop what started
            await child.stop()
            raise
        return child

    @classmethod
    async def start_many(cls, settings: Settings, count: int) -> list[Child]:
        """Start `count` children at once; if one fails, the others are stopped."""
        results = await asyncio.gather(
            *(cls.start(settings) for _ in range(count)), return_exceptions=True
        )
        children = [result for result in results if isinstance(result, Child)]
        failures = [result for result in results if isinstance(result, BaseException)]
        if failures:
            await asyncio.gather(*(child.stop() for child in children))
            raise failures[0]
        return children

    async def wait(self) -> int:
        return await self.proc.wait()

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT; returns once the process is reaped."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.terminate()
            try:
                async with asyncio.timeout(STOP_TIMEOUT):
                    await self.proc.wait()
            except TimeoutError:
                log.warning("server worker did not stop in time: killed", extra={"pid": self.pid})
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                await self.proc.wait()
        if self.proc.stdin is not None:
            self.proc.stdin.close()


async def supervise(settings: Settings) -> int:
    """Run `settings.workers` children until SIGTERM/SIGINT (0) or a failure (1)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    children: list[Child] = []
    try:
        started = await _first_of(stop, Child.start_many(settings, settings.workers))
        if started is None:
            return 0
        children.extend(started)
        log.info(
            "serving",
            extra={
                "host": settings.host,
                "port": settings.port,
                "workers": settings.workers,
                "hosts": answered_hosts(settings.host, settings.allowed_hosts),
                "pids": [child.pid for child in children],
            },
        )
        return await _watch(settings, children, stop)
    except WorkerFailed as exc:
        log.error("cannot start the server workers", extra={"reason": str(exc)})
        return 1
    finally:
        log.info("shutting down", extra={"pids": [child.pid for child in children]})
        await asyncio.gather(*(child.stop() for child in children))
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def _watch(settings: Settings, children: list[Child], stop: asyncio.Event) -> int:
    """Replace children that die until `stop` is set; 1 when restarts exceed the budget."""
    restarts: list[float] = []
    exits = {asyncio.ensure_future(child.wait()): child for child in children}
    stopping = asyncio.ensure_future(stop.wait())
    try:
        while True:
            done, _ = await asyncio.wait([stopping, *exits], return_when=asyncio.FIRST_COMPLETED)
            if stopping in done:
                return 0
            for finished in done:
                dead = exits.pop(finished)
                children.remove(dead)
                log.error(
                    "server worker died: starting another",
                    extra={"pid": dead.pid, "returncode": finished.result()},
                )
                now = time.monotonic()
                restarts = [t for t in restarts if now - t < RESTART_WINDOW] + [now]
                if len(restarts) > RESTART_BUDGET:
                    log.error(
                        "server workers keep dying: stopping",
                        extra={"restarts": len(restarts), "window_seconds": RESTART_WINDOW},
                    )
                    return 1
                replacement = await _first_of(stop, Child.start_many(settings, 1))
                if replacement is None:
                    return 0
                fresh = replacement[0]
                children.append(fresh)
                exits[asyncio.ensure_future(fresh.wait())] = fresh
                log.info("server worker started", extra={"pid": fresh.pid})
    finally:
        stopping.cancel()
        for waiter in exits:
            waiter.cancel()


async def _first_of(
    stop: asyncio.Event, starting: Coroutine[Any, Any, list[Child]]
) -> list[Child] | None:
    """The children `starting` starts, or None if `stop` is set first (they are stopped)."""
    work = asyncio.ensure_future(starting)
    stopping = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait([work, stopping], return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if work in done:
        return work.result()
    work.cancel()
    with contextlib.suppress(asyncio.CancelledError, WorkerFailed):
        await work
    return None
