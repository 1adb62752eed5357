"""Small helpers shared by the API tests."""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import re
import time
from collections.abc import Callable
from typing import Any

import psycopg2
import psycopg2.extensions
import psycopg2.extras
from aiohttp.test_utils import TestClient

API = "/api/v1"
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def is_timestamp(value: Any) -> bool:
    return isinstance(value, str) and bool(RFC3339.match(value))


def is_uuid7(value: Any) -> bool:
    return isinstance(value, str) and bool(UUID_RE.match(value))


def parse_ts(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


async def call(client: TestClient, method: str, path: str, expect: int, **kwargs: Any) -> Any:
    """Make a request, assert its status, return the JSON body (None for 204)."""
    resp = await client.request(method, f"{API}{path}", **kwargs)
    text = await resp.text()
    assert resp.status == expect, f"{method} {path}: {resp.status} {text}"
    if resp.status == 204:
        assert text == ""
        return None
    return await resp.json()


async def error(
    client: TestClient, method: str, path: str, status: int, code: str, **kwargs: Any
) -> str:
    """Assert an error response in the `{error, code}` envelope; returns the message."""
    body = await call(client, method, path, status, **kwargs)
    assert set(body) == {"error", "code"}, body
    assert body["code"] == code, body
    assert isinstance(body["error"], str) and body["error"]
    return body["error"]


async def make_queue(client: TestClient, name: str = "q", **body: Any) -> dict[str, Any]:
    return await call(client, "POST", "/queues", 201, json={"name": name, **body})


async def make_task(client: TestClient, queue: str = "q", **body: Any) -> dict[str, Any]:
    body.setdefault("task_name", "work")
    return await call(client, "POST", f"/queues/{queue}/tasks", 201, json=body)


async def claim(
    client: TestClient, queue: str = "q", limit: int = 1, claim_timeout: int = 60
) -> list[dict[str, Any]]:
    body = await call(
        client,
        "POST",
        f"/queues/{queue}/tasks/claim",
        200,
        json={"limit": limit, "claim_timeout": claim_timeout},
    )
    return body["tasks"]


async def eventually(
    check: Callable[[], Any],
    *,
    deadline_seconds: float = 20.0,
    interval: float = 0.05,
    what: str = "",
) -> Any:
    """Poll `check()` (sync or async) until it returns something truthy, which is returned;
    fail when `deadline_seconds` pass first (`what` names the awaited condition)."""
    deadline = time.monotonic() + deadline_seconds
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        assert time.monotonic() < deadline, f"gave up waiting for {what or check}"
        await asyncio.sleep(interval)


def has_route(app: Any, method: str, path: str) -> bool:
    """Whether `app` serves `method path` (a route template, e.g. /api/v1/runs/complete)."""
    return any(
        route.method == method and route.resource is not None and route.resource.canonical == path
        for route in app.router.routes()
    )


def connect_autocommit(dsn: str) -> psycopg2.extensions.connection:
    """A connection of the migration tests: autocommit, rows readable by column name."""
    conn = psycopg2.connect(dsn, cursor_factory=psycopg2.extras.DictCursor)
    conn.autocommit = True
    return conn


def run_sql(conn: Any, sql: str, *args: Any) -> list[Any]:
    """Run one statement on `conn`; its rows (none for a statement without any)."""
    with conn.cursor() as cur:
        cur.execute(sql, args or None)
        return cur.fetchall() if cur.description else []


def create_task_args(**given: Any) -> dict[str, Any]:
    """Arguments of the `create_task` query (queries/tasks.sql) for a task named t with
    no options, as a create giving only task_name stores it; `given` overrides any."""
    return {
        "task_name": "t", "params": None, "headers": None, "retry_strategy": None,
        "max_attempts": 1, "start_timeout": 0, "execution_timeout": 0,
        "workflow_run_id": None, "idempotency_key": None, "run_at": None, "priority": 0,
        "concurrency_key": None, "parent_task_id": None, "parent_close": None, **given,
    }  # fmt: skip


def query_all(dsn: str, sql: str, params: tuple = ()) -> list[tuple]:
    """Test-only inspection of the database: every row of `sql`, on a connection of its own."""
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def query_one(dsn: str, sql: str, params: tuple = ()) -> tuple | None:
    """Test-only inspection of the database: the first row of `sql`, None without one."""
    rows = query_all(dsn, sql, params)
    return rows[0] if rows else None
