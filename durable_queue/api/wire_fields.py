"""The field types of the request schemas, each carrying its wire error messages.

A message is the problem only ("is required", "must be a valid UUID"); the
validation step puts the field's path in front ("tasks[3].task_name is required"),
so no marshmallow message is rewritten after the fact. Integers are strict (no
strings, no fractions, no booleans), numbers are finite JSON numbers.

Each type also gives its compiled loader (`fast_loader()`, used by api/fast_load.py):
what `deserialize` gives for a present value, or `Unsure` where marshmallow must decide.
A type without a cheaper exact check runs its own `_deserialize`; validators run as
marshmallow runs them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from marshmallow import ValidationError, fields, validate

from durable_queue.api.fast_load import Loader, Unsure, field_loader, loader_of
from durable_queue.json_limits import json_value_problem
from durable_queue.jsonvalue import JSON_NULL

# PostgreSQL's integer: the bound of every stored count and number of seconds.
INT32_MAX = 2_147_483_647
# Names that are indexed (event, step, workflow names, idempotency keys) must fit in a
# B-tree entry; 1,024 characters is far below PostgreSQL's limit.
MAX_NAME_LENGTH = 1024
# The most items one batch request (create, complete) may carry.
MAX_BATCH_ITEMS = 1000
# A task's priority (higher is claimed first; docs/flow-control.md).
MIN_PRIORITY, MAX_PRIORITY = -1000, 1000
# A concurrency key: indexed with the queue and compared often, so kept short.
MAX_CONCURRENCY_KEY_LENGTH = 255
# The bound of every flow-control limit (runs at once, claims per period).
MAX_FLOW_LIMIT = 1_000_000
# The longest rate-limit period: a day.
MAX_RATE_PERIOD_SECONDS = 86_400
# 1-128 letters, digits, '-', '_', '.', but not '.' or '..' (a URL cannot reach those).
# Written for both Python and ECMA-262 (the OpenAPI pattern); matched in full.
QUEUE_NAME_PATTERN = r"^(?!\.\.?$)[A-Za-z0-9_.-]{1,128}$"
# Times outside this window are refused: PostgreSQL could store them, but they
# could not be read back into Python datetimes (year 10000 after a UTC shift).
EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(9000, 1, 1, tzinfo=dt.UTC)

_TIMESTAMP = "must be an RFC 3339 timestamp with a zone"


class _Messages:
    """Messages every field shares (merged below each type's own), and the compiled loader."""

    default_error_messages = {
        "required": "is required",
        "null": "may not be null",
        "validator_failed": "is invalid",
    }

    def fast_loader(self) -> Loader:
        """A present value → what `deserialize` gives, or Unsure (api/fast_load.py)."""
        field: Any = self
        allow_none = field.allow_none
        convert = self._fast_convert()
        validators = tuple(field.validators)

        def load(value: Any) -> Any:
            if value is None:
                if allow_none:
                    return None
                raise Unsure
            output = convert(value)
            for validator in validators:
                try:
                    if validator(output) is False:
                        raise Unsure
                except ValidationError:
                    raise Unsure from None
            return output

        return load

    def _fast_convert(self) -> Callable[[Any], Any]:
        """`_deserialize` of a non-null value, or Unsure; this default is marshmallow's own."""
        deserialize = self._deserialize  # type: ignore[attr-defined]

        def convert(value: Any) -> Any:
            try:
                return deserialize(value, None, None)
            except ValidationError:
                raise Unsure from None

        return convert


class _Integer(_Messages, fields.Integer):
    default_error_messages = {"invalid": "must be an integer", "too_large": "is too large"}

    def _fast_convert(self) -> Callable[[Any], Any]:
        if not self.strict:  # a query string's "3": marshmallow converts
            return super()._fast_convert()
        return _exactly(int)  # a JSON integer, never a bool (int(value) is value)


class _Float(_Messages, fields.Float):
    default_error_messages = {
        "invalid": "must be a number",
        "too_large": "is too large",
        "special": "must be a finite number",
    }

    def _validated(self, value: Any) -> Any:
        if isinstance(value, str):  # a JSON number, not a string holding one
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


class _String(_Messages, fields.String):
    default_error_messages = {"invalid": "must be a string", "invalid_utf8": "must be UTF-8"}

    def _fast_convert(self) -> Callable[[Any], Any]:
        return _exactly(str)


class _UUID(_Messages, fields.UUID):
    default_error_messages = {"invalid_uuid": "must be a valid UUID"}


class _Boolean(_Messages, fields.Boolean):
    default_error_messages = {"invalid": "must be a boolean"}

    def _fast_convert(self) -> Callable[[Any], Any]:
        return _exactly(bool)  # true and false; "yes", 1 and the like: marshmallow decides


class _JsonBoolean(_Boolean):
    """A JSON true or false only (a query string's Bool also takes "yes", 1 and the like)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if type(value) is bool:
            return value
        raise self.make_error("invalid", input=value)


class _Dict(_Messages, fields.Dict):
    default_error_messages = {"invalid": "must be an object"}


class _List(_Messages, fields.List):
    default_error_messages = {"invalid": "must be a list"}

    def _fast_convert(self) -> Callable[[Any], Any]:
        load_item = field_loader(self.inner)

        def convert(value: Any) -> Any:
            if type(value) is not list:
                raise Unsure
            return [load_item(item) for item in value]

        return convert


class _Nested(_Messages, fields.Nested):
    default_error_messages = {"type": "must be an object"}

    def _fast_convert(self) -> Callable[[Any], Any]:
        if self.many or self.unknown is not None:
            return super()._fast_convert()
        return loader_of(self.schema)


class _Timestamp(_Messages, fields.AwareDateTime):
    default_error_messages = {
        "invalid": _TIMESTAMP,
        "invalid_awareness": _TIMESTAMP,
        "format": _TIMESTAMP,
    }


class _JsonValue(_Messages, fields.Raw):
    """Any JSON value within the stored-value limits (durable_queue/json_limits.py: at most
    MAX_JSON_DEPTH levels, finite numbers); a given null loads as JSON_NULL, so it stays
    apart from "absent"."""

    def deserialize(self, value: Any, attr: Any = None, data: Any = None, **kwargs: Any) -> Any:
        if value is None:
            return JSON_NULL
        return super().deserialize(value, attr, data, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        problem = json_value_problem(value)
        if problem is not None:
            raise ValidationError(problem)
        return value

    def fast_loader(self) -> Loader:
        # without validators, the conversion is all the loading: called directly (hot path)
        load = super().fast_loader() if self.validators else _within_json_limits

        def load_json(value: Any) -> Any:
            return JSON_NULL if value is None else load(value)

        return load_json

    def _fast_convert(self) -> Callable[[Any], Any]:
        return _within_json_limits


def _within_json_limits(value: Any) -> Any:
    """Raw: any JSON value as parsed, if it may be stored; else Unsure (marshmallow words it)."""
    if json_value_problem(value) is not None:
        raise Unsure
    return value


def _exactly(cls: type) -> Callable[[Any], Any]:
    """A value of exactly `cls` as it is (no subclass: a bool is not an int); else Unsure."""

    def convert(value: Any) -> Any:
        if type(value) is cls:
            return value
        raise Unsure

    return convert


class FullMatch(validate.Regexp):
    """A Regexp validator that must match the whole value (`$` alone lets "q\\n" through)."""

    def __call__(self, value: str) -> str:
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


def _range(
    minimum: float | None, maximum: float | None, *, min_inclusive: bool = True
) -> validate.Range:
    if not min_inclusive:
        error = "must be more than {min}" + (" and at most {max}" if maximum is not None else "")
    elif minimum is not None and maximum is not None:
        error = "must be between {min} and {max}"
    elif minimum is not None:
        error = "must be at least {min}"
    else:
        error = "must be at most {max}"
    return validate.Range(min=minimum, max=maximum, min_inclusive=min_inclusive, error=error)


def Int(
    minimum: int | None = None, maximum: int = INT32_MAX, *, strict: bool = True, **kw: Any
) -> fields.Integer:
    """An integer within [minimum, maximum] (PostgreSQL integer by default); `strict=False`
    for query strings, where "3" is the integer 3."""
    return _Integer(strict=strict, validate=_range(minimum, maximum), **kw)


def Number(
    minimum: float | None = None,
    maximum: float | None = None,
    *,
    min_inclusive: bool = True,
    **kw: Any,
) -> fields.Float:
    """A finite number, at least `minimum` (more than it with `min_inclusive=False`), at
    most `maximum`."""
    bounds = _range(minimum, maximum, min_inclusive=min_inclusive)
    if not min_inclusive:  # OpenAPI 3.0's flag (apispec documents the Range's min only)
        kw["metadata"] = {**kw.get("metadata", {}), "exclusiveMinimum": True}
    return _Float(allow_nan=False, validate=bounds, **kw)


def String(**kw: Any) -> fields.String:
    return _String(**kw)


def Text(**kw: Any) -> fields.String:
    """A non-empty indexed name, at most MAX_NAME_LENGTH characters."""
    length = validate.Length(min=1, max=MAX_NAME_LENGTH, error="must be 1 to {max} characters long")
    return _String(validate=length, **kw)


def Key(**kw: Any) -> fields.String:
    """An indexed key that may be empty, at most MAX_NAME_LENGTH characters."""
    length = validate.Length(max=MAX_NAME_LENGTH, error="must be at most {max} characters long")
    return _String(validate=length, **kw)


def ConcurrencyKeyName(**kw: Any) -> fields.String:
    """A concurrency key: 1 to MAX_CONCURRENCY_KEY_LENGTH characters."""
    length = validate.Length(
        min=1, max=MAX_CONCURRENCY_KEY_LENGTH, error="must be 1 to {max} characters long"
    )
    return _String(validate=length, **kw)


def Priority(**kw: Any) -> fields.Integer:
    """A task's priority: an integer from MIN_PRIORITY to MAX_PRIORITY (higher first)."""
    return Int(MIN_PRIORITY, MAX_PRIORITY, **kw)


def FlowLimit(**kw: Any) -> fields.Integer:
    """A flow-control limit: an integer from 1 to MAX_FLOW_LIMIT."""
    return Int(1, MAX_FLOW_LIMIT, **kw)


def QueueName(**kw: Any) -> fields.String:
    error = "must be 1-128 characters of letters, digits, '-', '_' or '.', and not '.' or '..'"
    return _String(validate=FullMatch(QUEUE_NAME_PATTERN, error=error), **kw)


def Uuid(**kw: Any) -> fields.UUID:
    return _UUID(**kw)


def Bool(**kw: Any) -> fields.Boolean:
    """A boolean as a query string gives it ("true", "1", "yes", ...)."""
    return _Boolean(**kw)


def JsonBool(**kw: Any) -> fields.Boolean:
    """A JSON boolean: true or false, nothing else."""
    return _JsonBoolean(**kw)


def StringMap(**kw: Any) -> fields.Dict:
    """An object of string → string."""
    return _Dict(keys=_String(), values=_String(), **kw)


def Nested(schema: Any, **kw: Any) -> fields.Nested:
    return _Nested(schema, **kw)


def ListOf(item: fields.Field, **kw: Any) -> fields.List:
    return _List(item, **kw)


def Batch(item_schema: Any, **kw: Any) -> fields.List:
    """A list of 1 to MAX_BATCH_ITEMS objects loaded with `item_schema`; a bad item's
    messages are named by its index ("tasks[3].task_name is required")."""
    size = validate.Length(min=1, max=MAX_BATCH_ITEMS, error="must hold 1 to {max} items")
    return _List(_Nested(item_schema), validate=size, **kw)


def JsonValue(**kw: Any) -> fields.Raw:
    return _JsonValue(allow_none=True, **kw)


def _within_window(value: dt.datetime) -> None:
    if not EARLIEST <= value <= LATEST:
        raise ValidationError("must be between 1970-01-01T00:00:00Z and 9000-01-01T00:00:00Z")


def Timestamp(**kw: Any) -> fields.AwareDateTime:
    return _Timestamp(format="iso", validate=_within_window, **kw)


def OneOf(choices: tuple[str, ...], **kw: Any) -> fields.String:
    return _String(
        validate=validate.OneOf(choices, error=f"must be one of: {', '.join(choices)}"), **kw
    )
