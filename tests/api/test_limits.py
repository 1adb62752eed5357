"""Limits: long polls per process (503 with Retry-After beyond), the read timeout for request
heads and bodies (a slow client cannot hold a connection), a declared body over the limit
refused before it is read; their settings from the environment."""

from __future__ import annotations

import asyncio
import json

import pytest

from durable_queue.api.keys import LISTENER
from durable_queue.config import Settings
from durable_queue.errors import ValidationError
from tests.helpers import API, call, error, eventually, make_queue, make_task

READ_TIMEOUT = 0.5
# A trickling client sends this many bytes at most: far longer than the timeout allows.
HEAD = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Padding: " + b"x" * 200 + b"\r\n\r\n"
BYTE_EVERY = 0.05


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, max_waiters=2, read_timeout=READ_TIMEOUT)


def poll_body(seconds: int = 30) -> dict:
    return {"limit": 1, "claim_timeout": 60, "long_poll_seconds": seconds}


async def registered(app, count: int) -> None:
    waiters = app[LISTENER].waiters
    await eventually(lambda: len(waiters) == count, what=f"{count} registered waiters")


async def test_long_polls_beyond_the_limit_get_503_with_retry_after(client, app):
    await make_queue(client, "q")
    url = f"{API}/queues/q/tasks/claim"
    polls = [asyncio.create_task(client.post(url, json=poll_body())) for _ in range(2)]
    await registered(app, 2)

    resp = await client.post(url, json=poll_body())
    assert resp.status == 503
    assert resp.headers["Retry-After"] == "1"
    body = await resp.json()
    assert body["code"] == "UNAVAILABLE" and "DURABLE_MAX_WAITERS" in body["error"]
    # a claim that does not wait takes no room, so it is served
    assert (await call(client, "POST", "/queues/q/tasks/claim", 200, json=poll_body(0))) == {
        "tasks": []
    }

    task = await make_task(client, "q")
    done, waiting = await asyncio.wait(polls, return_when=asyncio.FIRST_COMPLETED)
    assert [t["task_id"] for t in (await done.pop().result().json())["tasks"]] == [task["task_id"]]
    await registered(app, 1)  # the poll that got the task left: room for one more
    again = asyncio.create_task(client.post(url, json=poll_body()))
    await registered(app, 2)
    await make_task(client, "q")
    await make_task(client, "q")
    for poll in [*waiting, again]:
        assert len((await (await poll).json())["tasks"]) == 1


async def test_a_long_poll_refused_for_room_changed_nothing(client, app):
    await make_queue(client, "q")
    polls = [
        asyncio.create_task(client.post(f"{API}/queues/q/tasks/claim", json=poll_body()))
        for _ in range(2)
    ]
    await registered(app, 2)
    await error(client, "POST", "/queues/q/tasks/claim", 503, "UNAVAILABLE", json=poll_body())
    assert len(app[LISTENER].waiters) == 2
    await make_task(client, "q")
    await make_task(client, "q")
    for poll in polls:
        assert len((await (await poll).json())["tasks"]) == 1


async def open_connection(server) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(server.host, server.port)


async def answer_of(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """The status line and body of the server's answer (aiohttp may keep reading, and
    discarding, the unread body for a while before it closes the connection)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=30)
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return head.split(b"\r\n")[0], await reader.readexactly(length)


async def closed_by_server(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection."""
    return await asyncio.wait_for(reader.read(), timeout=30)


async def test_a_request_head_trickled_byte_by_byte_is_cut_off(aiohttp_server, app):
    server = await aiohttp_server(app)
    reader, writer = await open_connection(server)
    closed = asyncio.create_task(closed_by_server(reader))
    sent = 0
    try:
        while not closed.done() and sent < len(HEAD):
            writer.write(HEAD[sent : sent + 1])
            sent += 1
            await asyncio.wait((closed,), timeout=BYTE_EVERY)  # one byte per interval
        answer = await closed
    finally:
        writer.close()
    assert sent < len(HEAD), "the whole head went through: no timeout cut it"
    assert answer == b""  # closed without an answer: there was no request to answer


async def test_a_body_that_does_not_arrive_in_time_gets_408(aiohttp_server, app):
    server = await aiohttp_server(app)
    reader, writer = await open_connection(server)
    writer.write(
        b"POST /api/v1/queues HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n{}"
    )
    status, body = await answer_of(reader)
    writer.close()
    assert status.startswith(b"HTTP/1.1 408"), status
    assert json.loads(body)["code"] == "REQUEST_TIMEOUT"


async def test_a_declared_body_over_the_limit_is_refused_unread(aiohttp_server, app):
    server = await aiohttp_server(app)
    reader, writer = await open_connection(server)
    writer.write(
        b"POST /api/v1/queues HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000000000\r\n\r\n{}"
    )
    status, body = await answer_of(reader)
    writer.close()
    assert status.startswith(b"HTTP/1.1 413"), status
    assert json.loads(body)["code"] == "PAYLOAD_TOO_LARGE"


async def test_an_idle_keep_alive_connection_is_closed(aiohttp_server, app):
    server = await aiohttp_server(app)
    reader, writer = await open_connection(server)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
    answer = await closed_by_server(reader)  # answered, then closed once idle too long
    writer.close()
    assert answer.startswith(b"HTTP/1.1 200"), answer


async def test_bodies_within_the_limits_still_reach_the_handlers(client):
    await call(client, "POST", "/queues", 201, json={"name": "fine"})
    await error(client, "POST", "/queues", 400, "VALIDATION_ERROR", data=b"{nope")


def test_limit_settings_from_the_environment():
    settings = Settings.from_env({"DURABLE_MAX_WAITERS": "7", "DURABLE_READ_TIMEOUT": "2.5"})
    assert (settings.max_waiters, settings.read_timeout) == (7, 2.5)
    defaults = Settings.from_env({})
    assert (defaults.max_waiters, defaults.read_timeout) == (4000, 30.0)
    with pytest.raises(ValidationError, match="DURABLE_READ_TIMEOUT must be greater than 0"):
        Settings.from_env({"DURABLE_READ_TIMEOUT": "0"})
    with pytest.raises(ValidationError, match="DURABLE_MAX_WAITERS must not be negative"):
        Settings.from_env({"DURABLE_MAX_WAITERS": "-1"})
