"""The JSON codec of request and response bodies: orjson, with the standard library's exact
semantics.

orjson is several times faster than the `json` module, but it differs at the edges:
it reads integers beyond 64 bits as floats, refuses what `json` accepts (a number that
overflows to infinity, UTF-16 text, a UTF-8 BOM) and cannot write integers beyond
64 bits, unpaired surrogates or non-string keys. So a body goes through orjson only
where both agree, and through `json` otherwise:

- `loads`: a body holding a run of 19 or more digits (a possible integer beyond 64 bits)
  is read by `json`; any body orjson refuses is read again by `json`, so that what is
  accepted, and the message of what is not, stay `json`'s. NaN and Infinity are refused
  either way.
- `dumps`: what orjson cannot write is written by `json`, and what `json` cannot write for
  its depth (a value stored before the nesting limit of durable_queue/json_limits.py) by
  durable_queue/deep_json.py. JSON_NULL (a given null) is null. Text is written as UTF-8
  rather than \\u escapes (the same JSON value).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from durable_queue.deep_json import dumps_iteratively
from durable_queue.jsonvalue import JSON_NULL, may_hold_a_big_integer


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def loads(raw: bytes) -> Any:
    """Parse a body; raises ValueError (`json`'s, message included) or RecursionError."""
    if not may_hold_a_big_integer(raw):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass  # refused: `json` decides, and words the error
    return json.loads(raw, parse_constant=_reject_constant)


def _default(value: Any) -> Any:
    if value is JSON_NULL:
        return None
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(value: Any) -> bytes:
    """Serialise a response body (compact, UTF-8)."""
    try:
        return orjson.dumps(value, default=_default)
    except TypeError:  # orjson.JSONEncodeError: a big integer, a lone surrogate, a non-str key
        pass  # or nesting beyond 254 levels (only in a value stored before the limit)
    try:
        return json.dumps(value, default=_default, separators=(",", ":")).encode()
    except RecursionError:
        return dumps_iteratively(value, default=_default).encode()
