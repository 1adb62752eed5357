"""The bytes of request bodies a process holds at once (DURABLE_MAX_INFLIGHT_BODY_BYTES): a
request whose body does not fit is answered 503 with Retry-After before its body is read,
and a request's reservation is released when its handler finishes.

Driven over raw sockets, so a body can be held back: the first request sends its head and
half its body and waits inside the server; the second sends only its head and still gets
its answer, which proves the server did not wait for (read) its body.
"""

from __future__ import annotations

import asyncio
import json

from aiohttp.test_utils import make_mocked_request

from durable_queue.api.body_budget import (
    BODY_BUDGET,
    BodyBudget,
    body_size_to_reserve,
    drop_read_body,
    forget_body,
)
from durable_queue.api.keys import SETTINGS
from durable_queue.app import create_app
from durable_queue.config import Settings
from tests.helpers import API, call, eventually, make_queue

BUDGET = 1000


def head(path: str, length: int, host: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


async def answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], dict]:
    """One HTTP answer: status, headers (lowercased names), JSON body."""
    status_line = await reader.readline()
    headers = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers["content-length"]))
    return int(status_line.split()[1]), headers, json.loads(body)


def task_body(size: int) -> bytes:
    """A create whose body is exactly `size` bytes."""
    base = json.dumps({"task_name": "big", "params": {"pad": ""}}).encode()
    return json.dumps({"task_name": "big", "params": {"pad": "x" * (size - len(base))}}).encode()


async def test_a_full_budget_answers_503_before_reading_and_frees_on_completion(
    aiohttp_server, aiohttp_client, database_url
):
    app = create_app(Settings(database_url=database_url, max_inflight_body_bytes=BUDGET))
    server = await aiohttp_server(app)
    host = f"{server.host}:{server.port}"
    path = f"{API}/queues/q/tasks"
    budget = app[BODY_BUDGET]
    client = await aiohttp_client(server)
    await make_queue(client, "q")
    body = task_body(600)
    first_reader, first = await asyncio.open_connection(server.host, server.port)
    first.write(head(path, len(body), host) + body[:300])  # half the body: held back
    await first.drain()
    await eventually(lambda: budget.reserved == 600, what="the first body's reservation")

    second_reader, second = await asyncio.open_connection(server.host, server.port)
    second.write(head(path, len(body), host))  # the head only: no body sent yet
    await second.drain()
    status, headers, error = await answer(second_reader)
    assert status == 503
    assert headers["retry-after"] == "1"
    assert error["code"] == "UNAVAILABLE"
    assert "DURABLE_MAX_INFLIGHT_BODY_BYTES" in error["error"]
    assert budget.reserved == 600  # the refused request reserved nothing
    second.close()

    # a body over the body limit is a 413 even now: a retry after a 503 could not cure it
    third_reader, third = await asyncio.open_connection(server.host, server.port)
    third.write(head(path, app[SETTINGS].max_body_bytes + 1, host))  # the head only
    await third.drain()
    status, _, error = await answer(third_reader)
    assert status == 413 and error["code"] == "PAYLOAD_TOO_LARGE"
    assert budget.reserved == 600
    third.close()

    first.write(body[300:])
    await first.drain()
    status, _, created = await answer(first_reader)
    assert status == 201 and created["task_id"]
    first.close()
    await eventually(lambda: budget.reserved == 0, what="the release")

    # now the same create fits
    resp = await client.post(path, data=body)
    assert resp.status == 201, await resp.text()
    tasks = (await call(client, "GET", "/tasks", 200))["tasks"]
    assert len(tasks) == 2
    assert budget.reserved == 0


async def test_requests_without_a_body_and_a_lone_large_body_always_pass(
    aiohttp_client, database_url
):
    app = create_app(Settings(database_url=database_url, max_inflight_body_bytes=10))
    client = await aiohttp_client(app)
    await make_queue(client, "q")  # a body over the whole budget, alone: let in
    await call(client, "GET", "/queues", 200)
    assert app[BODY_BUDGET].reserved == 0


def test_what_a_request_reserves():
    class Request:
        def __init__(self, body_exists: bool, content_length: int | None) -> None:
            self.body_exists = body_exists
            self.content_length = content_length

    assert body_size_to_reserve(Request(False, None), 1024) == 0
    assert body_size_to_reserve(Request(True, 100), 1024) == 100
    assert body_size_to_reserve(Request(True, 5000), 1024) == 0  # refused unread: 413
    assert body_size_to_reserve(Request(True, None), 1024) == 1024  # chunked: the limit

    budget = BodyBudget(100)
    assert budget.try_reserve(500)  # alone: always
    assert not budget.try_reserve(1)
    budget.release(500)
    assert budget.try_reserve(60) and budget.try_reserve(40) and not budget.try_reserve(1)
    unlimited = BodyBudget(0)
    assert unlimited.try_reserve(10**9) and unlimited.try_reserve(10**9)


async def test_a_finished_request_lets_go_of_its_body():
    """aiohttp keeps a keep-alive connection's last request alive until the next one: the
    body it cached and what the validation loaded must not stay with it."""
    request = make_mocked_request("POST", "/", headers={"Content-Length": "2"})
    request._read_bytes = b"{}"
    request["body"] = {"loaded": True}
    forget_body(request)
    assert request._read_bytes is None
    assert dict(request) == {}


async def test_the_handler_runs_without_the_bytes_it_was_loaded_from():
    request = make_mocked_request("POST", "/", headers={"Content-Length": "2"})
    request._read_bytes = b"{}"
    request["body"] = {"loaded": True}
    seen = {}

    async def handler(request):
        seen.update(raw=request._read_bytes, body=request["body"])
        return "answer"

    assert await drop_read_body(request, handler) == "answer"
    assert seen == {"raw": None, "body": {"loaded": True}}
