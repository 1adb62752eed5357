"""Requests the HTTP parser refuses get our `{error, code}` 400 and no traceback in the log.

These requests never reach the app, so they are sent over a raw socket to the app served the
way `durable-queue serve` serves it (`DurableAppRunner`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from durable_queue.server import DurableAppRunner


@pytest.fixture
async def address(app: web.Application) -> AsyncIterator[tuple[str, int]]:
    runner = DurableAppRunner(app, access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield host, port
    await runner.cleanup()


async def exchange(address: tuple[str, int], raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send `raw`, read the whole answer (the server closes after a parse error)."""
    reader, writer = await asyncio.open_connection(*address)
    try:
        writer.write(raw)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def assert_validation_error(status: int, headers: dict[str, str], body: bytes) -> str:
    assert status == 400, body
    assert headers["content-type"].startswith("application/json"), headers
    assert int(headers["content-length"]) == len(body)
    payload = json.loads(body)
    assert set(payload) == {"error", "code"}, payload
    assert payload["code"] == "VALIDATION_ERROR"
    assert payload["error"].startswith("malformed HTTP request: ")
    return payload["error"]


def assert_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    for record in caplog.records:
        assert record.levelno < logging.ERROR, record.getMessage()
        assert record.exc_info is None, record.getMessage()


async def test_path_over_8_kib_is_json_400_without_traceback(address, caplog):
    caplog.set_level(logging.DEBUG)
    path = "/api/v1/queues/" + "a" * 9000
    raw = f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode()
    message = assert_validation_error(*await exchange(address, raw))
    assert message.endswith("longer than 8190 bytes")  # the input is not echoed back
    assert_no_traceback(caplog)
    assert any(r.getMessage() == "malformed HTTP request" for r in caplog.records)


async def test_nul_in_a_header_value_is_json_400_without_traceback(address, caplog):
    caplog.set_level(logging.DEBUG)
    raw = b"GET /api/v1/queues HTTP/1.1\r\nHost: localhost\r\nX-Thing: a\x00b\r\n\r\n"
    assert_validation_error(*await exchange(address, raw))
    assert_no_traceback(caplog)


async def test_header_over_the_field_limit_is_json_400(address, caplog):
    caplog.set_level(logging.DEBUG)
    raw = b"GET /api/v1/queues HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"v" * 9000 + b"\r\n\r\n"
    assert_validation_error(*await exchange(address, raw))
    assert_no_traceback(caplog)


async def test_a_well_formed_request_on_the_same_server_is_served(address):
    raw = b"GET /api/v1/queues HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    status, headers, body = await exchange(address, raw)
    assert status == 200, body
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body) == {"queues": []}
