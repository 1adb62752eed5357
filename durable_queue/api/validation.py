"""Validate a request's path, query and body once, with the schemas its handler declares.

The aiohttp-apispec decorators (`@match_info_schema`, `@querystring_schema`,
`@request_schema`) attach their schemas to the handler; this middleware loads each
part with its schema, in the order path, query, body (a malformed id is a 400 before
the body is looked at), and hands the results to the handler as `request["path"]`,
`request["query"]` and `request["body"]` (a command record, or a dict).

A body is read as JSON whatever its Content-Type (curl's `-d` sends a form type);
an empty body is `{}` when the schema requires no field. Every failure is a
`ValidationError` whose message starts with the field's path
("tasks[3].task_name is required"), strings included: PostgreSQL cannot store a
NUL character or an unpaired surrogate, so those are refused here, by name.

A part is loaded by the schema's compiled loader (api/fast_load.py) first; whatever
that cannot vouch for is loaded by marshmallow, which accepts it or words the error.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable
from typing import Any

import marshmallow
from aiohttp import web

from durable_queue.api import json_codec
from durable_queue.api.fast_load import Unsure, loader_of
from durable_queue.api.keys import SETTINGS
from durable_queue.errors import PayloadTooLarge, ValidationError
from durable_queue.json_limits import MAX_JSON_DEPTH

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

PATH, QUERY, BODY = "path", "query", "body"
_PARTS = (PATH, QUERY, BODY)  # validation order
_PART_OF_LOCATION = {"match_info": PATH, "querystring": QUERY, "json": BODY, "body": BODY}
_PART_NAMES = {PATH: "path", QUERY: "query string", BODY: "request body"}

# A NUL or a lone surrogate can only reach a parsed JSON string through a \u escape.
_ESCAPED_FORBIDDEN = re.compile(rb"\\u(0000|[dD][89a-fA-F])")
_FORBIDDEN = re.compile("[\x00\ud800-\udfff]")


@web.middleware
async def validation_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    for part, schema in declared_inputs(request.match_info.handler):
        request[part] = await _load_part(request, part, schema)
    return await handler(request)


@functools.cache
def declared_inputs(handler: Any) -> tuple[tuple[str, marshmallow.Schema], ...]:
    """The (part, schema) pairs the handler's decorators declared, in validation order
    (read once per handler: the decorators ran at import)."""
    found = [
        (_PART_OF_LOCATION[(entry["locations"] or ["json"])[0]], entry["schema"])
        for entry in getattr(handler, "__schemas__", ())
    ]
    return tuple(sorted(found, key=lambda pair: _PARTS.index(pair[0])))


@functools.cache
def _body_required(schema: marshmallow.Schema) -> bool:
    """Whether the body schema has a required field (else an empty body reads as {})."""
    return any(field.required for field in schema.fields.values())


async def _load_part(request: web.Request, part: str, schema: marshmallow.Schema) -> Any:
    if part in (PATH, QUERY):
        data: Any = dict(request.match_info if part == PATH else request.query)
        check_strings(data)
    else:
        data = await read_json(request, allow_empty=not _body_required(schema))
    return load(schema, data, _PART_NAMES[part])


def load(schema: marshmallow.Schema, data: Any, part_name: str = "request body") -> Any:
    """Load `data` (a JSON object) with `schema`; a ValidationError names the first bad field."""
    if not isinstance(data, dict):
        raise ValidationError(f"{part_name} must be a JSON object")
    try:
        return loader_of(schema)(data)
    except Unsure:
        pass
    try:
        return schema.load(data)
    except marshmallow.ValidationError as exc:
        raise ValidationError(first_error(exc.messages)) from exc


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
        data = json_codec.loads(raw)
    except ValueError as exc:  # UnicodeDecodeError is a ValueError
        raise ValidationError(f"request body is not valid JSON: {exc}") from exc
    except RecursionError as exc:  # read by `json` (orjson refused it), which recurses
        raise ValidationError(
            f"request body nests too deeply to be read (JSON values may nest at most "
            f"{MAX_JSON_DEPTH} levels)"
        ) from exc
    if isinstance(data, dict) and _ESCAPED_FORBIDDEN.search(raw):
        check_strings(data)
    return data


def check_strings(data: dict[str, Any]) -> None:
    """Refuse a NUL character or an unpaired surrogate in any key or string, naming its path.

    Iterative, so no nesting depth can overflow the stack.
    """
    stack: list[tuple[Any, str]] = [(data, "")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            _check_text(value, path)
        elif isinstance(value, dict):
            for key in value:
                _check_text(key, f"a key of {path}" if path else "a key")
            stack.extend((child, _join(path, key)) for key, child in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend((value[i], f"{path}[{i}]") for i in reversed(range(len(value))))


def _check_text(text: str, name: str) -> None:
    found = _FORBIDDEN.search(text)
    if found is None:
        return
    if found.group() == "\x00":
        raise ValidationError(f"{name} must not contain NUL characters (\\u0000)")
    raise ValidationError(f"{name} must not contain unpaired surrogates (\\ud800-\\udfff)")


def _join(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def first_error(messages: Any, path: str = "") -> str:
    """The first error of a marshmallow error dict, as "<field path> <problem>"."""
    if isinstance(messages, dict) and messages:
        key, value = next(iter(messages.items()))
        return first_error(value, path if key == "_schema" else _join(path, key))
    if isinstance(messages, list) and messages:
        first = messages[0]
        if isinstance(first, dict | list):
            return first_error(first, path)
        return f"{path} {first}" if path else str(first)
    return f"{path} is invalid" if path else "invalid request"
