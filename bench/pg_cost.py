"""PostgreSQL's own work per operation, counted in instructions: the same on every run.

    python bench/pg_cost.py [--ops 200] [--migrations-up-to 0001.baseline]
                            [--kinds batch,batch_keyed] [--batch-size 1000]

Wall-clock timings on a shared 2-core VM move by 10-20% between identical runs, which
hides a change worth a few percent of PostgreSQL's work. This bench runs a throw-away
PostgreSQL (pgserver's binaries) under valgrind's callgrind, migrates as the server
does (all migrations, or up to and including --migrations-up-to, to measure a
migration by comparing two runs; a change to a function file is measured by running
this in a checkout before it and one after), and sends the hot path's statements from one connection as the
server does (PREPARE once, EXECUTE per call). Each kind of operation runs in two new
sessions, with N and 2N calls after a warm-up; the difference of their backends'
instruction counts is N calls. It prints instructions per call and per task:

  create            one create_task (dq_create_task), as a single create does
  claim + complete  claim_runs limit 1, then complete_run of the claimed run
  batch create      create_tasks of 100 (--batch-size), per task
  batch create, keyed   the same with an idempotency key on every item (a new uuid4 each,
                    as the Python client sends), per task
  claim 100 + batch complete   claim_runs limit 100, complete_runs of them, per task

Needs valgrind (Debian: `apt-get install valgrind`); a few minutes. Counts exclude
the commit's fsync (fsync=off) and every process but the one backend.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiosql
import psycopg2
import psycopg2.extras

from durable_queue.db import PreparedStatement
from durable_queue.migrate import apply_migrations
from durable_queue.resources import resource_dir

QUERIES = aiosql.from_path(resource_dir("queries"), "psycopg2")
QUEUE = "cost"
WARMUP_CALLS = 10  # calls per session before those counted: plans cached, as in a pool


def _postgres_bin() -> Path:
    from pgserver._commands import POSTGRES_BIN_PATH  # the embedded database's binaries

    return POSTGRES_BIN_PATH


def _system_user() -> str | None:
    """PostgreSQL refuses to run as root: pgserver's own user then, as the embedded one."""
    if os.geteuid() != 0:
        return None
    import stat

    from pgserver.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists("pgserver")
    # what pgserver does before its own initdb as root: the binaries readable by that user
    ensure_prefix_permissions(_postgres_bin())
    read, execute = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
    ensure_folder_permissions(_postgres_bin(), read | execute)
    ensure_folder_permissions(_postgres_bin().parent / "lib", read)
    return "pgserver"


class Cluster:
    """A throw-away cluster in `root`, started plainly or under callgrind."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.user = _system_user()
        self.bin = _postgres_bin()
        if self.user:
            shutil.chown(root, self.user)
        self._run(["initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust"])
        self.proc: subprocess.Popen[bytes] | None = None

    def _run(self, args: list[str]) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        subprocess.run(command, check=True, user=self.user, capture_output=True)

    @property
    def url(self) -> str:
        return f"postgresql://postgres:@/postgres?host={self.root}"

    @contextlib.contextmanager
    def running(self, callgrind: bool) -> Iterator[None]:
        command = [str(self.bin / "postgres"), "-D", str(self.data), "-k", str(self.root)]
        command += ["-h", "", "-c", "fsync=off", "-c", "autovacuum=off"]
        if callgrind:
            out = str(self.root / "callgrind.%p")
            command = ["valgrind", "--tool=callgrind", "--trace-children=yes",
                       f"--callgrind-out-file={out}", *command]  # fmt: skip
        log = open(self.root / "server.log", "ab")
        self.proc = subprocess.Popen(command, user=self.user, stdout=log, stderr=log)
        try:
            self._wait_ready()
            yield
        finally:
            self.proc.terminate()  # SIGTERM: PostgreSQL's smart shutdown
            self.proc.wait(timeout=120)
            log.close()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            probe = [str(self.bin / "pg_isready"), "-q", "-U", "postgres", "-h", str(self.root)]
            if subprocess.run(probe, check=False).returncode == 0:
                return
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited: see {self.root / 'server.log'}")
            time.sleep(0.5)
        raise RuntimeError("postgres did not become ready")


def migrate(url: str, up_to: str | None) -> None:
    """Migrate as the server does: the migrations (up to and including `up_to`), then the
    function step (the functions of migrations/functions/ as they are in this checkout)."""
    try:
        asyncio.run(apply_migrations(url, up_to))
    except ValueError as exc:
        raise SystemExit(f"--migrations-up-to: {exc}") from exc


@functools.cache
def prepared_statement(name: str) -> PreparedStatement:
    """The named query as the server sends it (PREPARE text, EXECUTE text), built once."""
    return PreparedStatement.of(name, getattr(QUERIES, name).sql)


class Backend:
    """One connection whose statements go out as the server's do: EXECUTE of a prepared
    statement for the hot queries."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg2.connect(url, cursor_factory=psycopg2.extras.RealDictCursor)
        self.conn.autocommit = True
        self.prepared: set[str] = set()
        self.pid = self.rows("SELECT pg_backend_pid() AS pid")[0]["pid"]

    def rows(self, sql: str, params: Any = None) -> list[Any]:
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def call(self, name: str, **params: Any) -> list[Any]:
        statement = prepared_statement(name)
        if name not in self.prepared:
            self.rows(statement.prepare_sql)
            self.prepared.add(name)
        return self.rows(statement.execute_sql, params)


