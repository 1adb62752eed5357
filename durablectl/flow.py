"""Option values of the flow-control commands: a concurrency limit (`N` or `none`), a
rate limit (`N/SECONDS` or `none`) and a cleanup ttl (`SECONDS` or `default`), checked
on the command line so a bad value is a usage error before any request is sent."""

from __future__ import annotations

import math
import re
from typing import Any, Final

import asyncclick as click
import attrs
from durable_queue_client import RateLimit

MAX_LIMIT: Final = 1_000_000  # the server's bound on a concurrency limit and a rate's limit
MAX_PERIOD_SECONDS: Final = 86_400.0  # a rate limit's longest period
MIN_PRIORITY: Final = -1000
MAX_PRIORITY: Final = 1000
MAX_KEY_LENGTH: Final = 255  # characters of a concurrency key

CLEAR_WORDS: Final = frozenset({"none", "null", "off"})
UNITS: Final = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}

_RATE = re.compile(
    r"""^\s*(?P<limit>\d+)\s*/\s*
    (?P<period>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)?\s*
    (?P<unit>[a-zA-Z]*)\s*$""",
    re.VERBOSE,
)


@attrs.frozen
class Setting:
    """A flow option given on the command line; `value` None means "clear it" (`none`),
    which differs from an option not given (the option's value is then None itself)."""

    value: Any


class FlowValueError(ValueError):
    """An option value that is not of the documented syntax; the message says why."""


def parse_limit(text: str) -> int | None:
    """`N` (1 to 1,000,000) as an int, or None for `none` (no limit)."""
    word = text.strip().lower()
    if word in CLEAR_WORDS:
        return None
    try:
        value = int(word)
    except ValueError:
        raise FlowValueError(f"{text!r} is not a whole number or 'none'") from None
    if not 1 <= value <= MAX_LIMIT:
        raise FlowValueError(
            f"{value} is out of range: a limit is 1 to {MAX_LIMIT:,} "
            "(to stop claims, pause the queue)"
        )
    return value


def parse_rate(text: str) -> RateLimit | None:
    """`N/SECONDS` as a RateLimit, or None for `none`. SECONDS may carry a unit (`s`,
    `m`/`min`, `h`, `d`) and may be left out before one: `50/1`, `50/s`, `600/1m`,
    `10/0.5`, `1000/1h`. The limit is 1 to 1,000,000, the period above 0 and at most
    86,400 seconds."""
    word = text.strip().lower()
    if word in CLEAR_WORDS:
        return None
    match = _RATE.match(word)
    if match is None:
        raise FlowValueError(f"{text!r} is not N/SECONDS (e.g. 50/1, 50/s, 600/1m) or 'none'")
    unit = match["unit"]
    if unit and unit not in UNITS:
        raise FlowValueError(f"{text!r}: unknown unit {unit!r} (use s, m, h or d)")
    if match["period"] is None and not unit:
        raise FlowValueError(f"{text!r} has no period: give N/SECONDS (e.g. 50/1)")
    limit = int(match["limit"])
    period = float(match["period"] or 1) * UNITS.get(unit, 1.0)
    if not 1 <= limit <= MAX_LIMIT:
        raise FlowValueError(f"{text!r}: the limit must be 1 to {MAX_LIMIT:,}")
    if not (math.isfinite(period) and 0 < period <= MAX_PERIOD_SECONDS):
        raise FlowValueError(
            f"{text!r}: the period must be above 0 and at most {MAX_PERIOD_SECONDS:,.0f} seconds"
        )
    return RateLimit(limit=limit, period_seconds=period)


def parse_ttl(text: str) -> int | None:
    """`SECONDS` (0 or more; 0 keeps forever) as an int, or None for `default`."""
    word = text.strip().lower()
    if word == "default":
        return None
    try:
        value = int(word)
    except ValueError:
        raise FlowValueError(f"{text!r} is not a whole number of seconds or 'default'") from None
    if value < 0:
        raise FlowValueError(f"{value} is negative: give 0 (keep) or more seconds")
    return value


def format_rate(rate: RateLimit | dict[str, Any]) -> str:
    """`N/SECONDSs`, as `parse_rate` reads it back (e.g. `50/1s`, `600/60s`)."""
    if isinstance(rate, dict):
        limit, period = rate["limit"], rate["period_seconds"]
    else:
        limit, period = rate.limit, rate.period_seconds
    return f"{limit}/{float(period):g}s"


class _SettingType(click.ParamType[Setting]):
    """A click type over one of the parsers; a parse error is a usage error."""

    def parse(self, text: str) -> Any:
        raise NotImplementedError

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> Setting:
        if isinstance(value, Setting):
            return value
        try:
            return Setting(self.parse(str(value)))
        except FlowValueError as exc:
            self.fail(str(exc), param, ctx)


class LimitType(_SettingType):
    name = "N|none"

    def parse(self, text: str) -> int | None:
        return parse_limit(text)


class RateType(_SettingType):
    name = "N/SECONDS|none"

    def parse(self, text: str) -> RateLimit | None:
        return parse_rate(text)


class TtlType(_SettingType):
    name = "SECONDS|default"

    def parse(self, text: str) -> int | None:
        return parse_ttl(text)


LIMIT = LimitType()
RATE = RateType()
TTL = TtlType()
