"""Records to and from JSON: the one cattrs converter of the client (aware datetimes in
and out, records unstructured without their None-valued fields unless marked
`keep_null`), and the fast path the client's requests and responses take.

The fast path gives the same results as the converter for the data it accepts: request
bodies are encoded by orjson (when installed) with one generated function per record
class that leaves out None fields; response bodies are structured by one generated
function per record class that checks each field's JSON type. Anything else (an int
too big for orjson, a naive datetime, a field of an unexpected type, a missing key)
falls back to the converter and the stdlib `json`, whose result or error it then is.
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar

import attrs
import cattrs

from durable_queue_client.models import KEEP_NULL, UNSET

try:
    import orjson
except ImportError:  # pragma: no cover - orjson is a dependency; the stdlib serves without
    orjson = None  # type: ignore[assignment]

T = TypeVar("T")

converter = cattrs.Converter(forbid_extra_keys=False)


def rfc3339(value: dt.datetime) -> str:
    """An aware datetime as RFC 3339 (UTC rendered with `Z`); naive datetimes are refused,
    since the server would have to guess their zone."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"timestamp {value.isoformat()} has no time zone")
    return value.isoformat().replace("+00:00", "Z")


def _structure_datetime(value: Any, _: type) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str):
        raise TypeError(f"expected an RFC 3339 timestamp, got {value!r}")
    return dt.datetime.fromisoformat(value)


