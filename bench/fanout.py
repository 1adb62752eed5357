"""Fan-out and fan-in (issue 25): a no-op parent spawns N children and joins them.

    python bench/fanout.py [--database-url URL] [--children 1000] [--repeats 3]
                           [--concurrency 64] [--spawn-in-flight 32]

Starts an embedded PostgreSQL in a temporary directory unless --database-url is given
(the queue gets a unique name and is deleted at the end), then a real server process
(`python -m durable_queue serve` on a free loopback port), and runs a real `Worker`
(the SDK, --concurrency slots) in this process with two handlers:

- the parent spawns --children children with `ctx.spawn` (one step each, named
  `child:<i>`; the first alone, which reads the task's checkpoints once, then the rest
  --spawn-in-flight at a time) and joins them with `ctx.gather`, which answers at once
  when all have ended and otherwise puts the run to sleep until the last one ends; the
  handler then runs again from the top (the spawns return their checkpoints, no
  request) and completes with the number of results;
- a child returns None.

Each repeat enqueues a fresh parent (`client.enqueue`) and waits for it with
`handle.result()`. Figures, per repeat, the median printed last:

- parent create to parent completed: the parent's `completed_at - created_at` as the
  database recorded them; beside it the phases from the same timestamps: until the
  last child was created (spawning), until the last child completed, and from there
  until the parent completed (the join's wake-up, the parent's claim and its second
  execution);
- from sending the create to `handle.result()` returning, in this process;
- HTTP requests per child: the server's own count, the `_count` series of
  `durable_queue_http_request_duration_seconds` on /metrics, summed over every route
  but /metrics, read before and after the repeat (one server process, and nothing
  else talks to it meanwhile), divided by N; by route, to show where they go. The
  worker's claims are long polls of up to `concurrency` runs each, so their count
  depends on timing; creates, checkpoints and completes do not.

Timings belong here, never in the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import aiopg
from database import run_on_database
from server_process import wait_until_ready

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "clients" / "python"))

from durable_queue_client import DurableClient, TaskContext, Worker  # noqa: E402

HTTP_COUNT = "durable_queue_http_request_duration_seconds_count"
HTTP_SUM = "durable_queue_http_request_duration_seconds_sum"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def requests_by_route(
    session: aiohttp.ClientSession, base: str
) -> tuple[Counter[str], Counter[str]]:
    """The server's HTTP requests so far by "METHOD route", /metrics left out: their
    count, and the seconds they took in all (the histogram's `_sum`)."""
    async with session.get(f"{base}/metrics") as resp:
        text = await resp.text()
    counts: Counter[str] = Counter()
    seconds: Counter[str] = Counter()
    for line in text.splitlines():
        for suffix, into in ((HTTP_COUNT, counts), (HTTP_SUM, seconds)):
            if not line.startswith(suffix + "{"):
                continue
            labels, value = line[len(suffix) + 1 :].rsplit("} ", 1)
            fields = dict(part.split("=", 1) for part in labels.split('",') if "=" in part)
            method = fields.get("method", "").strip('"')
            route = fields.get("route", "").strip('"')
            if route != "/metrics":
                into[f"{method} {route}"] += float(value)
    return counts, seconds


def make_worker(client: DurableClient, queue: str, concurrency: int, in_flight: int) -> Worker:
    worker = Worker(client, queue, concurrency=concurrency, claim_timeout=60, create_queue=False)

    @worker.task("child")
    async def child(ctx: TaskContext, params: Any) -> None:
        return None

    @worker.task("parent")
    async def parent(ctx: TaskContext, params: dict[str, Any]) -> dict[str, int]:
        count = params["children"]
        first = await ctx.spawn("child", {"i": 0}, step="child:0")  # reads the checkpoints
        gate = asyncio.Semaphore(in_flight)

        async def spawn(i: int) -> Any:
            async with gate:
                return await ctx.spawn("child", {"i": i}, step=f"child:{i}")

        rest = await asyncio.gather(*(spawn(i) for i in range(1, count)))
        results = await ctx.gather(first, *rest)
        return {"children": len(results)}

    return worker


async def phases(database_url: str, parent_id: str) -> dict[str, float]:
    """Seconds from the parent's creation, as the database recorded them."""
    async with aiopg.connect(database_url) as conn, conn.cursor() as cur:
        await cur.execute(
            """
            SELECT extract(epoch FROM p.completed_at - p.created_at),
                   extract(epoch FROM max(c.created_at) - p.created_at),
                   extract(epoch FROM max(c.completed_at) - p.created_at),
                   count(c.id), count(c.id) FILTER (WHERE c.status = 'completed'),
                   (SELECT count(*) FROM runs r WHERE r.task_id = p.id)
            FROM tasks p LEFT JOIN tasks c ON c.parent_task_id = p.id
            WHERE p.id = %s
            GROUP BY p.id, p.completed_at, p.created_at
            """,
            (parent_id,),
        )
        total, spawned, children_done, children, completed, runs = await cur.fetchone()
    return {
        "total": float(total),
        "spawned": float(spawned),
        "children_done": float(children_done),
        "children": int(children),
        "completed": int(completed),
        "parent_runs": int(runs),
    }


async def run(database_url: str, args: argparse.Namespace) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DATABASE_URL": database_url, "DURABLE_LOG_LEVEL": "WARNING"}
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "durable_queue", "serve", "--host", "127.0.0.1", "--port", str(port)),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    queue = f"bench-fanout-{uuid.uuid4().hex[:8]}"
    rows = []
    routes_total: Counter[str] = Counter()
    routes_seconds: Counter[str] = Counter()
    try:
        async with aiohttp.ClientSession() as control, DurableClient(base) as client:
            await wait_until_ready(control, base, server, poll=0.2)
            await client.create_queue(queue)
            worker = make_worker(client, queue, args.concurrency, args.spawn_in_flight)
            running = asyncio.create_task(worker.run(handle_signals=False))
            try:
                for repeat in range(args.repeats + 1):  # the first one warms up
                    before, took_before = await requests_by_route(control, base)
                    started = time.perf_counter()
                    handle = await client.enqueue(queue, "parent", {"children": args.children})
                    result = await handle.result(timeout=args.timeout)
                    waited = time.perf_counter() - started
                    assert result == {"children": args.children}, result
                    after, took_after = await requests_by_route(control, base)
                    used = after - before
                    seen = await phases(database_url, handle.task_id)
                    assert seen["children"] == seen["completed"] == args.children, seen
                    if repeat == 0:
                        continue
                    routes_total += used
                    routes_seconds += took_after - took_before
                    rows.append((seen, waited, sum(used.values()) / args.children))
                    print(
                        f"repeat {repeat}: {seen['total'] * 1000:.0f} ms, "
                        f"{sum(used.values()) / args.children:.2f} requests per child",
                        flush=True,
                    )
            finally:
                worker.stop()
                await running
                await client.delete_queue(queue, force=True)
    finally:
        if server.returncode is None:
            server.terminate()
            try:
                await asyncio.wait_for(server.wait(), 30)
            except TimeoutError:
                server.kill()
                await server.wait()

    def median(values: list[float]) -> float:
        return statistics.median(values)

    n = args.children
    print()
    print(
        f"fan-out of {n:,} no-op children, joined (worker concurrency {args.concurrency}, "
        f"spawns in flight {args.spawn_in_flight}); median of {len(rows)} repeats"
    )
    print(f"{'figure':<58} {'median':>10}")
    figures = [
        ("parent create -> parent completed (database), ms", [r[0]["total"] * 1000 for r in rows]),
        ("  create -> last child created (spawning), ms", [r[0]["spawned"] * 1000 for r in rows]),
        ("  create -> last child completed, ms", [r[0]["children_done"] * 1000 for r in rows]),
        (
            "  last child completed -> parent completed, ms",
            [(r[0]["total"] - r[0]["children_done"]) * 1000 for r in rows],
        ),
        ("create sent -> handle.result() returned (client), ms", [r[1] * 1000 for r in rows]),
        ("HTTP requests per child (server's count)", [r[2] for r in rows]),
        ("runs of the parent", [r[0]["parent_runs"] for r in rows]),
    ]
    for label, values in figures:
        print(f"{label:<58} {median(values):>10.2f}")
    print()
    print("requests per child by route, and their mean time in the server (its histogram)")
    for route, count in routes_total.most_common():
        mean = routes_seconds[route] / count * 1000 if count else 0.0
        print(f"  {route:<58} {count / n / len(rows):>8.3f} {mean:>8.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url", help="PostgreSQL URI (default: an embedded, throw-away one)"
    )
    parser.add_argument("--children", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (after one warm-up)")
    parser.add_argument("--concurrency", type=int, default=64, help="the worker's slots")
    parser.add_argument(
        "--spawn-in-flight", type=int, default=32, help="spawns the parent has in flight at once"
    )
    parser.add_argument(
        "--timeout", type=float, default=600, help="seconds to wait for one fan-out"
    )
    args = parser.parse_args()
    run_on_database(args.database_url, lambda url: run(url, args))


if __name__ == "__main__":
    main()
