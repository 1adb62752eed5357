"""JSON values as stored: SQL NULL means "absent", JSON_NULL means an explicit JSON null.

psycopg2 decodes both a SQL NULL and the jsonb value `null` to None; the wire
contract tells them apart (a field that was never given is omitted, a given
null is echoed), so stored JSON nulls decode to the JSON_NULL marker instead.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import psycopg2.extras

from durable_queue.deep_json import dumps_iteratively


class _JsonNull:
    __slots__ = ()

    def __repr__(self) -> str:
        return "JSON_NULL"

    def __bool__(self) -> bool:
        return False


JSON_NULL: Any = _JsonNull()


class Undecodable:
    """A stored JSON text that no parser here reads (an integer of more than 4,300 digits,
    or a value too deep for `json` that orjson refused too; the API accepts neither).

    Decoding answers it rather than raising, because psycopg2 decodes while it fetches: an
    error there would lose the rest of the rows, and a claim would not learn which runs it
    took (`Store.claim` releases them instead). It is not JSON-serialisable, so an answer
    that carries it fails to render, as reading it would have failed."""

    __slots__ = ("error", "text")

    def __init__(self, text: str, error: Exception) -> None:
        self.text = text
        self.error = error

    def __repr__(self) -> str:
        return f"<undecodable stored JSON of {len(self.text)} characters: {self.error}>"


# A run of 19 digits may be an integer beyond 64 bits (int64 holds every 18-digit one), which
# orjson reads as a float. Found by mapping every digit to "0" and anything else to " "
# (bytes.translate and a substring search run at memory speed; a regular expression is
# slower than parsing the text).
_DIGITS_AS_ZERO = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_LONG_RUN = b"0" * 19


def may_hold_a_big_integer(raw: bytes) -> bool:
    """Whether JSON text holds a run of 19 or more digits: orjson would read an integer
    there beyond 64 bits as a float, so `json` must read it."""
    return _LONG_RUN in raw.translate(_DIGITS_AS_ZERO)


def _loads(text: str) -> Any:
    """A stored JSON text: orjson's reading where it is exact, else `json`'s (an integer
    beyond 64 bits); Undecodable where neither reads it."""
    if not may_hold_a_big_integer(text.encode()):
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            value = _json_loads(text)
    else:
        value = _json_loads(text)
    return JSON_NULL if value is None else value


def _json_loads(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        return Undecodable(text, exc)


def register_json_decoding() -> None:
    """Decode json/jsonb columns with JSON_NULL for a stored null (process-wide)."""
    psycopg2.extras.register_default_json(globally=True, loads=_loads)
    psycopg2.extras.register_default_jsonb(globally=True, loads=_loads)


def to_db(value: Any) -> str | None:
    """Encode a JSON value for a jsonb parameter: None (never given) stays SQL NULL,
    JSON_NULL (a given null) becomes the JSON value null."""
    if value is None:
        return None
    return dumps(None if value is JSON_NULL else value)


def _default(obj: Any) -> Any:
    if obj is JSON_NULL:
        return None
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def dumps(value: Any) -> str:
    """`dump_bytes` as text (a jsonb parameter)."""
    return dump_bytes(value).decode()


def dump_bytes(value: Any) -> bytes:
    """Serialise compactly as UTF-8, rendering JSON_NULL as null: orjson; json's encoder
    for what orjson refuses (an integer beyond 64 bits, a lone surrogate, a non-str key,
    nesting beyond 254 levels), so every value keeps its exact text; deep_json for what
    json's encoder cannot write for its depth (only a value stored before the nesting
    limit of durable_queue/json_limits.py)."""
    try:
        return orjson.dumps(value, default=_default)
    except TypeError:  # orjson.JSONEncodeError
        pass
    try:
        return json.dumps(value, default=_default, separators=(",", ":")).encode()
    except RecursionError:
        return dumps_iteratively(value, default=_default).encode()
