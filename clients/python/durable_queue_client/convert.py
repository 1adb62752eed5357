"""The one cattrs converter of the client: aware datetimes in and out, attrs records
unstructured without their None-valued fields (unless marked `keep_null`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

import attrs
import cattrs

from durable_queue_client.models import KEEP_NULL

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
            if value is None and not keep_null:
                continue
            out[name] = converter.unstructure(value)
        return out

    return unstructure


converter.register_structure_hook(dt.datetime, _structure_datetime)
converter.register_unstructure_hook(dt.datetime, rfc3339)
converter.register_unstructure_hook_factory(attrs.has, _unstructure_attrs_factory)


def structure(data: Any, cls: type[T]) -> T:
    """A response body (decoded JSON) as `cls`; unknown keys are ignored."""
    return converter.structure(data, cls)


def to_dict(obj: Any) -> Any:
    """A record (or a list of records) as plain JSON-ready data, None-valued optional
    fields left out. Used for request bodies and for printing responses."""
    return converter.unstructure(obj)