# One create as the server sends it for a task of one name and a small params object.
CREATE_ARGUMENTS: dict[str, Any] = {
    "queue_name": QUEUE, "task_name": "t", "params": '{"n": 1}', "headers": None,
    "retry_strategy": None, "max_attempts": 1, "start_timeout": 0, "execution_timeout": 0,
    "workflow_run_id": None, "idempotency_key": None, "run_at": None,
}  # fmt: skip


# what a create_task of flow control (migration 0002) takes besides: no priority, no key
FLOW_ARGUMENTS: dict[str, Any] = {"priority": 0, "concurrency_key": None}
COMPOSITION_ARGUMENTS: dict[str, Any] = {"parent_task_id": None, "parent_close": None}


@functools.cache
def create_arguments() -> dict[str, Any]:
    """CREATE_ARGUMENTS, with FLOW_ARGUMENTS and COMPOSITION_ARGUMENTS where this
    checkout's create_task takes them."""
    arguments = dict(CREATE_ARGUMENTS)
    if "priority" in QUERIES.create_task.sql:
        arguments |= FLOW_ARGUMENTS
    if "parent_task_id" in QUERIES.create_task.sql:
        arguments |= COMPOSITION_ARGUMENTS
    return arguments


def create(backend: Backend) -> None:
    [row] = backend.call("create_task", **create_arguments())
    assert row["outcome"] == "ok", row


def claim_and_complete(backend: Backend) -> None:
    [claimed] = backend.call("claim_runs", queue_name=QUEUE, limit=1, claim_timeout=600)
    [done] = backend.call(
        "complete_run", run_id=claimed["run_id"], result="{}", claim_token=claimed["claim_token"]
    )
    assert done["outcome"] == "ok", done


def batch_create(backend: Backend, size: int = 100) -> None:
    items = json.dumps([{"task_name": "t", "params": {"n": i}} for i in range(size)])
    [row] = backend.call("create_tasks", queue_name=QUEUE, tasks=items)
    assert row["outcome"] == "ok", row


def batch_create_keyed(backend: Backend, size: int = 100) -> None:
    """A batch as the Python client sends it: every item with a new random idempotency key."""
    items = json.dumps(
        [
            {"task_name": "t", "params": {"n": i}, "idempotency_key": str(uuid.uuid4())}
            for i in range(size)
        ]
    )
    [row] = backend.call("create_tasks", queue_name=QUEUE, tasks=items)
    assert row["outcome"] == "ok", row
    assert json.loads(row["body"])["tasks"][-1]["created"] is True, row


def claim_and_complete_batch(backend: Backend, size: int = 100) -> None:
    claimed = backend.call("claim_runs", queue_name=QUEUE, limit=size, claim_timeout=600)
    assert len(claimed) == size, len(claimed)
    runs = [{"run_id": str(r["run_id"]), "claim_token": r["claim_token"]} for r in claimed]
    done = backend.call("complete_runs", runs=json.dumps(runs))
    assert all(row["outcome"] == "completed" for row in done), done


def backend_instructions(cluster: Cluster, pid: int) -> int:
    """All instructions of a backend that has exited (callgrind writes its file then)."""
    path = cluster.root / f"callgrind.{pid}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if path.exists():
            match = re.search(r"^summary:\s+(\d+)", path.read_text(), re.MULTILINE)
            if match:
                return int(match.group(1))
        time.sleep(0.2)
    raise RuntimeError(f"callgrind wrote no {path.name}")


