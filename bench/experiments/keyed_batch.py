"""A batch create with an idempotency key on every item, in PostgreSQL alone: today's
keyed path against the bulk path, and a shape that takes the bulk path for new keys.

    python bench/in_tree.py /work/baseline bench/experiments/keyed_batch.py
        [--database-url URL] [--batches 20] [--rounds 3]

One connection calls, batches of 1,000 (each a fresh queue's share, the ways in turn,
each way on a queue of its own):

  plain            dq_create_tasks, items without keys (its bulk path, one statement)
  keyed            dq_create_tasks, every item with a new uuid4 key (as the Python
                   client sends it): the keyed path, ON CONFLICT and a lookup per item
  keyed, shape     shape_create_tasks_keyed (bench/experiments/keyed_batch.sql): the
                   keys probed once, then the bulk path with the keys set

and prints, per task, the wall time, the backend's CPU (user and system, from /proc:
the bench must run on the database's machine) and the WAL written. It checks that the
shape answers a repeated batch with the first one's ids, created false, through
dq_create_tasks. The shape is written against the 0001.baseline schema (run it in a
checkout of it, as above). An experiment: measured, not adopted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

import psycopg2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, for database

from database import run_on_database

from durable_queue.migrate import apply_migrations

SHAPE = Path(__file__).with_name("keyed_batch.sql")
BATCH = 1000
TICKS = os.sysconf("SC_CLK_TCK")
WAYS = [("plain", "dq_create_tasks", False), ("keyed", "dq_create_tasks", True),
        ("keyed, shape", "shape_create_tasks_keyed", True)]  # fmt: skip


def cpu(pid: int) -> tuple[float, float]:
    """(user, system) seconds of process `pid`."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICKS, int(fields[12]) / TICKS


def body(keyed: bool, start: int) -> str:
    return json.dumps(
        [
            {"task_name": "t", "params": {"n": i}}
            | ({"idempotency_key": str(uuid.uuid4())} if keyed else {})
            for i in range(start, start + BATCH)
        ]
    )


def check_shape(cur: psycopg2.extensions.cursor) -> None:
    """A repeated batch: the same ids, created false (dq_create_tasks answers it)."""
    batch = body(True, 0)
    answers = []
    for _ in range(2):
        cur.execute("SELECT task_id, created FROM shape_create_tasks_keyed('check', %s)", (batch,))
        answers.append(cur.fetchall())
    first, again = answers
    assert [r[0] for r in first] == [r[0] for r in again], "a repeat made other tasks"
    assert all(r[1] for r in first) and not any(r[1] for r in again), "created flags"


def measure(url: str, batches: int, rounds: int) -> None:
    asyncio.run(apply_migrations(url))
    conn = psycopg2.connect(url)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute(SHAPE.read_text())
    cur.execute("INSERT INTO queues (name) VALUES ('check'), ('plain'), ('keyed'), ('shape')")
    check_shape(cur)
    cur.execute("SELECT pg_backend_pid()")
    [pid] = cur.fetchone()
    queues = {"plain": "plain", "keyed": "keyed", "keyed, shape": "shape"}
    results: dict[str, list[tuple[float, float, float, float]]] = {w[0]: [] for w in WAYS}
    tasks = batches * BATCH
    for index in range(rounds):
        for label, function, keyed in WAYS if index % 2 == 0 else WAYS[::-1]:
            bodies = [body(keyed, (index * batches + i) * BATCH) for i in range(batches)]
            cur.execute("SELECT pg_current_wal_insert_lsn()")
            [lsn] = cur.fetchone()
            (user0, sys0), started = cpu(pid), time.perf_counter()
            for batch in bodies:
                cur.execute(f"SELECT count(*) FROM {function}(%s, %s)", (queues[label], batch))
            wall, (user1, sys1) = time.perf_counter() - started, cpu(pid)
            cur.execute("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s)", (lsn,))
            [wal] = cur.fetchone()
            row = (wall / tasks * 1e3, (user1 - user0) / tasks * 1e3,
                   (sys1 - sys0) / tasks * 1e3, float(wal) / tasks)  # fmt: skip
            results[label].append(row)
            print(f"round {index + 1}: {label:<13} wall {row[0]:.4f} ms  user {row[1]:.4f} ms  "
                  f"system {row[2]:.4f} ms  WAL {row[3]:,.0f} B  per task", flush=True)  # fmt: skip
    conn.close()
    print()
    print(f"per task, median of {rounds} rounds of {batches} batches of {BATCH:,}")
    print("| way           | wall ms | backend user ms | backend system ms | WAL bytes |")
    print("|---------------|--------:|----------------:|------------------:|----------:|")
    for label, rows in results.items():
        wall, user, system, wal = (statistics.median(column) for column in zip(*rows, strict=True))
        print(f"| {label:<13} | {wall:>7.4f} | {user:>15.4f} | {system:>17.4f} | {wal:>9,.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="PostgreSQL URI (default: an embedded one)")
    parser.add_argument("--batches", type=int, default=20, help="batches per way and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the table shows medians")
    args = parser.parse_args()

    async def run(url: str) -> None:
        await asyncio.to_thread(measure, url, args.batches, args.rounds)

    run_on_database(args.database_url, run)


if __name__ == "__main__":
    main()
