"""Claim latency against backlogs of 1 thousand to 1 million pending runs.

    python bench/claim.py [--database-url URL] [--sizes 1000,100000,1000000] [--claims 200]
                          [--limit 1] [--priorities 5] [--keys 1000]
                          [--key-concurrency 1] [--held-runs 300]

Starts an embedded PostgreSQL unless --database-url is given (its database
gets a fresh schema), serves the app in-process on a loopback port and times
HTTP claims (limit 1, or --limit; a backlog smaller than limit * claims
runs dry) with aiohttp. It also times claims from an empty queue
while another queue holds the largest backlog. Prints a table of p50/p95/p99
in milliseconds. Timings belong here, never in the test suite.

Flow control (issue 23, migration 0002; not on a server before it): with --priorities N
every seeded task gets a random priority in -N..N, with --keys K a concurrency key drawn
at random from K keys; the seeded runs carry them, each run's fair_rank is its place in
its key's line at its priority (0, 1, 2 ..., as dq_next_rank ranks runs created one by
one into an empty queue) and the queue is marked ordered, so
claims take the ordered path (runs_claim_order). With --key-concurrency L the backlog
queues are created with that key limit (the limited path: the queue's advisory lock and
the count of runs in flight); then --held-runs M claims M runs before the timing and
keeps them (with L = 1, M keys at their limit, whose runs the claims step over), and each
timed claim's runs are completed once timed, so the number held stays M.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import aiohttp
import aiopg
import aiosql
import attrs
from aiohttp import web
from database import run_on_database
from latency import percentiles, print_table

from durable_queue.app import create_app
from durable_queue.config import Settings
from durable_queue.db import queries
from durable_queue.migrate import apply_migrations

SEED = aiosql.from_path(Path(__file__).with_name("seed.sql"), "aiopg")


async def claim(
    session: aiohttp.ClientSession, base: str, queue: str, limit: int
) -> list[dict[str, object]]:
    body = {"limit": limit, "claim_timeout": 600}
    async with session.post(f"{base}/api/v1/queues/{queue}/tasks/claim", json=body) as resp:
        assert resp.status == 200, await resp.text()
        return (await resp.json())["tasks"]


async def complete(session: aiohttp.ClientSession, base: str, task: dict[str, object]) -> None:
    body = {"claim_token": task["claim_token"]}
    async with session.post(f"{base}/api/v1/runs/{task['run_id']}/complete", json=body) as resp:
        assert resp.status == 200, await resp.text()


async def time_claims(
    session: aiohttp.ClientSession,
    base: str,
    queue: str,
    count: int,
    limit: int = 1,
    *,
    complete_claimed: bool = False,
) -> list[float]:
    """`count` claims timed one after the other; with `complete_claimed`, each claim's runs
    are completed after its timing (untimed), freeing their slots."""
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        tasks = await claim(session, base, queue, limit)
        samples.append((time.perf_counter() - started) * 1000)
        if not tasks and not queue.startswith("empty"):
            EMPTY_CLAIMS[queue] = EMPTY_CLAIMS.get(queue, 0) + 1
        if complete_claimed:
            for task in tasks:
                await complete(session, base, task)
    return samples


EMPTY_CLAIMS: dict[str, int] = {}  # backlog queue → claims that got no run (ran dry)


@attrs.frozen
class Flow:
    """The flow-control shape of the backlogs (all zero/None: today's plain backlog)."""

    priorities: int = 0
    keys: int = 0
    key_concurrency: int | None = None
    held_runs: int = 0

    @property
    def ordered(self) -> bool:
        return self.priorities > 0 or self.keys > 0

    def describe(self) -> str:
        if not self.ordered and self.key_concurrency is None:
            return "no priorities, no concurrency keys, no limits"
        parts = [
            f"priorities -{self.priorities}..{self.priorities}" if self.priorities else "",
            f"{self.keys:,} concurrency keys" if self.keys else "",
            f"key_concurrency {self.key_concurrency}" if self.key_concurrency else "",
            f"{self.held_runs:,} runs held (claimed) during the timing" if self.held_runs else "",
        ]
        return ", ".join(p for p in parts if p)


async def run(database_url: str, sizes: list[int], claims: int, limit: int, flow: Flow) -> None:
    import durable_queue

    print(f"durable_queue from {Path(durable_queue.__file__).parent}", flush=True)
    await apply_migrations(database_url)
    app = create_app(Settings(database_url=database_url, maintenance_interval=3600))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    rows = []
    try:
        async with (
            aiohttp.ClientSession() as session,
            aiopg.connect(database_url, timeout=900) as conn,
        ):
            await session.post(f"{base}/api/v1/queues", json={"name": "empty"})
            limited = flow.key_concurrency is not None
            for size in sizes:
                name = f"backlog-{size}"
                settings = {"key_concurrency": flow.key_concurrency} if limited else {}
                async with session.post(
                    f"{base}/api/v1/queues", json={"name": name, **settings}
                ) as resp:
                    assert resp.status == 201, await resp.text()
                queue_id = (await queries.get_queue_by_name(conn, name=name))["id"]
                started = time.perf_counter()
                if flow.ordered:
                    await SEED.bench_seed_flow_backlog(
                        conn,
                        queue_id=queue_id,
                        count=size,
                        keys=flow.keys,
                        max_priority=flow.priorities,
                    )
                else:
                    await SEED.bench_seed_backlog(conn, queue_id=queue_id, count=size)
                await SEED.bench_analyze(conn)
                seeded = time.perf_counter() - started
                if flow.priorities:  # claim order: the highest priority first
                    [first] = await claim(session, base, name, 1)
                    assert first["priority"] == flow.priorities, first
                    if limited:
                        await complete(session, base, first)
                held = 0
                while held < flow.held_runs:  # kept claimed through the timing
                    got = await claim(session, base, name, min(100, flow.held_runs - held))
                    assert got, f"only {held} runs could be held"
                    held += len(got)
                await time_claims(session, base, name, 20, complete_claimed=limited)  # warm-up
                timed = await time_claims(
                    session, base, name, claims, limit, complete_claimed=limited
                )
                rows.append((f"{size:>9,} pending", *percentiles(timed)))
                print(f"seeded {size:,} runs in {seeded:.1f}s", flush=True)
            empty = await time_claims(session, base, "empty", claims, limit)
            rows.append((f"empty queue beside {sizes[-1]:,}", *percentiles(empty)))
    finally:
        await runner.cleanup()
    print()
    print(f"claim limit {limit}; {flow.describe()}")
    print_table("backlog", rows)
    for queue, empty in EMPTY_CLAIMS.items():
        print(f"note: {empty} claims of {queue} got no run (the backlog ran dry)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url", help="PostgreSQL URI (default: an embedded, throw-away one)"
    )
    parser.add_argument(
        "--sizes", default="1000,100000,1000000", help="backlog sizes, comma-separated"
    )
    parser.add_argument("--claims", type=int, default=200, help="timed claims per backlog")
    parser.add_argument("--limit", type=int, default=1, help="runs asked for per claim")
    flow = parser.add_argument_group("flow control (issue 23; needs migration 0002)")
    flow.add_argument(
        "--priorities", type=int, default=0, help="random priorities in -N..N (default: all 0)"
    )
    flow.add_argument(
        "--keys", type=int, default=0, help="concurrency keys the tasks are spread over"
    )
    flow.add_argument(
        "--key-concurrency", type=int, help="the backlog queues' key_concurrency (a limit)"
    )
    flow.add_argument(
        "--held-runs",
        type=int,
        default=0,
        help="runs claimed before the timing and held through it (with --key-concurrency)",
    )
    args = parser.parse_args()
    if args.held_runs and args.key_concurrency is None:
        parser.error("--held-runs needs --key-concurrency")
    sizes = [int(s) for s in args.sizes.split(",")]
    shape = Flow(args.priorities, args.keys, args.key_concurrency, args.held_runs)
    run_on_database(args.database_url, lambda url: run(url, sizes, args.claims, args.limit, shape))


if __name__ == "__main__":
    main()
