"""The database going away: a clear exit at start, 503 while serving, recovery on return."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import pgserver
import pytest

from durable_queue.app import create_app
from durable_queue.config import Settings
from durable_queue.migrate import apply_migrations
from tests.helpers import call, error, eventually, make_queue


def test_unreachable_database_at_start_exits_1_with_one_line():
    env = {**os.environ, "DATABASE_URL": "postgresql://nobody:secret@127.0.0.1:1/none"}
    proc = subprocess.run(
        [sys.executable, "-m", "durable_queue", "serve", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    entry = json.loads(lines[0])
    assert entry["level"] == "error" and entry["message"] == "cannot connect to the database"
    assert "secret" not in proc.stderr and "Traceback" not in proc.stderr


@pytest.fixture
def stoppable_postgres():
    """A PostgreSQL of this test's own, which the test may stop and start again."""
    data_dir = tempfile.mkdtemp(prefix="durable-queue-stoppable-")
    server = pgserver.get_server(data_dir, cleanup_mode="stop")
    handle = {"server": server, "dir": data_dir}
    yield handle
    handle["server"].cleanup()


async def answers(client, path, status):
    """The JSON body of GET `path` when it answers `status`, else None."""
    resp = await client.get(path)
    return await resp.json() if resp.status == status else None


async def test_database_lost_while_serving_gives_503_then_recovers(
    aiohttp_client, stoppable_postgres
):
    url = stoppable_postgres["server"].get_uri()
    await apply_migrations(url)
    client = await aiohttp_client(create_app(Settings(database_url=url)))
    await make_queue(client, "kept")

    stoppable_postgres["server"].cleanup()  # the database goes away
    body = await eventually(
        lambda: answers(client, "/api/v1/queues", 503), deadline_seconds=30, what="503"
    )
    assert body == {"error": "database unavailable", "code": "UNAVAILABLE"}
    await error(client, "POST", "/queues", 503, "UNAVAILABLE", json={"name": "lost"})
    assert (await client.get("/readyz")).status == 503
    assert (await client.get("/healthz")).status == 200

    stoppable_postgres["server"] = pgserver.get_server(
        stoppable_postgres["dir"], cleanup_mode="stop"
    )
    body = await eventually(
        lambda: answers(client, "/api/v1/queues", 200), deadline_seconds=30, what="200"
    )
    assert [q["name"] for q in body["queues"]] == ["kept"]  # nothing lost, nothing half-written
    assert (await client.get("/readyz")).status == 200
    await call(client, "POST", "/queues", 201, json={"name": "after"})
