"""How records cross the boundaries: database rows in, wire dicts out.

One cattrs converter, shared: a row (a dict from aiosql) becomes a record through
`from_row`; a record becomes its wire dict through `to_wire`, by a function generated
once per record class from its declared field types. The records themselves are
declared in `durable_queue.wire` (responses) and `durable_queue.commands` (requests);
their fields are declared with `optional()` and `described()` from here.

A field declared with `optional()` is left out of the wire form when it is None,
matching the original server's `omitempty`; every other field is always present
(None as null). JSON values keep the JSON_NULL marker (an explicit null) apart
from None (never given). Field metadata `description` and `enum` reach the
OpenAPI document (`durable_queue.api.response_schemas`).
"""

from __future__ import annotations

import datetime as dt
import types
import typing
import uuid
from collections.abc import Callable
from typing import Any

import attrs
import cattrs
import cattrs.gen

from durable_queue.jsonvalue import JSON_NULL

OMIT_NONE = "omit_none"

DOCUMENTED_AS = "documented_as"


def optional(description: str | None = None, *, documented_as: type | None = None) -> Any:
    """An attrs field (default None) that is omitted from the wire form while it is None.
    `documented_as`: the record that describes a JSON object kept as a plain dict."""
    metadata = _metadata(description, None, omit_none=True)
    if documented_as is not None:
        metadata[DOCUMENTED_AS] = documented_as
    return attrs.field(default=None, metadata=metadata)


def described(description: str | None = None, *, enum: tuple[str, ...] | None = None) -> Any:
    """A required attrs field with a description (and allowed values) for the OpenAPI document."""
    return attrs.field(metadata=_metadata(description, enum))


def _metadata(
    description: str | None, enum: tuple[str, ...] | None, *, omit_none: bool = False
) -> dict[str, Any]:
    metadata: dict[str, Any] = {OMIT_NONE: True} if omit_none else {}
    if description:
        metadata["description"] = description
    if enum:
        metadata["enum"] = list(enum)
    return metadata


def rfc3339(value: dt.datetime) -> str:
    """RFC 3339 in UTC with a Z, as the original server rendered times."""
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


converter = cattrs.Converter()
converter.register_structure_hook(
    uuid.UUID, lambda v, _: v if isinstance(v, uuid.UUID) else uuid.UUID(str(v))
)
converter.register_unstructure_hook(uuid.UUID, str)
converter.register_structure_hook(dt.datetime, lambda v, _: v)
converter.register_unstructure_hook(dt.datetime, rfc3339)
converter.register_structure_hook(Any, lambda v, _: v)


# Rendering a record walks a plan built once per class from its declared field types; a
# value whose runtime type is not the declared one is unstructured by the converter, so
# the wire form is what dispatching every value on its runtime type gives.
_PRIMITIVES = frozenset((str, int, float, bool, type(None)))
_Render = Callable[[Any], Any]


def _unstructure_attrs_factory(cls: type) -> _Render:
    """The generated function rendering a `cls` record: one statement per field, in
    declaration order (as the wire lists them)."""
    hints = typing.get_type_hints(cls)
    scope: dict[str, Any] = {"JSON_NULL": JSON_NULL, "PRIMITIVES": _PRIMITIVES, "UUID": uuid.UUID}
    lines = ["def unstructure(obj):", "    out = {}"]
    for index, field in enumerate(attrs.fields(cls)):
        render = _renderer(hints[field.name])
        name = repr(field.name)
        scope[f"render_{index}"] = render
        if render is _primitive:  # the common cases, inlined
            value = f"value if type(value) in PRIMITIVES else render_{index}(value)"
        elif render is _uuid:
            value = f"str(value) if type(value) is UUID else render_{index}(value)"
        else:
            value = f"render_{index}(value)"
        lines += [
            f"    value = obj.{field.name}",
            "    if value is None:",
            "        pass" if field.metadata.get(OMIT_NONE) else f"        out[{name}] = None",
            "    elif value is JSON_NULL:",
            f"        out[{name}] = None",
            "    else:",
            f"        out[{name}] = {value}",
        ]
    lines.append("    return out")
    exec("\n".join(lines), scope)  # the source is built above from field names only
    unstructure: _Render = scope["unstructure"]
    return unstructure


