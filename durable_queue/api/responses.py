"""JSON responses in the wire format (records rendered through the shared converter)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from durable_queue.errors import DurableError
from durable_queue.jsonvalue import dumps
from durable_queue.records import Page, to_wire


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(text=dumps(to_wire(data)), status=status, content_type="application/json")


def page_response(key: str, page: Page) -> web.Response:
    body: dict[str, Any] = {key: page.items}
    if page.next_cursor is not None:
        body["next_cursor"] = page.next_cursor
    return json_response(body)


def error_response(error: DurableError) -> web.Response:
    return json_response({"error": error.message, "code": error.code}, status=error.status)
