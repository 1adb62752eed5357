"""Turn request bodies, queries and path segments into validated values.

Every failure becomes `ValidationError` with a message that names the field
("task_name is required", "limit must be greater than or equal to 1").
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import marshmallow
from aiohttp import web

from durable_queue.api.keys import SETTINGS
from durable_queue.errors import PayloadTooLarge, ValidationError

_PHRASES = {
    "Missing data for required field.": "is required",
    "Field may not be null.": "may not be null",
    "Not a valid integer.": "must be an integer",
    "Not a valid number.": "must be a number",
    "Not a valid string.": "must be a string",
    "Not a valid UUID.": "must be a valid UUID",
    "Not a valid boolean.": "must be a boolean",
    "Not a valid mapping type.": "must be an object",
    "Not a valid datetime.": "must be an RFC 3339 timestamp with a zone",
    "Not a valid aware datetime.": "must be an RFC 3339 timestamp with a zone",
    "Not a valid list.": "must be a list",
}


def _phrase(message: str) -> str:
    if message in _PHRASES:
        return _PHRASES[message]
    text = message.rstrip(".")
    return text[:1].lower() + text[1:]


def _first_error(messages: Any, prefix: str = "") -> str:
    """The first field error of a marshmallow error dict, as "<field> <problem>"."""
    if isinstance(messages, dict):
        for key, value in messages.items():
            if key == "_schema":
                return _first_error(value, prefix)
            name = f"{prefix}.{key}" if prefix else str(key)
            return _first_error(value, name)
    if isinstance(messages, list) and messages:
        first = messages[0]
        if isinstance(first, dict | list):
            return _first_error(first, prefix)
        text = _phrase(str(first))
        return f"{prefix} {text}" if prefix else text
    return f"{prefix} is invalid" if prefix else "invalid request"


def load(schema: marshmallow.Schema, data: Any) -> dict[str, Any]:
    """Validate `data` with `schema`; a ValidationError names the first bad field."""
    if not isinstance(data, dict):
        raise ValidationError("request body must be a JSON object")
    try:
        return schema.load(data)
    except marshmallow.ValidationError as exc:
        raise ValidationError(_first_error(exc.messages)) from exc


async def read_json(request: web.Request, *, allow_empty: bool = False) -> Any:
    """The request body as JSON; an empty body is {} when allowed."""
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        limit = request.app[SETTINGS].max_body_bytes
        raise PayloadTooLarge(f"request body is larger than the limit of {limit} bytes") from exc
    if not raw.strip():
        if allow_empty:
            return {}
        raise ValidationError("request body is required")
    try:
        data = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ValidationError(f"request body is not valid JSON: {exc}") from exc
    if _has_nul(data):
        # PostgreSQL text and jsonb cannot hold NUL characters.
        raise ValidationError("request body must not contain NUL characters (\\u0000)")
    return data


def _has_nul(value: Any) -> bool:
    """Whether any string (key or value) holds a NUL; iterative, so depth cannot overflow."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


async def body(
    request: web.Request, schema: marshmallow.Schema, *, allow_empty: bool = False
) -> dict[str, Any]:
    """Read and validate a JSON object body."""
    return load(schema, await read_json(request, allow_empty=allow_empty))


def query(request: web.Request, schema: marshmallow.Schema) -> dict[str, Any]:
    """Validate the query string (one value per key) with `schema`."""
    return load(schema, dict(request.query))


def path_uuid(request: web.Request, name: str) -> uuid.UUID:
    """A path segment that must be a UUID."""
    return parse_uuid(request.match_info[name], name)


def parse_uuid(value: str, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError) as exc:
        raise ValidationError(f"{name} must be a valid UUID") from exc
