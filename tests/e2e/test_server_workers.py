"""`durable-queue serve --workers N` as real processes: N children on one port, each answering
with its own PID (X-Durable-Pid), one sweeper among them, a dead child replaced, SIGTERM
stopping every child and then the embedded database."""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from tests.e2e.test_server_cli import clean_env

START_SECONDS = 120  # bounds: a child opens its pool and listener before it is ready
STOP_SECONDS = 60
PID_HEADER = "X-Durable-Pid"
SERVE = [sys.executable, "-m", "durable_queue", "serve"]
SWEEPER_LOCK = (7300, 2)  # queries/maintenance.sql try_lock_sweeper

EXPECTED_LOOP = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"

pytestmark = pytest.mark.skipif(
    not hasattr(socket, "SO_REUSEPORT"), reason="--workers needs SO_REUSEPORT"
)


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`python -m durable_queue serve --workers N`, its JSON log lines read as they come."""

    def __init__(self, workers: int, env: dict[str, str], port: int | None = None) -> None:
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [*SERVE, "--workers", str(workers), "--host", "127.0.0.1", "--port", str(self.port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        self.returned: set[int] = set()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            if line.strip():
                try:
                    self.lines.put(json.loads(line))
                except ValueError:  # not ours: kept, so that an assertion shows it
                    self.lines.put({"message": line.rstrip(), "level": "unparsed"})
        self.lines.put(None)  # EOF

    def wait_for(self, message: str, timeout: float = START_SECONDS) -> dict[str, Any]:
        """The first entry whose message is `message` not returned before (the log is read
        as it comes: this waits for it)."""
        for index, entry in enumerate(self.seen):
            if entry["message"] == message and index not in self.returned:
                self.returned.add(index)
                return entry
        while True:
            entry = self.lines.get(timeout=timeout)
            assert entry is not None, f"the server exited before logging {message!r}: {self.seen}"
            self.seen.append(entry)
            if entry["message"] == message:
                self.returned.add(len(self.seen) - 1)
                return entry

    def rest_of_log(self) -> list[dict[str, Any]]:
        """Every entry up to EOF (the process has exited)."""
        while (entry := self.lines.get(timeout=STOP_SECONDS)) is not None:
            self.seen.append(entry)
        return self.seen

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=STOP_SECONDS)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@contextmanager
def serving(workers: int, env: dict[str, str], port: int | None = None) -> Iterator[Server]:
    server = Server(workers, env, port)
    try:
        yield server
    finally:
        server.kill()  # only if a failed assertion left it running


def get(url: str) -> tuple[int, dict[str, Any]]:
    """GET on a new connection (urllib opens one per request): (answering PID, JSON body)."""
    with urllib.request.urlopen(url, timeout=10) as resp:
        return int(resp.headers[PID_HEADER]), json.loads(resp.read())


def pids_answering(server: Server, wanted: set[int], path: str = "/readyz") -> dict[int, Any]:
    """Bodies of `path` by answering PID, over new connections until every PID in `wanted`
    answered (SO_REUSEPORT spreads connections by a hash of their ports: a few suffice)."""
    answers: dict[int, Any] = {}
    for _ in range(500):
        pid, body = get(server.base + path)
        answers[pid] = body
        if set(answers) >= wanted:
            break
    return answers


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def sweeper_lock_holders(database_url: str) -> list[int]:
    """Backend PIDs of the connections holding the sweeper lock in this database."""
    with closing(psycopg2.connect(database_url)) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND classid = %s AND objid = %s"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            SWEEPER_LOCK,
        )
        return [row[0] for row in cur.fetchall()]


def sweepers(answers: dict[int, Any]) -> list[int]:
    return [pid for pid, body in answers.items() if body["maintenance"] == "active"]


# -- DATABASE_URL set --------------------------------------------------------------------


def test_two_workers_share_the_port_one_sweeps_and_sigterm_stops_both(database_url):
    with serving(2, clean_env(DATABASE_URL=database_url)) as server:
        pids = set(server.wait_for("serving")["pids"])
        assert len(pids) == 2 and server.proc.pid not in pids

        answers = pids_answering(server, pids)
        assert set(answers) == pids  # both children answer on the one port
        assert all(body["status"] == "ok" for body in answers.values())

        # Exactly one child sweeps: each took its turn at the lock once it started.
        server.wait_for("maintenance: this instance is now the sweeper")
        assert len(sweeper_lock_holders(database_url)) == 1
        answers = pids_answering(server, pids)
        assert len(sweepers(answers)) == 1, answers

        ready = [server.wait_for("server worker ready") for _ in pids]
        assert {e["pid"] for e in ready} == pids
        assert {e["loop"] for e in ready} == {EXPECTED_LOOP}

        assert server.stop() == 0
        log = server.rest_of_log()
        assert all(gone(pid) for pid in pids)
        assert [e["message"] for e in log].count(
            "maintenance: this instance is now the sweeper"
        ) == 1
        assert not [e for e in log if e["level"] == "error"], log
        assert sweeper_lock_holders(database_url) == []  # released with its connection


def test_one_worker_is_the_process_itself(database_url):
    with serving(1, clean_env(DATABASE_URL=database_url)) as server:
        serving_entry = server.wait_for("serving")
        assert serving_entry["loop"] == EXPECTED_LOOP
        assert set(pids_answering(server, {server.proc.pid})) == {server.proc.pid}
        assert server.stop() == 0


def test_a_worker_that_dies_is_reported_and_replaced(database_url):
    with serving(2, clean_env(DATABASE_URL=database_url)) as server:
        pids = set(server.wait_for("serving")["pids"])
        victim = min(pids)
        os.kill(victim, signal.SIGKILL)

        died = server.wait_for("server worker died: starting another")
        assert (died["level"], died["pid"], died["returncode"]) == ("error", victim, -9)
        fresh = server.wait_for("server worker started")["pid"]
        assert fresh not in pids

        now = (pids - {victim}) | {fresh}
        assert set(pids_answering(server, now)) == now

        assert server.stop() == 0
        assert all(gone(pid) for pid in now)


def test_workers_that_cannot_listen_stop_the_server_with_exit_1(database_url):
    with closing(socket.socket()) as taken:  # bound without SO_REUSEPORT: nobody may share it
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with serving(2, clean_env(DATABASE_URL=database_url), port=port) as server:
            assert server.proc.wait(timeout=START_SECONDS) == 1
            messages = [e["message"] for e in server.rest_of_log()]
    assert "cannot listen" in messages
    assert "cannot start the server workers" in messages


@pytest.mark.parametrize(
    ("args", "env", "status", "message"),
    [
        (["--workers", "0"], {}, 2, "Invalid value for '--workers'"),
        ([], {"DURABLE_WORKERS": "0"}, 1, "Error: DURABLE_WORKERS must be at least 1, got 0"),
        (["--workers", "2", "--port", "0"], {}, 1, "Error: --workers above 1 needs a fixed"),
    ],
)
def test_bad_worker_counts_are_refused(database_url, args, env, status, message):
    proc = subprocess.run(
        [*SERVE, *args],
        env=clean_env(DATABASE_URL=database_url, **env),
        capture_output=True,
        text=True,
        timeout=START_SECONDS,
    )
    assert proc.returncode == status, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr


# -- the embedded database -----------------------------------------------------------------


def test_embedded_database_is_started_once_and_stopped_after_the_workers(tmp_path: Path):
    env = clean_env(XDG_DATA_HOME=str(tmp_path / "xdg"))
    data_dir = tmp_path / "xdg" / "durable-queue"
    with serving(2, env) as server:
        pids = set(server.wait_for("serving")["pids"])
        assert (data_dir / "postmaster.pid").is_file()
        assert set(pids_answering(server, pids, "/healthz")) == pids
        assert server.stop() == 0
        log = server.rest_of_log()
    assert [e["message"] for e in log].count("embedded postgres started") == 1
    assert [e["message"] for e in log].count("migrations applied") == 1
    assert all(gone(pid) for pid in pids)
    assert not (data_dir / "postmaster.pid").exists()  # the database stopped with the parent