def _renderer(hint: Any) -> _Render:
    """The wire form of a value declared `hint` (None handled by the caller)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        given = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        hint = given[0] if len(given) == 1 else Any
    if hint is Any:
        return _json_value
    if hint in _PRIMITIVES:
        return _primitive
    if hint is uuid.UUID:
        return _uuid
    if hint is dt.datetime:
        return _datetime
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if attrs.has(hint):
        return _record_renderer(hint)
    if origin is list and arguments:
        return _list_renderer(_renderer(arguments[0]))
    if origin is dict and len(arguments) == 2:
        return _dict_renderer(_renderer(arguments[1]))
    return converter.unstructure


def _primitive(value: Any) -> Any:
    return value if type(value) in _PRIMITIVES else converter.unstructure(value)


def _uuid(value: Any) -> Any:
    return str(value) if type(value) is uuid.UUID else converter.unstructure(value)


def _datetime(value: Any) -> Any:
    return rfc3339(value) if type(value) is dt.datetime else converter.unstructure(value)


def _json_value(value: Any) -> Any:
    """A JSON value (from the database or a request): copied as the converter copies it.

    Iterative, so a value nested to any depth (one stored before the nesting limit,
    durable_queue/json_limits.py) is copied without recursion: each container is
    copied into an empty one already in place in its parent, so order is kept."""
    if type(value) in _PRIMITIVES:
        return value
    pending: list[tuple[Any, Any]] = []
    copied = _json_copy_of(value, pending)
    while pending:
        source, target = pending.pop()
        if type(source) is dict:
            for key, item in source.items():
                if type(key) is not str:
                    key = converter.unstructure(key)
                target[key] = item if type(item) in _PRIMITIVES else _json_copy_of(item, pending)
        else:
            target.extend(
                [
                    item if type(item) in _PRIMITIVES else _json_copy_of(item, pending)
                    for item in source
                ]
            )
    return copied


def _json_copy_of(item: Any, pending: list[tuple[Any, Any]]) -> Any:
    """A non-primitive `item` copied, or (a container) an empty one queued on `pending`."""
    kind = type(item)
    if kind is dict:
        copied: Any = {}
    elif kind is list:
        copied = []
    else:
        return converter.unstructure(item)
    pending.append((item, copied))
    return copied


def _record_renderer(cls: type) -> _Render:
    hook: list[_Render] = []  # looked up at the first value: a record may nest its own class

    def render(value: Any) -> Any:
        if type(value) is not cls:
            return converter.unstructure(value)
        if not hook:
            hook.append(converter.get_unstructure_hook(cls))
        return hook[0](value)

    return render


def _list_renderer(render_item: _Render) -> _Render:
    def render(value: Any) -> Any:
        if type(value) is not list:
            return converter.unstructure(value)
        return [render_item(item) for item in value]

    return render


def _dict_renderer(render_value: _Render) -> _Render:
    def render(value: Any) -> Any:
        if type(value) is not dict:
            return converter.unstructure(value)
        return {
            key if type(key) is str else converter.unstructure(key): render_value(item)
            for key, item in value.items()
        }

    return render


converter.register_unstructure_hook_factory(attrs.has, _unstructure_attrs_factory)


def _structure_attrs_factory(cls: type) -> Any:
    from_dict = cattrs.gen.make_dict_structure_fn(cls, converter)

    def structure(value: Any, _: type) -> Any:
        return value if isinstance(value, cls) else from_dict(value, cls)

    return structure


converter.register_structure_hook_factory(attrs.has, _structure_attrs_factory)


def to_wire(record: Any) -> Any:
    """The JSON-ready form of a record (or a list of records)."""
    return converter.unstructure(record)


def from_row(row: dict[str, Any], cls: type) -> Any:
    """Structure one database row into a record, ignoring columns it does not declare
    (the generated structure function reads only the fields the record declares)."""
    return converter.get_structure_hook(cls)(row, cls)
