"""PostgreSQL's work per create in other shapes of data: counted, as bench/pg_cost.py counts.

    python bench/experiments/pg_shapes.py [--ops 100]

A throw-away PostgreSQL under valgrind's callgrind, all migrations applied, counts the
instructions of one create three ways, each sent as the server sends `create_task`
(PREPARE once, EXECUTE per call, the same arguments):

  dq_create_task              the schema's: a task row and its first run's row
  one row, bare               a task and its run as one row of one table
                              (bench/experiments/pg_shapes.sql) with only a primary key, the run
                              id and the claimable index: no other index, check,
                              foreign key or trigger
  one row, with the features  the same table after bench/experiments/pg_shapes_features.sql: the
                              checks, foreign keys, listing / deadline / idempotency /
                              expiry indexes, one count trigger and the notification

The prototypes exist only in that database. The three counts tell how much of a create
is the two-table shape and how much is what each create keeps up for everyone else
(docs/performance.md). Needs valgrind; a couple of minutes.

An experiment: the one-row shape was measured, not adopted. It runs with bench/pg_cost.py,
which it imports from bench/ (put on the path below).
"""

from __future__ import annotations

import argparse
import functools
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, for pg_cost

import pg_cost

from durable_queue.db import PreparedStatement

HERE = Path(__file__).resolve().parent


@functools.cache
def one_row_statement() -> PreparedStatement:
    """`create_task` as the server sends it, calling shape_create_task instead."""
    sql = pg_cost.QUERIES.create_task.sql.replace("dq_create_task(", "shape_create_task(")
    return PreparedStatement.of("shape_create_task", sql)


def create_one_row(backend: pg_cost.Backend) -> None:
    statement = one_row_statement()
    if "shape_create_task" not in backend.prepared:
        backend.rows(statement.prepare_sql)
        backend.prepared.add("shape_create_task")
    [row] = backend.rows(statement.execute_sql, pg_cost.CREATE_ARGUMENTS)
    assert row["outcome"] == "ok", row


def apply(cluster: pg_cost.Cluster, script: str) -> None:
    backend = pg_cost.Backend(cluster.url)
    backend.rows((HERE / script).read_text())
    backend.conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=100, help="creates per kind (default 100)")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("needs valgrind (Debian: apt-get install valgrind)")
    with tempfile.TemporaryDirectory(prefix="pg_shapes.") as tmp:
        cluster = pg_cost.Cluster(Path(tmp))
        with cluster.running(callgrind=False):
            pg_cost.migrate(cluster.url, None)
            apply(cluster, "pg_shapes.sql")
        with cluster.running(callgrind=True):
            sessions = pg_cost.measure(
                cluster,
                args.ops,
                [
                    ("dq_create_task", pg_cost.create, 1),
                    ("one row, bare", create_one_row, 1),
                ],
            )
            apply(cluster, "pg_shapes_features.sql")
            sessions += pg_cost.measure(
                cluster, args.ops, [("one row, with the features", create_one_row, 1)]
            )
        results = pg_cost.counted(cluster, sessions)
    pg_cost.print_table("PostgreSQL instructions per create (callgrind, one backend)", results)


if __name__ == "__main__":
    main()
