"""JSON responses in the wire format, and the one table from domain error to HTTP answer."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from durable_queue.api.json_codec import dumps
from durable_queue.codec import to_wire
from durable_queue.errors import (
    Conflict,
    DurableError,
    NotFound,
    PayloadTooLarge,
    Unavailable,
    ValidationError,
)
from durable_queue.wire import ErrorBody, JsonText

# Domain error → (HTTP status, wire code); anything else is a 500.
ERROR_STATUS: dict[type[DurableError], tuple[int, str]] = {
    ValidationError: (400, "VALIDATION_ERROR"),
    NotFound: (404, "NOT_FOUND"),
    Conflict: (409, "CONFLICT"),
    PayloadTooLarge: (413, "PAYLOAD_TOO_LARGE"),
    Unavailable: (503, "UNAVAILABLE"),
}
INTERNAL_ERROR = (500, "INTERNAL_ERROR")


def json_response(data: Any, status: int = 200) -> web.Response:
    return _json_body(dumps(to_wire(data)), status)


def json_text_response(body: JsonText, status: int = 200) -> web.Response:
    """A body already in the wire format (written by PostgreSQL), sent as it is."""
    return _json_body(body.text.encode(), status)


def _json_body(body: bytes, status: int) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json", charset="utf-8")


def status_of(error: DurableError) -> tuple[int, str]:
    """The (status, code) of a domain error, by its nearest class in ERROR_STATUS."""
    for cls in type(error).__mro__:
        if cls in ERROR_STATUS:
            return ERROR_STATUS[cls]
    return INTERNAL_ERROR


def error_response(error: DurableError) -> web.Response:
    status, code = status_of(error)
    return error_body_response(status, code, error.message)


def error_body_response(status: int, code: str, message: str) -> web.Response:
    return json_response(ErrorBody(message, code), status=status)
