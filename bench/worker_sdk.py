"""The worker SDK's throughput on a no-op task beside a hand-written claim/complete loop.

    python bench/worker_sdk.py [--url http://127.0.0.1:8080] [--tasks 2000]
                               [--concurrency 1,8,64] [--repeats 3]

Without --url it starts `durable-queue serve` on a free loopback port with a throw-away
embedded PostgreSQL and stops it (by PID) at the end. For each concurrency it fills a
fresh queue with --tasks no-op tasks, then times draining it, both ways in turn
(--repeats times; the median is printed):

- sdk: `Worker(client, queue, concurrency=c)` with an `async def noop(ctx, params)`
  handler; the clock stops at the worker's structured log record of the last run
  completed (the log is how a user of the SDK sees outcomes too);
- loop: the loop a user writes by hand: claim up to c tasks (long poll), complete them
  all concurrently, repeat.

Both run in this process with one DurableClient each; the server runs in its own.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "clients" / "python"))

from durable_queue_client import (  # noqa: E402 - after the path of the working tree
    CreateTaskRequest,
    DurableClient,
    NotFound,
    TaskContext,
    Worker,
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server() -> Iterator[str]:
    port = free_port()
    data = tempfile.mkdtemp(prefix="bench-worker-sdk-")
    env = {**os.environ, "DURABLE_HOST": "127.0.0.1", "DURABLE_PORT": str(port)}
    env.pop("DATABASE_URL", None)
    log = open(Path(data) / "server.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "durable_queue", "serve", "--data-dir", str(Path(data) / "pg")],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        log.close()


async def until_ready(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(600):
            try:
                async with session.get(f"{url}/readyz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit(f"{url} did not become ready")


async def fill(client: DurableClient, queue: str, count: int) -> None:
    await client.create_queue(queue)
    items = [CreateTaskRequest(task_name="noop") for _ in range(count)]
    try:
        for start in range(0, count, 1000):
            await client.create_tasks(queue, items[start : start + 1000])
    except NotFound:  # a server without the batch endpoint
        for _ in range(count - len(await client.list_tasks(queue_name=queue, limit=1).tasks)):
            await client.create_task(queue, "noop")


class Completions(logging.Handler):
    """Counts the worker's `completed` records; `done` is set at `expected`."""

    def __init__(self, expected: int) -> None:
        super().__init__()
        self.expected = expected
        self.count = 0
        self.done = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "durable", {}).get("event") == "completed":
            self.count += 1
            if self.count >= self.expected:
                self.done.set()


async def with_sdk(url: str, queue: str, concurrency: int, count: int) -> float:
    logger = logging.getLogger("durable_queue_client.worker")
    counter = Completions(count)
    logger.addHandler(counter)
    logger.setLevel(logging.INFO)
    try:
        async with DurableClient(url) as client:
            worker = Worker(client, queue, concurrency=concurrency, create_queue=False)

            @worker.task()
            async def noop(ctx: TaskContext, params: object) -> None:
                return None

            started = time.perf_counter()
            running = asyncio.create_task(worker.run(handle_signals=False))
            await counter.done.wait()
            took = time.perf_counter() - started
            worker.stop(now=True)
            await running
            return took
    finally:
        logger.removeHandler(counter)


async def with_loop(url: str, queue: str, concurrency: int, count: int) -> float:
    async with DurableClient(url) as client:
        done = 0
        started = time.perf_counter()
        while done < count:
            tasks = await client.claim_tasks(
                queue, limit=concurrency, claim_timeout=60, long_poll_seconds=5
            )
            await asyncio.gather(*(client.complete_run(task.run_id) for task in tasks))
            done += len(tasks)
        return time.perf_counter() - started


async def measure(url: str, count: int, levels: list[int], repeats: int) -> None:
    await until_ready(url)
    logging.getLogger("durable_queue_client").setLevel(logging.WARNING)
    print(f"{count} no-op tasks per measurement, median of {repeats} alternating runs, tasks/s")
    print("| concurrency | worker SDK | hand-written loop | SDK / loop |")
    print("|---|---|---|---|")
    async with DurableClient(url) as client:
        for level in levels:
            samples: dict[str, list[float]] = {"sdk": [], "loop": []}
            for _ in range(repeats):
                for name, drain in (("sdk", with_sdk), ("loop", with_loop)):
                    queue = f"bench-{name}-{level}-{uuid.uuid4().hex[:8]}"
                    await fill(client, queue, count)
                    samples[name].append(count / await drain(url, queue, level, count))
                    await client.delete_queue(queue, force=True)
            rates = {name: statistics.median(values) for name, values in samples.items()}
            ratio = rates["sdk"] / rates["loop"]
            print(f"| {level} | {rates['sdk']:.0f} | {rates['loop']:.0f} | {ratio:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running server (default: start one)")
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--concurrency", default="1,8,64")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    levels = [int(level) for level in args.concurrency.split(",")]
    if args.url:
        asyncio.run(measure(args.url.rstrip("/"), args.tasks, levels, args.repeats))
        return
    with server() as url:
        asyncio.run(measure(url, args.tasks, levels, args.repeats))


if __name__ == "__main__":
    main()
