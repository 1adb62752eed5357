"""The processes and databases of bench/peers.py: each made fresh, each stopped by its PID.

- `fresh_database`: a database of its own on the given server, dropped afterwards;
- `durable_queue_server`: `python -m durable_queue serve` on a free loopback port,
  ready once `/readyz` answers 200 (it applies the migrations at start);
- `install_pgqueuer`: `pgq install` (pgqueuer's own CLI) on a database;
- `Worker`: bench/peers_worker.py as a child process, driven over its standard streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import aiopg

WORKER = Path(__file__).with_name("peers_worker.py")
STOP_TIMEOUT = 10.0
_names = itertools.count()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at database `name`."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@contextlib.asynccontextmanager
async def fresh_database(admin_url: str, label: str) -> AsyncIterator[str]:
    """An empty database of its own on the server of `admin_url`; its URL."""
    name = f"peers_{os.getpid()}_{next(_names)}_{label}"
    async with aiopg.connect(admin_url) as conn, conn.cursor() as cur:
        await cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(admin_url, name)
    finally:
        async with aiopg.connect(admin_url) as conn, conn.cursor() as cur:
            await cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def stop(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM to the process's PID, SIGKILL if it has not exited after STOP_TIMEOUT."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


def _log_file(prefix: str) -> tuple[int, str]:
    return tempfile.mkstemp(prefix=f"peers-{prefix}-", suffix=".log")


def _tail(path: str, lines: int = 30) -> str:
    text = Path(path).read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


@contextlib.asynccontextmanager
async def durable_queue_server(
    database_url: str, server_workers: int | None = None
) -> AsyncIterator[tuple[str, int]]:
    """A durable-queue server process on `database_url`; its base URL and PID."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "DURABLE_LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-m", "durable_queue", "serve"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    if server_workers is not None:
        command += ["--workers", str(server_workers)]
    fd, log_path = _log_file("server")
    proc = await asyncio.create_subprocess_exec(
        *command, env=env, stdin=subprocess.DEVNULL, stdout=fd, stderr=fd
    )
    os.close(fd)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        async with aiohttp.ClientSession() as session:
            while True:
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"{base}/readyz") as resp:
                        if resp.status == 200:
                            break
                if proc.returncode is not None:
                    raise RuntimeError(f"the server exited at start:\n{_tail(log_path)}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the server never became ready:\n{_tail(log_path)}")
                await asyncio.sleep(0.1)
        yield base, proc.pid
    finally:
        await stop(proc)
        os.unlink(log_path)


async def install_pgqueuer(database_url: str) -> None:
    """`pgq install` on `database_url` (pgqueuer's CLI, as its README says)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pgqueuer",
        "--pg-dsn",
        database_url,
        "install",
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(proc.communicate(), 120)
    finally:
        await stop(proc)
    if proc.returncode != 0:
        raise RuntimeError(f"pgq install failed:\n{output.decode(errors='replace')}")


class Worker:
    """bench/peers_worker.py in a child process: READY/GO handshake, EXPECT, DONE, STARTED."""

    def __init__(self, args: list[str]) -> None:
        self.args = args
        self.proc: asyncio.subprocess.Process | None = None
        self.starts: dict[int, float] = {}
        self.done_at: float | None = None
        self.done_count = 0
        self._ready = asyncio.Event()
        self._changed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._log_path = ""

    async def __aenter__(self) -> Worker:
        fd, self._log_path = _log_file("worker")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(WORKER),
            *self.args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=fd,
        )
        os.close(fd)
        self._reader = asyncio.create_task(self._read())
        try:
            await self._until(self._ready.is_set, 60, "READY")
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            if self.proc is not None:
                await stop(self.proc)
            if self._reader is not None:
                self._reader.cancel()
        finally:
            os.unlink(self._log_path)

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            word, *rest = line.decode().split() or [""]
            if word == "READY":
                self._ready.set()
            elif word == "STARTED":
                self.starts[int(rest[0])] = float(rest[1])
            elif word == "DONE":
                self.done_count, self.done_at = int(rest[0]), float(rest[1])
            self._changed.set()
        self._changed.set()  # stdout closed: the worker has exited

    async def _until(self, condition: Callable[[], bool], within: float, what: str) -> None:
        deadline = time.monotonic() + within
        while not condition():
            assert self.proc is not None
            if self._reader is not None and self._reader.done():
                await self.proc.wait()
                raise RuntimeError(
                    f"worker exited (code {self.proc.returncode}) before {what}:\n"
                    + _tail(self._log_path)
                )
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"worker gave no {what} within {within:g}s")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def send(self, line: str) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(f"{line}\n".encode())
        await self.proc.stdin.drain()

    async def started(self, seq: int, within: float = 30) -> float:
        """When the handler of task `seq` started (CLOCK_MONOTONIC)."""
        await self._until(lambda: seq in self.starts, within, f"STARTED {seq}")
        return self.starts[seq]

    async def done(self, within: float) -> float:
        """When the worker had done every task it was told to expect (CLOCK_MONOTONIC)."""
        await self._until(lambda: self.done_at is not None, within, "DONE")
        assert self.done_at is not None
        return self.done_at
