"""durable-queue and pgqueuer side by side: the same measurements, same PostgreSQL, one run.

    python bench/peers.py [--database-url URL] [--runs 3] [--quick] [--figures pipeline,wake]

pgqueuer comes with the bench extra (`pip install -e '.[bench]'`). Starts an
embedded PostgreSQL unless --database-url is given (a URI whose user may create
databases: each measurement gets a database of its own, dropped afterwards).
For each peer it measures:

(a) enqueue N tasks one by one (each awaited before the next), and in batches
    of 1,000 (pgqueuer: `Queries.enqueue` with lists; durable-queue:
    `create_tasks`, POST /queues/{q}/tasks/batch, or, on a server without that
    route, 64 single creates in flight);
(b) drain N pending tasks with the worker as a separate OS process (durable-queue:
    the async client, claim limit 100 with long polling, completions sent in
    batches by `CompletionBatcher` (POST /runs/complete, 100 runs or 10 ms after
    the first waits, the loop claiming again meanwhile), or, without that route,
    one complete per task, all in flight; pgqueuer: one QueueManager, batch size
    100, whose completions are buffered likewise: 100 or 0.1 s); from GO to the
    worker reporting every task done (acknowledged by the queue);
(c) pipeline: one producer creating one task at a time for S seconds while the
    worker runs; tasks created / (worker done - start);
(d) wake latency: an idle worker, single creates 50 ms apart; from the create's
    return in the bench to the start of the worker's handler (CLOCK_MONOTONIC
    in both processes); p50/p95/p99 after 10 warm-up wakes;
(e) with --keys K (durable-queue only; flow control, issue 23): drain as (b), the
    N tasks spread round-robin over K concurrency keys, on a queue created with
    key_concurrency --key-concurrency L (without it: keys, no limit). The tasks
    are created by POST /queues/{q}/tasks/batch (not timed). pgqueuer has no
    per-key limit, so this figure has no ratio.

durable-queue's server runs as a subprocess (`python -m durable_queue serve`,
DATABASE_URL set, a free loopback port, ready at /readyz); pgqueuer's schema comes
from `pgq install`. Workers (bench/peers_worker.py) connect, print READY and
wait for GO; every process is stopped by its PID. Prints one table: figures,
each peer's median over --runs, and the ratio, oriented so that higher is
better for durable-queue (rates: ours / theirs; latencies: theirs / ours).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
from cpu import CpuMeter
from database import run_on_database
from latency import percentiles
from peers_procs import Worker, durable_queue_server, fresh_database, install_pgqueuer
from peers_worker import HANDLER

QUEUE = "bench"
BATCH = 1000
IN_FLIGHT = 64
WAKE_GAP = 0.05  # seconds between the wake-latency creates (the workload, not a wait)
WAKE_WARMUP = 10
OURS, THEIRS = "durable-queue", "pgqueuer"


def now() -> float:
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def payload(seq: int) -> dict[str, int]:
    return {"seq": seq}


async def in_flight(concurrency: int, jobs: list[Callable[[], Awaitable[Any]]]) -> None:
    """Run the zero-argument coroutine functions `jobs`, `concurrency` at a time."""
    pending = list(reversed(jobs))

    async def lane() -> None:
        while pending:
            await pending.pop()()

    await asyncio.gather(*(lane() for _ in range(concurrency)))


# -- the two peers: a fresh database each, enqueue, a worker command line, a check ----------


class Ours:
    """durable-queue through its async client, against a server process of its own."""

    name = OURS

    def __init__(
        self, client: Any, base: str, server_pid: int, batch_create: bool, batch_complete: bool
    ):
        self.client = client
        self.base = base
        self.server_pid = server_pid
        self.batch_create = batch_create
        self.batch_complete = batch_complete

    @property
    def bulk_mode(self) -> str:
        return (
            "create_tasks, 1,000 per call"
            if self.batch_create
            else (f"{IN_FLIGHT} single creates in flight (no batch route)")
        )

    @property
    def complete_mode(self) -> str:
        return (
            "CompletionBatcher: complete_runs of 100 runs or after 10 ms"
            if self.batch_complete
            else ("one complete per task, a claim's worth in flight (no batch route)")
        )

    async def enqueue_one(self, seq: int) -> None:
        await self.client.create_task(QUEUE, HANDLER, params=payload(seq))

    async def enqueue_bulk(self, first: int, count: int) -> None:
        if self.batch_create:
            from durable_queue_client.models import CreateTaskRequest

            for start in range(first, first + count, BATCH):
                end = min(start + BATCH, first + count)
                await self.client.create_tasks(
                    QUEUE,
                    [
                        CreateTaskRequest(task_name=HANDLER, params=payload(i))
                        for i in range(start, end)
                    ],
                )
        else:
            await in_flight(
                IN_FLIGHT, [lambda i=i: self.enqueue_one(i) for i in range(first, first + count)]
            )

    def worker_args(self, report_starts: bool, loops: int) -> list[str]:
        args = ["ours", "--url", self.base, "--queue", QUEUE, "--loops", str(loops)]
        args += ["--batch-complete"] if self.batch_complete else []
        return args + (["--report-starts"] if report_starts else [])

    def meter(self) -> CpuMeter:
        """CPU of the bench process, the server (with its --workers children) and PostgreSQL."""
        meter = CpuMeter()
        meter.add_process("bench", os.getpid(), tree=False)  # its children are roles
        meter.add_process("server", self.server_pid)
        meter.add_postgres()
        return meter

    async def counts(self) -> tuple[int, int]:
        """(tasks waiting or running, tasks completed)."""
        stats = await self.client.get_queue_stats(QUEUE)
        return stats.pending_runs + stats.claimed_runs, stats.completed_runs


async def _route_served(client: Any, method: str, call: Callable[[], Awaitable[Any]]) -> bool:
    """Whether the server has the batch route: an empty batch is refused (400) where it
    exists, 404/405 where it does not."""
    from durable_queue_client.errors import DurableError

    if not hasattr(client, method):
        return False
    try:
        await call()
    except DurableError as exc:
        return exc.status not in (404, 405)
    return True


@contextlib.asynccontextmanager
async def ours(
    admin_url: str, label: str, server_workers: int | None, settings: dict[str, Any] | None = None
) -> AsyncIterator[Ours]:
    from durable_queue_client import DurableClient

    async with (
        fresh_database(admin_url, f"ours_{label}") as url,
        durable_queue_server(url, server_workers) as (base, server_pid),
        DurableClient(base, timeout=300) as client,
    ):
        if settings:  # flow-control settings, flat in the body (issue 23)
            await create_queue_with(base, settings)
        else:
            await client.create_queue(QUEUE)
        batch_create = await _route_served(
            client, "create_tasks", lambda: client.create_tasks(QUEUE, [])
        )
        batch_complete = await _route_served(
            client, "complete_runs", lambda: client.complete_runs([])
        )
        yield Ours(client, base, server_pid, batch_create, batch_complete)


async def create_queue_with(base: str, settings: dict[str, Any]) -> None:
    """POST /queues with the settings, then check that the server kept them (a server
    before issue 23 does not know them)."""
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/api/v1/queues", json={"name": QUEUE, **settings}) as resp:
            assert resp.status == 201, await resp.text()
        async with session.get(f"{base}/api/v1/queues/{QUEUE}") as resp:
            assert resp.status == 200, await resp.text()
            summary = await resp.json()
    kept = {name: summary.get(name) for name in settings}
    if kept != settings:
        raise RuntimeError(f"the queue's settings are {kept}, not {settings}")


async def enqueue_keyed(base: str, count: int, keys: int) -> None:
    """`count` tasks, batches of 1,000, task i with concurrency key key-(i mod keys)."""
    async with aiohttp.ClientSession() as session:
        for start in range(0, count, BATCH):
            items = [
                {"task_name": HANDLER, "params": payload(i), "concurrency_key": f"key-{i % keys}"}
                for i in range(start, min(start + BATCH, count))
            ]
            async with session.post(
                f"{base}/api/v1/queues/{QUEUE}/tasks/batch", json={"tasks": items}
            ) as resp:
                assert resp.status in (200, 201), await resp.text()
                first = (await resp.json())["tasks"][0]["task_id"]
            if start == 0:  # a server before issue 23 would ignore the key
                async with session.get(f"{base}/api/v1/tasks/{first}") as resp:
                    assert resp.status == 200, await resp.text()
                    key = (await resp.json()).get("concurrency_key")
                if key != "key-0":
                    raise RuntimeError(f"the server kept concurrency_key {key!r}, not 'key-0'")


class Theirs:
    """pgqueuer, straight to PostgreSQL over asyncpg."""

    name = THEIRS
    bulk_mode = "Queries.enqueue with lists of 1,000"
    complete_mode = "QueueManager, batch size 100"

    def __init__(self, queries: Any, dsn: str) -> None:
        self.queries = queries
        self.dsn = dsn

    async def enqueue_one(self, seq: int) -> None:
        await self.queries.enqueue(HANDLER, json.dumps(payload(seq)).encode())

    async def enqueue_bulk(self, first: int, count: int) -> None:
        for start in range(first, first + count, BATCH):
            seqs = range(start, min(start + BATCH, first + count))
            await self.queries.enqueue(
                [HANDLER] * len(seqs),
                [json.dumps(payload(i)).encode() for i in seqs],
                [0] * len(seqs),
            )

    def worker_args(self, report_starts: bool, loops: int) -> list[str]:
        return ["theirs", "--dsn", self.dsn] + (["--report-starts"] if report_starts else [])

    def meter(self) -> CpuMeter:
        """CPU of the bench process and PostgreSQL (pgqueuer has no server of its own)."""
        meter = CpuMeter()
        meter.add_process("bench", os.getpid(), tree=False)  # its children are roles
        meter.add_postgres()
        return meter

    async def counts(self) -> tuple[int, int]:
        """(jobs waiting or running, jobs completed per pgqueuer's log)."""
        waiting = sum(row.count for row in await self.queries.queue_size())
        done = sum(
            row.count
            for row in await self.queries.log_statistics(limit=None)
            if row.status == "successful"
        )
        return waiting, done


@contextlib.asynccontextmanager
async def theirs(
    admin_url: str, label: str, server_workers: int | None, settings: dict[str, Any] | None = None
) -> AsyncIterator[Theirs]:
    import asyncpg
    from pgqueuer.db import AsyncpgDriver
    from pgqueuer.queries import Queries

    async with fresh_database(admin_url, f"theirs_{label}") as url:
        await install_pgqueuer(url)
        connection = await asyncpg.connect(url)
        try:
            yield Theirs(Queries(AsyncpgDriver(connection)), url)
        finally:
            await connection.close()


PEERS = {OURS: ours, THEIRS: theirs}


# -- the measurements ---------------------------------------------------------------------


Cpu = dict[str, dict[str, float]]  # figure → role → CPU ms per task


async def enqueue_single(peer: Ours | Theirs, n: int, cpu: Cpu, **_: Any) -> dict[str, float]:
    figure = "enqueue, one by one (tasks/s)"
    with peer.meter().measure(cpu.setdefault(figure, {}), lambda: n):
        started = now()
        for seq in range(n):
            await peer.enqueue_one(seq)
        rate = n / (now() - started)
    await expect_counts(peer, waiting=n)
    return {figure: rate}


async def enqueue_bulk(peer: Ours | Theirs, n: int, cpu: Cpu, **_: Any) -> dict[str, float]:
    figure = "enqueue, batches of 1,000 (tasks/s)"
    with peer.meter().measure(cpu.setdefault(figure, {}), lambda: n):
        started = now()
        await peer.enqueue_bulk(0, n)
        rate = n / (now() - started)
    await expect_counts(peer, waiting=n)
    return {figure: rate}


async def drain(peer: Ours | Theirs, n: int, loops: int, cpu: Cpu, **_: Any) -> dict[str, float]:
    figure = f"drain {n:,} pending (tasks/s)"
    await peer.enqueue_bulk(0, n)
    return {figure: await drained(peer, figure, n, loops, cpu)}


async def drained(peer: Ours | Theirs, figure: str, n: int, loops: int, cpu: Cpu) -> float:
    """The n pending tasks drained by a worker process, timed and metered as `figure`:
    tasks/s."""
    async with Worker(peer.worker_args(False, loops)) as worker:
        meter = peer.meter()
        meter.add_process("worker", worker.pid)
        with meter.measure(cpu.setdefault(figure, {}), lambda: n):
            started = now()
            await worker.send("GO")
            await worker.send(f"EXPECT {n}")
            done = await worker.done(within=max(120.0, n / 20))
    await expect_counts(peer, waiting=0, completed=n)
    return n / (done - started)


def keys_figure(n: int, keys: int, key_concurrency: int | None) -> str:
    limit = f"limit {key_concurrency}" if key_concurrency else "no limit"
    return f"drain, {keys} keys {limit} (tasks/s)"  # of n tasks, as the drain figure


async def drain_keys(
    peer: Ours | Theirs,
    n: int,
    loops: int,
    cpu: Cpu,
    keys: int,
    key_concurrency: int | None,
    **_: Any,
) -> dict[str, float]:
    """Drain as `drain`, the tasks spread over `keys` concurrency keys (durable-queue)."""
    assert isinstance(peer, Ours)
    figure = keys_figure(n, keys, key_concurrency)
    await enqueue_keyed(peer.base, n, keys)
    await expect_counts(peer, waiting=n)
    return {figure: await drained(peer, figure, n, loops, cpu)}


async def pipeline(
    peer: Ours | Theirs, seconds: float, loops: int, cpu: Cpu, **_: Any
) -> dict[str, float]:
    figure = "pipeline, one producer (completed/s)"
    created = 0
    async with Worker(peer.worker_args(False, loops)) as worker:
        meter = peer.meter()
        meter.add_process("worker", worker.pid)
        with meter.measure(cpu.setdefault(figure, {}), lambda: created):
            started = now()
            await worker.send("GO")
            while now() - started < seconds:
                await peer.enqueue_one(created)
                created += 1
            await worker.send(f"EXPECT {created}")
            done = await worker.done(within=120)
    await expect_counts(peer, waiting=0, completed=created)
    return {figure: created / (done - started)}


async def wake(peer: Ours | Theirs, samples: int, loops: int, **_: Any) -> dict[str, float]:
    latencies = []
    async with Worker(peer.worker_args(True, loops)) as worker:
        await worker.send("GO")
        for seq in range(WAKE_WARMUP + samples):
            await asyncio.sleep(WAKE_GAP)
            await peer.enqueue_one(seq)
            returned = now()
            started = await worker.started(seq)
            if seq >= WAKE_WARMUP:
                latencies.append((started - returned) * 1000)
        await worker.send(f"EXPECT {WAKE_WARMUP + samples}")
        await worker.done(within=60)
    p50, p95, p99 = percentiles(latencies)
    return {
        "wake latency p50 (ms)": p50,
        "wake latency p95 (ms)": p95,
        "wake latency p99 (ms)": p99,
    }


async def expect_counts(peer: Ours | Theirs, waiting: int, completed: int = 0) -> None:
    """The queue holds what the measurement says it should (else the figure means nothing)."""
    got = await peer.counts()
    if got != (waiting, completed):
        raise RuntimeError(
            f"{peer.name}: {got[0]} tasks waiting and {got[1]} completed, "
            f"expected {waiting} and {completed}"
        )


MEASUREMENTS = [
    ("enqueue_single", enqueue_single),
    ("enqueue_bulk", enqueue_bulk),
    ("drain", drain),
    ("drain_keys", drain_keys),  # with --keys only, durable-queue only
    ("pipeline", pipeline),
    ("wake", wake),
]


# -- the run and the table ----------------------------------------------------------------


def is_latency(figure: str) -> bool:
    return figure.endswith("(ms)")


def ratio(figure: str, ours_value: float, theirs_value: float) -> float:
    """Oriented so that higher is better for durable-queue."""
    return theirs_value / ours_value if is_latency(figure) else ours_value / theirs_value


def fmt(figure: str, value: float) -> str:
    return f"{value:,.2f}" if is_latency(figure) else f"{value:,.0f}"


async def run(admin_url: str, args: argparse.Namespace) -> None:
    n, seconds, samples = args.tasks, args.pipeline_seconds, args.wake_samples
    if args.only != THEIRS:
        import durable_queue_client

        # the server and the workers inherit this process's environment (bench/in_tree.py)
        print(f"durable_queue_client from {os.path.dirname(durable_queue_client.__file__)}")
    results: dict[str, dict[str, list[float]]] = {}
    cpu_runs: dict[str, dict[str, list[dict[str, float]]]] = {}  # figure → peer → runs
    modes: dict[str, set[str]] = {OURS: set(), THEIRS: set()}
    peers = [p for p in (OURS, THEIRS) if args.only in (None, p)]
    for run_index in range(args.runs):
        order = peers if run_index % 2 == 0 else list(reversed(peers))
        for label, measure in MEASUREMENTS:
            if args.figures and label not in args.figures:
                continue
            if label == "drain_keys" and not args.keys:
                continue
            for name in order:
                settings = None
                if label == "drain_keys":
                    if name != OURS:
                        continue
                    if args.key_concurrency:
                        settings = {"key_concurrency": args.key_concurrency}
                cpu: Cpu = {}
                async with PEERS[name](admin_url, label, args.server_workers, settings) as peer:
                    modes[name].add(f"bulk enqueue: {peer.bulk_mode}")
                    modes[name].add(f"worker: {peer.complete_mode}")
                    figures = await measure(
                        peer,
                        n=n,
                        seconds=seconds,
                        samples=samples,
                        loops=args.worker_loops,
                        cpu=cpu,
                        keys=args.keys,
                        key_concurrency=args.key_concurrency,
                    )
                for figure, by_role in cpu.items():
                    cpu_runs.setdefault(figure, {}).setdefault(name, []).append(by_role)
                for figure, value in figures.items():
                    results.setdefault(figure, {}).setdefault(name, []).append(value)
                    print(
                        f"run {run_index + 1}: {name:<14} {figure:<38} {fmt(figure, value)}",
                        flush=True,
                    )
    print_table(results, args.runs, modes, args.worker_loops)
    print_cpu_table(cpu_runs)


def print_cpu_table(cpu_runs: dict[str, dict[str, list[dict[str, float]]]]) -> None:
    """CPU ms per task of each process, median over the runs: where the time went."""
    roles = ["bench", "server", "worker", "postgres"]
    print()
    print("CPU per task (ms, median of the runs; bench: the producer process, postgres: all")
    print("its processes; a blank: the peer has no such process)")
    print(f"| {'figure':<38} | {'peer':<13} | " + " | ".join(f"{r:>8}" for r in roles) + " |")
    print(f"|{'-' * 40}|{'-' * 15}|" + "|".join("-" * 9 + ":" for _ in roles) + "|")
    for figure, by_peer in cpu_runs.items():
        for name, runs in by_peer.items():
            cells = []
            for role in roles:
                values = [run[role] for run in runs if role in run]
                cells.append(f"{statistics.median(values):>8.3f}" if values else " " * 8)
            print(f"| {figure:<38} | {name:<13} | " + " | ".join(cells) + " |")


def print_table(
    results: dict[str, dict[str, list[float]]],
    runs: int,
    modes: dict[str, set[str]],
    loops: int,
) -> None:
    print()
    print(
        f"median of {runs} run(s); ratio: rates ours/theirs, latencies theirs/ours "
        "(higher is better for durable-queue, 1.00 = parity)"
    )
    header = f"| {'figure':<38} | {OURS:>13} | {THEIRS:>10} | {'ratio':>6} |"
    print(header)
    print(f"|{'-' * 40}|{'-' * 14}:|{'-' * 11}:|{'-' * 7}:|")
    for figure, by_peer in results.items():
        medians = {name: statistics.median(values) for name, values in by_peer.items()}
        ours_value, theirs_value = medians.get(OURS), medians.get(THEIRS)
        cells = [fmt(figure, v) if v is not None else "-" for v in (ours_value, theirs_value)]
        shown = (
            f"{ratio(figure, ours_value, theirs_value):.2f}" if ours_value and theirs_value else "-"
        )
        print(f"| {figure:<38} | {cells[0]:>13} | {cells[1]:>10} | {shown:>6} |")
    print()
    if modes[OURS]:
        print(f"{OURS}: worker: {loops} claim loop(s) in one process")
    for name, lines in modes.items():
        for line in sorted(lines):
            print(f"{name}: {line}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url",
        help="PostgreSQL URI whose user may create databases "
        "(default: an embedded, throw-away PostgreSQL)",
    )
    parser.add_argument("--runs", type=int, default=1, help="runs; the table shows medians")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 2,000 tasks, 5 s pipeline, 50 wake samples"
    )
    parser.add_argument("--tasks", type=int, help="tasks for enqueue and drain (default 20,000)")
    parser.add_argument("--pipeline-seconds", type=float, help="pipeline length (default 20)")
    parser.add_argument("--wake-samples", type=int, help="timed wakes (default 200)")
    parser.add_argument(
        "--worker-loops",
        type=int,
        default=2,
        help="claim loops in the durable-queue worker (default 2)",
    )
    parser.add_argument(
        "--server-workers",
        type=int,
        help="pass `--workers N` to `durable-queue serve` (default: not passed)",
    )
    parser.add_argument("--only", choices=[OURS, THEIRS], help="measure one peer only")
    parser.add_argument(
        "--keys",
        type=int,
        default=0,
        help="also drain with the tasks spread over this many concurrency keys "
        "(durable-queue only; figure drain_keys; needs issue 23's server)",
    )
    parser.add_argument(
        "--key-concurrency",
        type=int,
        help="the drain_keys queue's key_concurrency (default: no limit)",
    )
    parser.add_argument(
        "--figures",
        type=lambda text: text.split(","),
        help="measure only these, comma-separated: "
        + ",".join(label for label, _ in MEASUREMENTS)
        + " (default: all)",
    )
    args = parser.parse_args()
    unknown = set(args.figures or ()) - {label for label, _ in MEASUREMENTS}
    if unknown:
        parser.error(f"--figures: no such figure: {', '.join(sorted(unknown))}")
    if args.figures and "drain_keys" in args.figures and not args.keys:
        parser.error("--figures drain_keys needs --keys")
    if args.key_concurrency and not args.keys:
        parser.error("--key-concurrency needs --keys")
    quick = args.quick
    args.tasks = args.tasks or (2000 if quick else 20000)
    args.pipeline_seconds = args.pipeline_seconds or (5.0 if quick else 20.0)
    args.wake_samples = args.wake_samples or (50 if quick else 200)
    # the producer side of both peers on uvloop, as their workers
    run_on_database(args.database_url, lambda url: run(url, args), uvloop=True)


if __name__ == "__main__":
    main()