def _unstructure_attrs_factory(cls: type) -> Callable[[Any], dict[str, Any]]:
    fields = [(a.name, bool(a.metadata.get(KEEP_NULL))) for a in attrs.fields(cls)]

    def unstructure(obj: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, keep_null in fields:
            value = getattr(obj, name)
            if value is UNSET or (value is None and not keep_null):
                continue
            out[name] = converter.unstructure(value)
        return out

    return unstructure


converter.register_structure_hook(dt.datetime, _structure_datetime)
converter.register_unstructure_hook(dt.datetime, rfc3339)
converter.register_unstructure_hook_factory(attrs.has, _unstructure_attrs_factory)


def to_dict(obj: Any) -> Any:
    """A record (or a list of records) as plain JSON-ready data, None-valued optional
    fields left out. Used for printing responses; request bodies take `encode`."""
    return converter.unstructure(obj)


def structure(data: Any, cls: type[T]) -> T:
    """A response body (decoded JSON) as `cls` (a record class or `list[Record]`);
    unknown keys are ignored."""
    fast = _structurers.get(cls, _UNKNOWN)
    if fast is _UNKNOWN:
        try:
            fast = _compile_structure(cls)
        except Exception:
            fast = None  # e.g. an annotation that does not resolve: the converter's job
        _structurers[cls] = fast
    if fast is not None:
        try:
            return fast(data)  # type: ignore[no-any-return]
        except Exception:
            pass  # the converter gives the answer, or the error
    return converter.structure(data, cls)


# -- encoding request bodies ------------------------------------------------------------


def _exec(source: str, name: str, namespace: dict[str, Any]) -> Callable[..., Any]:
    exec(compile(source, f"<durable_queue_client {name}>", "exec"), namespace)
    return namespace[name]  # type: ignore[no-any-return]


def _compile_unstructure(cls: type) -> Callable[[Any], dict[str, Any]]:
    """`obj -> dict` of `cls`'s fields, None ones left out unless `keep_null`, UNSET ones
    (a PATCH's "no change") always; the values as they are (orjson encodes JSON data
    itself and hands the rest to `_default`)."""
    lines = ["def unstructure(obj):", "    out = {}"]
    for a in attrs.fields(cls):
        if a.metadata.get(KEEP_NULL) and a.default is UNSET:
            lines += [
                f"    value = obj.{a.name}",
                "    if value is not UNSET:",
                f"        out[{a.name!r}] = value",
            ]
        elif a.metadata.get(KEEP_NULL):
            lines.append(f"    out[{a.name!r}] = obj.{a.name}")
        else:
            lines += [
                f"    value = obj.{a.name}",
                "    if value is not None:",
                f"        out[{a.name!r}] = value",
            ]
    lines.append("    return out")
    return _exec("\n".join(lines), "unstructure", {"UNSET": UNSET})


_unstructurers: dict[type, Callable[[Any], Any]] = {}


def _default(obj: Any) -> Any:
    """What orjson does not encode itself: records, datetimes (RFC 3339, aware only) and
    whatever else the converter turns into JSON data."""
    cls = type(obj)
    fn = _unstructurers.get(cls)
    if fn is None:
        if isinstance(obj, dt.datetime):
            return rfc3339(obj)
        if not attrs.has(cls):
            out = converter.unstructure(obj)
            if out is obj:
                raise TypeError(f"Object of type {cls.__name__} is not JSON serializable")
            return out
        fn = _unstructurers[cls] = _compile_unstructure(cls)
    return fn(obj)


if orjson is not None:
    # dates, times and dataclasses go through `_default` as they go through the converter
    _OPTIONS = (
        orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
    )


def encode(obj: Any) -> bytes:
    """A request body (a record, a list of records or plain JSON data) as JSON bytes,
    None-valued optional fields left out: what `json.dumps(to_dict(obj))` gives."""
    if orjson is not None:
        try:
            body = orjson.dumps(obj, default=_default, option=_OPTIONS)
        except orjson.JSONEncodeError:
            pass  # e.g. an int over 64 bits or a naive datetime: the stdlib path decides
        else:
            # orjson writes NaN and infinities as null; `json` writes them as they are (and
            # the server refuses them), so a body with a null in it is written by `json`
            if b"null" not in body:
                return body
    return json.dumps(converter.unstructure(obj)).encode()


# A run of 19 digits may be an integer beyond 64 bits, which orjson reads as a float: such
# a body is read by `json`. Found by mapping every digit to "0" and anything else to " "
# (bytes.translate and a substring search run at memory speed, a regular expression not).
_DIGITS_AS_ZERO = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_LONG_RUN = b"0" * 19


def decode(body: bytes, *, exact_ints: bool = True) -> Any:
    """A response body's JSON; `ValueError` when it is not JSON. `exact_ints=False` skips
    the look for integers beyond 64 bits (a cost per byte of the body: docs/performance.md,
    "Small costs behind comments in the code"), for the bodies made of ids, statuses and
    counts only, which hold none."""
    if orjson is not None and (not exact_ints or _LONG_RUN not in body.translate(_DIGITS_AS_ZERO)):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass  # e.g. not UTF-8: `json` decides, and words the error
    return json.loads(body)


# -- structuring response bodies --------------------------------------------------------

_UNKNOWN: Any = object()
_structurers: dict[Any, Callable[[Any], Any] | None] = {}
_SCALARS = (str, int, float, bool)


def _optional_of(hint: Any) -> Any:
    """X for `X | None`, else None."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(args) == 1 and len(typing.get_args(hint)) == 2:
            return args[0]
    return None


def _field_code(var: str, hint: Any, namespace: dict[str, Any]) -> list[str]:
    """Lines that check (or convert) `var`, a field's JSON value, for the type `hint`,
    raising where the converter might answer differently."""
    if hint is Any:
        return []
    inner = _optional_of(hint)
    target = hint if inner is None else inner
    guard = f"{var} is not None and " if inner is not None else ""
    if target in _SCALARS:
        namespace[target.__name__] = target
        return [f"    if {guard}type({var}) is not {target.__name__}:", "        raise TypeError"]
    key = f"hint_{len(namespace)}"
    namespace[key] = target
    if target is dt.datetime:
        lines = [f"    if type({var}) is str:", f"        {var} = fromisoformat({var})"]
        if inner is not None:
            lines.append(f"    elif {var} is not None:")
        else:
            lines.append("    else:")
        return [*lines, f"        {var} = structure_datetime({var}, None)"]
    call = f"converter.structure({var}, {key})"
    if inner is None:
        return [f"    {var} = {call}"]
    return [f"    if {var} is not None:", f"        {var} = {call}"]


def _slot_setters(cls: type) -> dict[str, Callable[[Any, Any], None]] | None:
    """The slot descriptors' setters of `cls`'s fields, when setting them is all its
    `__init__` does (slotted, no validators, converters or post-init, no hash cache);
    else None. A frozen record's `__init__` sets each field through `object.__setattr__`,
    which costs more than the descriptor (docs/performance.md, "Small costs behind
    comments in the code")."""
    fields = attrs.fields(cls)
    if hasattr(cls, "__attrs_post_init__") or hasattr(cls, "__attrs_pre_init__"):
        return None
    if any(a.validator is not None or a.converter is not None for a in fields):
        return None
    slots = {s for c in cls.__mro__ for s in c.__dict__.get("__slots__", ())}
    names = {a.name for a in fields}
    if slots - names != {"__weakref__"} and slots - names != set():
        return None
    setters = {}
    for name in names:
        descriptor = inspect.getattr_static(cls, name, None)
        if not isinstance(descriptor, types.MemberDescriptorType):
            return None
        setters[name] = descriptor.__set__
    return setters


def _compile_record(cls: type) -> Callable[[Any], Any] | None:
    """`data -> cls(...)` for a record whose optional fields default to None; None for
    any other class (the converter structures those)."""
    if not attrs.has(cls):
        return None
    hints = typing.get_type_hints(cls)
    namespace: dict[str, Any] = {
        "cls": cls,
        "converter": converter,
        "structure_datetime": _structure_datetime,
        "fromisoformat": dt.datetime.fromisoformat,
        "new": object.__new__,
    }
    setters = _slot_setters(cls)
    lines = ["def structure_record(data):"]
    args = []
    for i, a in enumerate(attrs.fields(cls)):
        if not a.init or a.alias != a.name:
            return None
        var = f"v{i}"
        if a.default is attrs.NOTHING:
            lines.append(f"    {var} = data[{a.name!r}]")
        elif a.default is None:
            lines.append(f"    {var} = data.get({a.name!r})")
        else:
            return None
        lines += _field_code(var, hints[a.name], namespace)
        args.append(f"{a.name}={var}")
    if setters is None:
        lines.append(f"    return cls({', '.join(args)})")
    else:
        lines.append("    record = new(cls)")
        for i, a in enumerate(attrs.fields(cls)):
            namespace[f"set_{i}"] = setters[a.name]
            lines.append(f"    set_{i}(record, v{i})")
        lines.append("    return record")
    return _exec("\n".join(lines), "structure_record", namespace)


def _compile_structure(cls: Any) -> Callable[[Any], Any] | None:
    """The fast structure function of a record class or of `list[Record]`, or None."""
    if typing.get_origin(cls) is list:
        (item,) = typing.get_args(cls)
        record = _structurers.get(item, _UNKNOWN)
        if record is _UNKNOWN:
            record = _structurers[item] = _compile_record(item)
        if record is None:
            return None

        def structure_list(data: Any) -> list[Any]:
            if type(data) is not list:
                raise TypeError
            return [record(item) for item in data]

        return structure_list
    return _compile_record(cls) if isinstance(cls, type) else None
