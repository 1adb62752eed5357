"""The worker process of bench/peers.py: a durable-queue worker or a pgqueuer one.

    python bench/peers_worker.py ours --url http://127.0.0.1:PORT --queue bench [--loops 2]
                                      [--batch-complete] [--report-starts]
    python bench/peers_worker.py theirs --dsn postgresql://... [--report-starts]

Each is the code a user of that queue writes, with a no-op handler. The bench
talks to it over its standard streams, one line each:

- the worker prints `READY` once connected, then waits for `GO` on stdin;
- `EXPECT n` on stdin: exit once n tasks are done (completed and acknowledged by
  the queue), printing `DONE n t`;
- with --report-starts, each handler prints `STARTED seq t` as its first act.

Times are `time.clock_gettime(CLOCK_MONOTONIC)`, comparable across processes on
one machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable

HANDLER = "noop"


def now() -> float:
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Progress:
    """Tasks done against the count the bench expects; `finished` is set when they meet."""

    def __init__(self) -> None:
        self.done = 0
        self.expected: int | None = None
        self.finished = asyncio.Event()

    def add(self, count: int) -> None:
        self.done += count
        self._check()

    def expect(self, count: int) -> None:
        self.expected = count
        self._check()

    def _check(self) -> None:
        if self.expected is not None and self.done >= self.expected:
            self.finished.set()


async def control(progress: Progress, go: asyncio.Event) -> None:
    """Read GO and EXPECT lines from stdin until it closes."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().strip():
        if line == "GO":
            go.set()
        elif line.startswith("EXPECT "):
            progress.expect(int(line.split()[1]))


def reporter(report_starts: bool) -> Callable[[object], None]:
    """What a handler does with its task's payload: nothing, or print when it started."""
    if not report_starts:
        return lambda payload: None

    def report(payload: object) -> None:
        started = now()
        seq = json.loads(payload)["seq"] if isinstance(payload, bytes) else payload["seq"]
        say(f"STARTED {seq} {started:.9f}")

    return report


# -- durable-queue: the async client, claim 100 with long polling, batched completions -----


async def run_ours(args: argparse.Namespace) -> None:
    from durable_queue_client import CompletionBatcher, DurableClient

    handle = reporter(args.report_starts)
    progress, go = Progress(), asyncio.Event()
    async with DurableClient(args.url) as client:
        await client.get_queue_stats(args.queue)  # connected, the queue exists
        stdin = asyncio.create_task(control(progress, go))
        say("READY")
        await go.wait()
        # completions go out in batches: 100 runs, or 10 ms after the first one waits
        completions = CompletionBatcher(client, max_batch=100, max_delay=0.01)

        def acknowledged(outcome: asyncio.Future) -> None:
            if not outcome.cancelled() and outcome.exception() is None:
                assert outcome.result().status == "completed", outcome.result()
                progress.add(1)

        async def loop() -> None:
            while True:
                tasks = await client.claim_tasks(
                    args.queue, limit=100, claim_timeout=300, long_poll_seconds=30
                )
                if not args.batch_complete:  # a server without POST /runs/complete
                    for task in tasks:
                        handle(task.params)
                    await asyncio.gather(*(client.complete_run(t.run_id) for t in tasks))
                    progress.add(len(tasks))
                    continue
                for task in tasks:
                    handle(task.params)
                    completions.add(task.run_id, claim_token=task.claim_token).add_done_callback(
                        acknowledged
                    )

        loops = [asyncio.create_task(loop()) for _ in range(args.loops)]
        finished = asyncio.create_task(progress.finished.wait())
        await asyncio.wait([finished, *loops], return_when=asyncio.FIRST_COMPLETED)
        ended = now()
        for task in [*loops, stdin]:
            task.cancel()
        for task in loops:  # a loop that failed ends the worker with its error
            if task.done() and not task.cancelled() and task.exception():
                raise task.exception()
    say(f"DONE {progress.done} {ended:.9f}")


# -- pgqueuer: one QueueManager, batch size 100 ----------------------------------------------


async def run_theirs(args: argparse.Namespace) -> None:
    import asyncpg
    from pgqueuer import QueueManager
    from pgqueuer.db import AsyncpgDriver
    from pgqueuer.models import Job
    from pgqueuer.queries import Queries

    handle = reporter(args.report_starts)
    progress, go = Progress(), asyncio.Event()
    connection = await asyncpg.connect(args.dsn)
    qm = QueueManager(Queries(AsyncpgDriver(connection)))

    @qm.entrypoint(HANDLER)
    async def noop(job: Job) -> None:
        handle(job.payload)
        progress.add(1)

    stdin = asyncio.create_task(control(progress, go))
    say("READY")
    await go.wait()

    async def stop_when_finished() -> None:
        await progress.finished.wait()
        qm.shutdown.set()

    stopper = asyncio.create_task(stop_when_finished())
    # run() returns after the in-flight jobs end and its buffers flush their completions
    await qm.run(batch_size=100)
    ended = now()
    stopper.cancel()
    stdin.cancel()
    say(f"DONE {progress.done} {ended:.9f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    peers = parser.add_subparsers(dest="peer", required=True)
    ours = peers.add_parser("ours")
    ours.add_argument("--url", required=True)
    ours.add_argument("--queue", required=True)
    ours.add_argument("--loops", type=int, default=2)
    ours.add_argument("--batch-complete", action="store_true")
    ours.add_argument("--report-starts", action="store_true")
    theirs = peers.add_parser("theirs")
    theirs.add_argument("--dsn", required=True)
    theirs.add_argument("--report-starts", action="store_true")
    args = parser.parse_args()
    # both on uvloop: what `pgq run` uses, and what `durablectl worker` uses (and the
    # README recommends) for durable-queue; plain asyncio when it is not installed
    main = run_ours(args) if args.peer == "ours" else run_theirs(args)
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


if __name__ == "__main__":
    main()
