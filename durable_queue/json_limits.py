"""The one limit on the shape of every JSON value the server stores, and its check.

A value (params, a result, checkpoint state, an event payload, workflow inputs and
results) may nest at most MAX_JSON_DEPTH levels: `[]` and `{}` have depth 1, a scalar 0,
`{"a": [1]}` 2. Deeper values are refused with a 400 naming the field
(docs/limits.md). The bound keeps every reader of a stored value well inside the
limits of the JSON libraries it goes through (orjson writes at most 254 levels, a
response wraps a value in up to 4 more; Python's `json` recurses once per level), and
no real payload comes near it.

A number that overflowed a double while the body was read (`1e999` is read as
infinity, which JSON cannot write back) is refused by the same walk.

The walk is iterative (a nesting of any depth cannot overflow the stack) and goes one
level at a time, stopping at the level past the limit; a scalar is not walked at all.
It runs on every JSON value of every create, so it stays a tight loop.
"""

from __future__ import annotations

from math import isfinite
from typing import Any

MAX_JSON_DEPTH = 100

TOO_DEEP = f"nests deeper than {MAX_JSON_DEPTH} levels"
NOT_FINITE = "must hold only finite numbers (1e999 and the like overflow a double)"


def json_value_problem(value: Any) -> str | None:
    """Why a parsed JSON value may not be stored (TOO_DEEP, NOT_FINITE), or None."""
    kind = type(value)
    if kind is dict:
        items: Any = value.values()
    elif kind is list:
        items = value
    elif kind is float:
        return None if isfinite(value) else NOT_FINITE
    else:
        return None
    below = None  # the first level inline: most values are one flat object
    for item in items:
        kind = type(item)
        if kind is dict or kind is list:
            if below is None:
                below = [item]
            else:
                below.append(item)
        elif kind is float and not isfinite(item):
            return NOT_FINITE
    return None if below is None else _levels_problem(below)


def _levels_problem(level: list[Any]) -> str | None:
    """`json_value_problem` of the containers at depth 2, a level at a time."""
    depth = 1
    while level:
        depth += 1
        if depth > MAX_JSON_DEPTH:
            return TOO_DEEP
        below: list[Any] = []
        append = below.append
        for container in level:
            for item in container.values() if type(container) is dict else container:
                kind = type(item)
                if kind is dict or kind is list:
                    append(item)
                elif kind is float and not isfinite(item):
                    return NOT_FINITE
        level = below
    return None
