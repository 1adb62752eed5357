"""What the fault tests share: the server as a real process (started, killed, restarted on the
same port), a load of producers and long-polling workers that keep going through failures,
and the invariants read from the database afterwards.

Producers create and workers complete through the Python client (`DurableClient`), whose
retries are what is under test: a 503 or a lost connection leaves the outcome unknown, so
the client sends each create with an idempotency key of its own and repeats it with that
key, and repeats a complete with the run's claim token. The invariants say the retries
converged, from what the database recorded: no task made twice, and every complete that
committed was answered 200 to the worker that held the claim (none got 409 for it).

The load generators back off briefly after a failed request (that pause is the retry
policy of a client, not synchronisation); everything the tests wait for is an observable
state, awaited with tests.helpers.eventually.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import inspect
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import aiosql
import psycopg2
from durable_queue_client import Conflict, DurableClient, DurableError, RequestTimeout

from tests.helpers import eventually

API = "/api/v1"
CHECKS = aiosql.from_path(Path(__file__).with_name("checks.sql"), "psycopg2")
BACKOFF_SECONDS = 0.05  # a client's pause before retrying a failed request
TRANSIENT = (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """`python -m durable_queue serve` on a fixed loopback port, in a session of its own."""

    def __init__(self, database_url: str, log_dir: Path, **env: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "DURABLE_LOG_LEVEL": "WARNING",
            "DURABLE_MAINTENANCE_INTERVAL": "0.2",
            **env,
        }
        for name in ("DURABLE_API_TOKENS", "DURABLE_API_TOKENS_FILE", "DURABLE_WORKERS"):
            self.env.pop(name, None)
        self.log_dir = log_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = open(self.log_dir / f"server-{self.starts}.log", "wb")
        command = [sys.executable, "-m", "durable_queue", "serve", "--host", "127.0.0.1"]
        self.proc = subprocess.Popen(
            [*command, "--port", str(self.port)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def kill(self) -> None:
        """kill -9, of the process group this server started (it and anything it forked)."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()

    def logs(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-3000:] for p in sorted(self.log_dir.iterdir())
        )

    async def status(self, session: aiohttp.ClientSession, path: str) -> int | None:
        try:
            async with session.get(f"{self.base}{path}") as resp:
                await resp.read()
                return resp.status
        except TRANSIENT:
            return None

    async def wait_ready(self, session: aiohttp.ClientSession) -> None:
        async def ready() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.logs()
            return await self.status(session, "/readyz") == 200

        await eventually(ready, deadline_seconds=60, what="/readyz 200")


