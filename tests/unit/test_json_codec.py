"""The body codec reads and writes exactly what the standard library would (orjson where
both agree, `json` elsewhere)."""

from __future__ import annotations

import json

import pytest

from durable_queue.api.json_codec import dumps, loads
from durable_queue.jsonvalue import JSON_NULL

BIG = 2**64 + 1


def stdlib_loads(raw: bytes):
    def refuse(name: str) -> None:
        raise ValueError(f"{name} is not a JSON number")

    return json.loads(raw, parse_constant=refuse)


ACCEPTED = [
    b'{"a": 1, "b": [true, false, null], "c": {"d": "\\u00e9t\\u00e9"}}',
    b'{"n": 123456789012345678901234567890}',  # beyond 64 bits: an exact int
    b'{"n": -9223372036854775809, "m": 18446744073709551616}',
    b'{"n": 9223372036854775808, "m": 9223372036854775807, "k": 999999999999999999}',
    b'{"s": "12345678901234567890"}',  # long digits in a string
    b'{"f": 0.1, "g": -0.0, "h": 1e-7, "i": 1E2, "j": 12345678.123456789}',
    b'{"big": 1e400}',  # json reads it as infinity: kept as it was
    b'{"a": 1, "a": 2}',
    b'\xef\xbb\xbf{"bom": 1}',  # UTF-8 with a BOM
    '{"utf16": 1}'.encode("utf-16"),
    b'{"nul": "\\u0000", "lone": "\\ud800", "pair": "\\ud83d\\ude00"}',
    b" \t\r\n[1, 2]\n",
    b'"just a string"',
]


@pytest.mark.parametrize("raw", ACCEPTED)
def test_accepted_bodies_read_as_json_reads_them(raw):
    ours, theirs = loads(raw), stdlib_loads(raw)
    assert repr(ours) == repr(theirs)  # repr: -0.0 and 0.0, 1 and 1.0 stay apart
    assert all(type(a) is type(b) for a, b in zip(_leaves(ours), _leaves(theirs), strict=True))


REFUSED = [
    b'{"x": NaN}',
    b'{"x": Infinity}',
    b'{"x": -Infinity}',
    b'{"x": 1,}',
    b'{"x": "a\tb"}',  # a raw control character
    b"[1] x",
    b'{"x": "\xff"}',  # not UTF-8
    b"{'x': 1}",
]


@pytest.mark.parametrize("raw", REFUSED)
def test_refused_bodies_fail_with_the_message_json_gives(raw):
    with pytest.raises(ValueError) as theirs:
        stdlib_loads(raw)
    with pytest.raises(ValueError) as ours:
        loads(raw)
    assert (type(ours.value), str(ours.value)) == (type(theirs.value), str(theirs.value))


def test_nan_and_infinity_are_named():
    for name in ("NaN", "Infinity", "-Infinity"):
        with pytest.raises(ValueError, match=f"^{name} is not a JSON number$"):
            loads(b'{"x": ' + name.encode() + b"}")


@pytest.mark.parametrize(
    "value",
    [
        {"a": [1, 2.5, "x", True, None], "é": "ünïcode"},
        {"big": BIG, "neg": -BIG},
        {"lone": "\ud800"},
        {1: "non-string key"},
        [],
    ],
)
def test_dumps_writes_the_value_json_writes(value):
    assert json.loads(dumps(value)) == json.loads(json.dumps(value))
    assert b" " not in dumps({"a": [1, 2]})  # compact


def test_json_null_is_written_as_null():
    assert dumps({"result": JSON_NULL, "big": BIG}) == b'{"result":null,"big":%d}' % BIG
    assert dumps({"result": JSON_NULL}) == b'{"result":null}'


def test_unknown_objects_are_refused():
    with pytest.raises(TypeError):
        dumps({"x": object()})


def _leaves(value):
    if isinstance(value, dict):
        for key, child in value.items():
            yield key
            yield from _leaves(child)
    elif isinstance(value, list):
        for child in value:
            yield from _leaves(child)
    else:
        yield value