Operation = Callable[[Backend], None]
KINDS: list[tuple[str, Operation, int]] = [
    ("create", create, 1),
    ("claim + complete", claim_and_complete, 1),
    ("batch create of 100", batch_create, 100),
    ("batch create of 100, keyed", batch_create_keyed, 100),
    ("claim 100 + batch complete", claim_and_complete_batch, 100),
]
# --kinds names, in the order of KINDS
KIND_NAMES = ["create", "claim", "batch", "batch_keyed", "claim_batch"]


def chosen_kinds(names: list[str] | None, batch_size: int) -> list[tuple[str, Operation, int]]:
    """The kinds named (all when None), the batch creates sized `batch_size`."""
    kinds = []
    for name, (label, operation, tasks) in zip(KIND_NAMES, KINDS, strict=True):
        if names and name not in names:
            continue
        if name in ("batch", "batch_keyed") and batch_size != 100:
            label = label.replace("of 100", f"of {batch_size:,}")
            operation, tasks = functools.partial(operation, size=batch_size), batch_size
        kinds.append((label, operation, tasks))
    return kinds


def session(url: str, operation: Operation, calls: int) -> int:
    """A new connection: warm-up calls, then `calls` more; its backend's pid."""
    backend = Backend(url)
    for _ in range(WARMUP_CALLS):
        operation(backend)
    for _ in range(calls):
        operation(backend)
    backend.conn.close()
    return backend.pid


def measure(
    cluster: Cluster, ops: int, kinds: list[tuple[str, Operation, int]] = KINDS
) -> list[tuple[str, int, int, int, int]]:
    """Per kind: (what, tasks per call, N, pid of the N-call session, pid of the 2N one).

    A backend's count covers its whole life (start, warm-up, the calls, exit), so each
    kind runs in two sessions, with N and with 2N calls: the difference is N calls."""
    setup = Backend(cluster.url)
    setup.rows("INSERT INTO queues (name) VALUES (%s) ON CONFLICT (name) DO NOTHING", (QUEUE,))
    sessions: list[tuple[str, int, int, int, int]] = []
    for label, operation, tasks_per_call in kinds:
        calls = max(ops // tasks_per_call, 5)
        if operation in (claim_and_complete, claim_and_complete_batch):  # never resized
            # what the claims take (two sessions), created beforehand, uncounted
            for _ in range(((3 * calls + 2 * WARMUP_CALLS) * tasks_per_call) // 100 + 1):
                batch_create(setup)
        short = session(cluster.url, operation, calls)
        long = session(cluster.url, operation, 2 * calls)
        sessions.append((label, tasks_per_call, calls, short, long))
    setup.conn.close()
    return sessions


def counted(
    cluster: Cluster, sessions: list[tuple[str, int, int, int, int]]
) -> list[tuple[str, float, float]]:
    """Per kind measured: (what, instructions per call, per task)."""
    results = []
    for what, tasks_per_call, calls, short, long in sessions:
        difference = backend_instructions(cluster, long) - backend_instructions(cluster, short)
        results.append((what, difference / calls, difference / calls / tasks_per_call))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=200, help="tasks per kind (default 200)")
    parser.add_argument("--migrations-up-to", help="apply migrations up to this id only")
    parser.add_argument(
        "--batch-size", type=int, default=100, help="tasks per batch create (default 100)"
    )
    parser.add_argument(
        "--kinds",
        type=lambda text: text.split(","),
        help="measure only these, comma-separated: " + ",".join(KIND_NAMES) + " (default: all)",
    )
    args = parser.parse_args()
    unknown = set(args.kinds or ()) - set(KIND_NAMES)
    if unknown:
        parser.error(f"--kinds: no such kind: {', '.join(sorted(unknown))}")
    kinds = chosen_kinds(args.kinds, args.batch_size)
    if shutil.which("valgrind") is None:
        raise SystemExit("needs valgrind (Debian: apt-get install valgrind)")
    with tempfile.TemporaryDirectory(prefix="pg_cost.") as tmp:
        cluster = Cluster(Path(tmp))
        with cluster.running(callgrind=False):
            migrate(cluster.url, args.migrations_up_to)
        with cluster.running(callgrind=True):
            sessions = measure(cluster, args.ops, kinds)
        results = counted(cluster, sessions)
    label = args.migrations_up_to or "all migrations"
    print_table(f"PostgreSQL instructions (callgrind, one backend, fsync off; {label})", results)


def print_table(title: str, results: list[tuple[str, float, float]]) -> None:
    print(title)
    print("| operation                    | per call    | per task   |")
    print("|------------------------------|------------:|-----------:|")
    for what, per_call, per_task in results:
        print(f"| {what:<28} | {per_call:>11,.0f} | {per_task:>10,.0f} |")


if __name__ == "__main__":
    main()