class Load:
    """Producers creating `total` tasks (params {"n": number}), and workers claiming them
    through long polls and completing them with their claim tokens, each retrying through
    connection errors and 503s. Creates and completes go through `DurableClient`: without
    `keys`, the client picks each create's idempotency key (the case under test); with it,
    the producers send `task-{number}` (to meet tasks created beforehand)."""

    def __init__(
        self,
        base: str,
        queue: str,
        total: int,
        *,
        producers: int = 4,
        workers: int = 4,
        claim_timeout: int = 3,
        long_poll_seconds: int = 5,
        keys: bool = False,
    ) -> None:
        self.base, self.queue, self.total = base, queue, total
        self.producers, self.workers = producers, workers
        self.claim_timeout, self.long_poll_seconds = claim_timeout, long_poll_seconds
        self.keys = keys
        self.acknowledged: dict[int, str] = {}  # task number -> task id
        self.completed: set[str] = set()  # run ids whose complete was answered 200
        # (run id, claim token) of each complete answered 200, and of each answered 409
        self.answered: set[tuple[str, str]] = set()
        self.refused: set[tuple[str, str]] = set()
        self.counts: collections.Counter[str] = collections.Counter()
        self.produce = asyncio.Event()  # producers run while set
        self.produce.set()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.session: aiohttp.ClientSession | None = None
        self.client = DurableClient(
            base, retries=100_000, backoff=BACKOFF_SECONDS, max_backoff=0.2, on_retry=self._retried
        )

    def _retried(self, error: DurableError, attempt: int, delay: float) -> None:
        self.counts[f"client retries after {type(error).__name__}"] += 1

    async def __aenter__(self) -> Load:
        connector = aiohttp.TCPConnector(limit=0, force_close=False)
        self.session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=self.long_poll_seconds + 20)
        )
        await self.client.__aenter__()
        self._tasks = [asyncio.create_task(self._producer(i)) for i in range(self.producers)]
        self._tasks += [asyncio.create_task(self._worker()) for _ in range(self.workers)]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        for task in self._tasks:
            task.cancel()
        results = await asyncio.gather(*self._tasks, return_exceptions=True)
        assert self.session is not None
        await self.session.close()
        await self.client.close()
        crashed = [r for r in results if isinstance(r, Exception)]
        assert not crashed, crashed

    def raise_if_crashed(self) -> None:
        """Fail the waiting test at once when a producer or worker met an unexpected answer."""
        for task in self._tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()

    def created(self, count: float) -> bool:
        self.raise_if_crashed()
        return len(self.acknowledged) >= count

    async def finished(self, database_url: str) -> bool:
        """Every task created and completed (read from the database)."""
        self.raise_if_crashed()
        return await all_completed(database_url, self.queue, self.total)

    async def _request(self, method: str, path: str, body: Any) -> tuple[int, Any] | None:
        """(status, JSON body), or None after a connection error (counted)."""
        assert self.session is not None
        try:
            async with self.session.request(method, f"{self.base}{API}{path}", json=body) as resp:
                data = await resp.json(content_type=None)
                if resp.status == 503:
                    self.counts["503 answers"] += 1
                return resp.status, data
        except TRANSIENT:
            self.counts["connection errors"] += 1
            return None

    async def _producer(self, index: int) -> None:
        """Each create is one call of the client, which retries it (with the same key)
        until it is answered; any error it gives up with fails the test."""
        for number in range(index, self.total, self.producers):
            await self.produce.wait()
            key = f"task-{number}" if self.keys else None
            created = await self.client.create_task(
                self.queue, "fault", params={"n": number}, idempotency_key=key
            )
            self.acknowledged[number] = created.task_id

    async def _worker(self) -> None:
        body = {
            "limit": 10,
            "claim_timeout": self.claim_timeout,
            "long_poll_seconds": self.long_poll_seconds,
        }
        while not self._stop.is_set():
            answer = await self._request("POST", f"/queues/{self.queue}/tasks/claim", body)
            if answer is None or answer[0] != 200:
                assert answer is None or answer[0] == 503, answer
                await asyncio.sleep(BACKOFF_SECONDS)
                continue
            for task in answer[1]["tasks"]:
                await self._complete(task["run_id"], task["claim_token"])

    async def _complete(self, run_id: str, token: str) -> None:
        """Complete a run with its claim token; the client retries through 503s and lost
        connections (a repeat of a complete that committed is answered 200). A 409 means
        the claim ended first (it expired and was taken over): the database says which."""
        while True:
            try:
                await self.client.complete_run(run_id, "ok", claim_token=token)
            except Conflict:
                self.refused.add((run_id, token))
                self.counts["completes refused (409)"] += 1
            except RequestTimeout:  # unanswered in time: unknown, so repeat it (same token)
                self.counts["completes timed out"] += 1
                continue
            else:
                self.completed.add(run_id)
                self.answered.add((run_id, token))
            return


def check(database_url: str, name: str, **params: Any) -> Any:
    conn = psycopg2.connect(database_url)
    try:
        conn.autocommit = True
        result = getattr(CHECKS, name)(conn, **params)
        return list(result) if inspect.isgenerator(result) else result  # rows, read now
    finally:
        conn.close()


async def all_completed(database_url: str, queue: str, total: int) -> bool:
    counts = await asyncio.to_thread(check, database_url, "task_counts", queue_name=queue)
    return counts[0] == total and counts[1] == total


def assert_invariants(database_url: str, load: Load, title: str) -> dict[str, int]:
    """Every acknowledged create exists, and no task was made twice (one per number, one per
    key); every task completed with exactly one completed run, no run left claimed. The
    retries converged: each run completed under a claim token was answered 200 to the worker
    holding that token, and no worker got 409 for a complete the database recorded under its
    token. Prints and returns the counts."""
    tasks, completed, one_completed_run, distinct_keys, distinct_numbers = check(
        database_url, "task_counts", queue_name=load.queue
    )
    recorded = {
        (str(run_id), str(token))
        for run_id, token in check(database_url, "completed_runs", queue_name=load.queue)
    }
    existing = check(database_url, "existing_tasks", task_ids=list(load.acknowledged.values()))
    claimed, completed_runs, expired, runs = check(
        database_url, "run_counts", queue_name=load.queue
    )
    counts = {
        "tasks": tasks,
        "acknowledged creates": len(load.acknowledged),
        "acknowledged tasks found": existing,
        "tasks completed": completed,
        "tasks with exactly one completed run": one_completed_run,
        "runs": runs,
        "runs completed": completed_runs,
        "runs expired (claim expired)": expired,
        "runs left claimed": claimed,
        "completes answered 200": len(load.completed),
        "runs completed under a token not answered 200 to its holder": len(
            recorded - load.answered
        ),
        "completes answered 409 that the database recorded": len(recorded & load.refused),
        **load.counts,
    }
    print(f"\n{title}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    assert len(load.acknowledged) == load.total
    assert existing == load.total
    # a retried create never made a second task
    assert tasks == distinct_keys == distinct_numbers == load.total
    # a retried complete converged: the database's completions are the holders' 200s
    assert recorded == load.answered
    assert not recorded & load.refused
    assert completed == one_completed_run == completed_runs == load.total
    assert claimed == 0
    return counts
