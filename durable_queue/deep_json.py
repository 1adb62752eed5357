"""A JSON writer without recursion: the last resort for values nested past what orjson
(254 levels) and the standard library's encoder (one C stack frame per level, bounded by
the recursion limit) will write.

No value accepted since the nesting limit (durable_queue/json_limits.py) needs it: it is
there for values stored before that limit, so that reading one back answers instead
of failing. It writes what `json.dumps` writes with the same options (compact
separators, or `indent`; `default` for what JSON does not hold); slower, and used
only when both libraries refused.
"""

from __future__ import annotations

import json.encoder
from collections.abc import Callable
from typing import Any

_LITERAL = -1  # a stack entry whose text is written as it is


def dumps_iteratively(
    value: Any,
    *,
    indent: int | None = None,
    ensure_ascii: bool = True,
    default: Callable[[Any], Any] | None = None,
) -> str:
    """`value` as JSON text; what JSON cannot hold goes through `default` (TypeError
    without one, or from it), as with `json.dumps`."""
    encode_text: Callable[[str], str] = (
        json.encoder.encode_basestring_ascii if ensure_ascii else json.encoder.encode_basestring
    )
    colon = ": " if indent is not None else ":"
    parts: list[str] = []
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if level == _LITERAL:
            parts.append(item)
            continue
        if isinstance(item, dict | list | tuple):
            is_object = isinstance(item, dict)
            children = list(item.items()) if is_object else list(item)
            if not children:
                parts.append("{}" if is_object else "[]")
                continue
            parts.append("{" if is_object else "[")
            stack.append((_newline(indent, level) + ("}" if is_object else "]"), _LITERAL))
            inner = _newline(indent, level + 1)
            for index in range(len(children) - 1, -1, -1):
                head = ("," if index else "") + inner
                if is_object:
                    key, child = children[index]
                    head += encode_text(_key_text(key)) + colon
                else:
                    child = children[index]
                stack.append((child, level + 1))
                stack.append((head, _LITERAL))
        elif _is_scalar(item):
            parts.append(_scalar_text(item, encode_text))
        elif default is not None:
            stack.append((default(item), level))
        else:
            raise TypeError(f"not JSON serialisable: {type(item).__name__}")
    return "".join(parts)


def _newline(indent: int | None, level: int) -> str:
    return "" if indent is None else "\n" + " " * (indent * level)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float)


def _scalar_text(value: Any, encode_text: Callable[[str], str]) -> str:
    if isinstance(value, str):
        return encode_text(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    return json.encoder.JSONEncoder().encode(value)  # a float: its spelling of inf and nan


def _key_text(key: Any) -> str:
    """A key as `json` writes it: text as it is, numbers, booleans and None spelled out."""
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool | int | float):
        return _scalar_text(key, str)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")
