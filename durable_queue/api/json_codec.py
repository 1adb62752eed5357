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
- `dumps`: the writer of stored values (jsonvalue.dump_bytes): what orjson cannot write
  is written by `json`, and what `json` cannot write for its depth (a value stored before
  the nesting limit of durable_queue/json_limits.py) by durable_queue/deep_json.py.
  JSON_NULL (a given null) is null.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from durable_queue.jsonvalue import dump_bytes, may_hold_a_big_integer


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


# Serialise a response body (compact, UTF-8): the same writer as a stored value's.
dumps = dump_bytes
