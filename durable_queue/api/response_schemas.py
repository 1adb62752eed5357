"""marshmallow response schemas derived from the attrs records, for the OpenAPI document.

The records of `durable_queue.wire` are the one declaration of every response shape;
this module reads their fields, type hints and metadata and builds the schema the
`@response_schema` decorators document:

- a field declared with `optional()` may be absent (it is omitted while None); every other
  field is required;
- a JSON value (`Any`) may be null; so may a required `X | None` field (an optional one
  is omitted instead);
- metadata `description` and `enum` are copied into the document;
- a nested record becomes a nested schema (one per record, so each is one component); so
  does a plain dict field whose metadata says which record it is `documented_as`.

The schemas only describe: responses are rendered by `codec.to_wire`, never dumped
through them.
"""

from __future__ import annotations

import datetime as dt
import functools
import types
import typing
import uuid
from typing import Any

import attrs
from marshmallow import Schema, fields

from durable_queue.codec import DOCUMENTED_AS, OMIT_NONE

_SCALARS: dict[Any, type[fields.Field]] = {
    str: fields.String,
    int: fields.Integer,
    float: fields.Float,
    bool: fields.Boolean,
    uuid.UUID: fields.UUID,
    dt.datetime: fields.DateTime,
}
_DOCUMENTED_METADATA = ("description", "enum")


@functools.cache
def response_schema_of(record: type, name: str | None = None) -> type[Schema]:
    """The schema class of `record`; its OpenAPI component is named `name` (default: the
    record's class name)."""
    hints = typing.get_type_hints(record)
    declared = {
        field.name: _field(
            _documented_type(hints[field.name], field),
            field,
            required=not field.metadata.get(OMIT_NONE),
        )
        for field in attrs.fields(record)
    }
    schema_name = f"{name or record.__name__}Schema"
    return type(schema_name, (Schema,), {**declared, "__doc__": record.__doc__})


def _field(hint: Any, field: attrs.Attribute | None, *, required: bool) -> fields.Field:
    metadata = {k: field.metadata[k] for k in _DOCUMENTED_METADATA if field and k in field.metadata}
    hint, nullable = _without_none(hint)
    options: dict[str, Any] = {"required": required, "metadata": metadata}
    if hint is Any:
        return fields.Raw(allow_none=True, **options)
    options["allow_none"] = nullable and required  # an optional None is omitted, not null
    if hint in _SCALARS:
        return _SCALARS[hint](**options)
    if attrs.has(hint):
        return fields.Nested(response_schema_of(hint), **options)
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if origin in (list, set, frozenset):  # a set is a JSON array too
        return fields.List(_field(arguments[0], None, required=True), **options)
    if origin is dict:
        values = _field(arguments[1], None, required=True)
        return fields.Dict(keys=fields.String(), values=values, **options)
    raise TypeError(f"no response schema field for {hint!r}")


def _documented_type(hint: Any, field: attrs.Attribute) -> Any:
    documented = field.metadata.get(DOCUMENTED_AS)
    if documented is None:
        return hint
    return documented | None if _without_none(hint)[1] else documented


def _without_none(hint: Any) -> tuple[Any, bool]:
    """(`X`, True) for `X | None`; (hint, False) otherwise."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        arguments = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(arguments) == 1 and len(typing.get_args(hint)) == 2:
            return arguments[0], True
    return hint, False
