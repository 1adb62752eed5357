"""Option types and help text shared by the durablectl commands (durablectl.cli and the
command groups it registers, which must not import it)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import asyncclick as click
import attrs


def doc(description: str, example: str) -> str:
    """Help text: the one-line description, then an example kept as written."""
    return f"{description}\n\n\b\nExample:\n  {example}"


@attrs.frozen
class JSONArg:
    """A parsed JSON option value (wrapped so that JSON `null` differs from "not given")."""

    value: Any


class JSONType(click.ParamType[JSONArg]):
    """A JSON document given on the command line; invalid JSON is a usage error."""

    name = "JSON"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> JSONArg:
        if isinstance(value, JSONArg):
            return value
        try:
            return JSONArg(json.loads(value))
        except ValueError as exc:
            self.fail(f"not valid JSON: {exc}", param, ctx)


class TimestampType(click.ParamType[dt.datetime]):
    """An RFC 3339 time with a zone, e.g. 2026-02-14T10:10:00Z."""

    name = "TIME"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> dt.datetime:
        if isinstance(value, dt.datetime):
            return value
        text = str(value).strip()
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            self.fail(f"{text!r} is not an RFC 3339 time (e.g. 2026-02-14T10:10:00Z)", param, ctx)
        if parsed.tzinfo is None:
            self.fail(f"{text!r} has no time zone (add Z or an offset like +02:00)", param, ctx)
        return parsed


JSON = JSONType()
TIME = TimestampType()


def json_value(arg: JSONArg | None) -> Any:
    return None if arg is None else arg.value
