"""A schedule's calendar: its slots as UTC instants (docs/schedules.md).

A cron expression is read by croniter on the wall clock of the schedule's time zone
(naive local times), and each local time is mapped to an instant with zoneinfo:
- a local time that does not exist (the clock springs forward over it) becomes the
  first valid instant after it, the instant of the transition;
- a local time that occurs twice (the clock falls back over it) is its first occurrence;
- local times that map to one instant are one slot.

An interval schedule has a slot every `interval_seconds` from its anchor, in absolute
time: time zones do not apply.

Pure functions of their arguments (no clock is read here): the scheduler passes the
database's clock in, and the tests a clock of their own.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
from croniter import CroniterError, croniter

UTC = dt.UTC
MAX_CRON_LENGTH = 255
MAX_INTERVAL_SECONDS = 366 * 86_400
MAX_CATCHUP_WINDOW_SECONDS = 366 * 86_400
# The most a zone's offset changes at once, and then some: a slot near a transition is
# searched from this far before it on the wall clock, so none is missed in a fold.
_DST_MARGIN = dt.timedelta(hours=3)
_ONE_SECOND = dt.timedelta(seconds=1)
CRON_FORMS = (
    "5 fields (minute hour day-of-month month day-of-week), 6 with seconds first, "
    "or one of @yearly @annually @monthly @weekly @daily @midnight @hourly"
)


class CalendarError(ValueError):
    """A calendar field that cannot be used: `field` names it, the message says why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    """The IANA zone `name`; CalendarError("timezone") when there is none."""
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        raise CalendarError("timezone", f"{name!r} is not an IANA time zone name")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise CalendarError(
            "timezone", f"{name!r} is not an IANA time zone (e.g. UTC, Europe/Amsterdam)"
        ) from None


def check_cron(expression: str) -> str:
    """`expression` if croniter reads it in one of CRON_FORMS; CalendarError("cron") if not."""
    text = " ".join(expression.split())
    if not text:
        raise CalendarError("cron", f"is empty; expected {CRON_FORMS}")
    if len(text) > MAX_CRON_LENGTH:
        raise CalendarError("cron", f"is longer than {MAX_CRON_LENGTH} characters")
    if not text.startswith("@") and len(text.split(" ")) not in (5, 6):
        fields = len(text.split(" "))
        raise CalendarError("cron", f"has {fields} fields; expected {CRON_FORMS}")
    try:
        _cron(text, dt.datetime(2000, 1, 1))
    except (CroniterError, ValueError, KeyError, TypeError) as exc:
        raise CalendarError("cron", f"{text!r} is not valid: {exc}") from None
    return expression


def _cron(expression: str, start: dt.datetime) -> croniter:
    return croniter(" ".join(expression.split()), start, second_at_beginning=True)


@attrs.frozen
class Calendar:
    """When a schedule's slots are: exactly one of `cron` and `interval_seconds`."""

    cron: str | None = None
    interval_seconds: int | None = None
    timezone: str = "UTC"
    anchor: dt.datetime = dt.datetime(2000, 1, 1, tzinfo=UTC)  # interval slots: anchor + k·interval
    start_at: dt.datetime | None = None
    end_at: dt.datetime | None = None

    def after(self, instant: dt.datetime, *, bounded: bool = True) -> Iterator[dt.datetime]:
        """The slots strictly after `instant`, ascending; within start_at..end_at when
        `bounded`."""
        if bounded and self.start_at is not None and instant < self.start_at:
            instant = self.start_at - dt.timedelta(microseconds=1)
        slots = self._interval_after(instant) if self.cron is None else self._cron_after(instant)
        if bounded and self.end_at is not None:
            end_at = self.end_at
            slots = itertools.takewhile(lambda slot: slot <= end_at, slots)
        return slots

    def at_or_before(self, instant: dt.datetime, *, bounded: bool = True) -> Iterator[dt.datetime]:
        """The slots at or before `instant`, descending; within start_at..end_at when
        `bounded`."""
        if bounded and self.end_at is not None and instant > self.end_at:
            instant = self.end_at
        if self.cron is None:
            slots = self._interval_at_or_before(instant)
        else:
            slots = self._cron_at_or_before(instant)
        if bounded and self.start_at is not None:
            start_at = self.start_at
            slots = itertools.takewhile(lambda slot: slot >= start_at, slots)
        return slots

    def next_after(self, instant: dt.datetime) -> dt.datetime | None:
        """The first slot after `instant` (None: the schedule has ended)."""
        return next(self.after(instant), None)

    def between(self, first: dt.datetime, last: dt.datetime, limit: int) -> list[dt.datetime]:
        """The slots in [first, last], ascending, ignoring start_at and end_at; at most
        `limit` + 1 (more than `limit` tells the range is too long)."""
        slots = self.after(first - dt.timedelta(microseconds=1), bounded=False)
        return list(itertools.islice(itertools.takewhile(lambda s: s <= last, slots), limit + 1))

    def count(self, first: dt.datetime, last: dt.datetime, cap: int) -> int:
        """How many slots lie in [first, last] (within start_at..end_at), counting at most
        `cap` of them."""
        if last < first:
            return 0
        if self.cron is None:
            slots = self.after(first - dt.timedelta(microseconds=1))
            head = next(slots, None)
            if head is None or head > last:
                return 0
            span = (min(last, self.end_at or last) - head) // dt.timedelta(
                seconds=self.interval_seconds or 1
            )
            return min(cap, span + 1)
        slots = self.after(first - dt.timedelta(microseconds=1))
        return sum(
            1 for _ in itertools.islice(itertools.takewhile(lambda s: s <= last, slots), cap)
        )

    # -- interval ------------------------------------------------------------------

    def _interval_after(self, instant: dt.datetime) -> Iterator[dt.datetime]:
        step = dt.timedelta(seconds=self.interval_seconds or 1)
        k = 0 if instant < self.anchor else (instant - self.anchor) // step + 1
        slot = self.anchor + k * step
        while True:
            yield slot
            slot += step

    def _interval_at_or_before(self, instant: dt.datetime) -> Iterator[dt.datetime]:
        if instant < self.anchor:
            return
        step = dt.timedelta(seconds=self.interval_seconds or 1)
        slot = self.anchor + ((instant - self.anchor) // step) * step
        while slot >= self.anchor:
            yield slot
            slot -= step

    # -- cron ------------------------------------------------------------------------

    def _cron_after(self, instant: dt.datetime) -> Iterator[dt.datetime]:
        tz = zone(self.timezone)
        start = _wall(instant, tz) - (
            _DST_MARGIN if _near_transition(instant, tz) else dt.timedelta()
        )
        times = _cron(self.cron or "", start)
        last = instant
        while True:
            slot = resolve_wall_time(times.get_next(dt.datetime), tz)
            if slot > last:  # also drops a wall time mapped onto the slot before it
                last = slot
                yield slot

    def _cron_at_or_before(self, instant: dt.datetime) -> Iterator[dt.datetime]:
        tz = zone(self.timezone)
        margin = _DST_MARGIN if _near_transition(instant, tz) else dt.timedelta()
        # croniter's get_prev answers a time equal to its start: start just past `instant`
        times = _cron(self.cron or "", _wall(instant, tz) + margin + dt.timedelta(microseconds=1))
        last = None
        while True:
            slot = resolve_wall_time(times.get_prev(dt.datetime), tz)
            if slot > instant:
                continue
            if last is None or slot < last:
                last = slot
                yield slot


def _wall(instant: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """`instant`'s naive wall-clock time in `tz`."""
    return instant.astimezone(tz).replace(tzinfo=None)


def _near_transition(instant: dt.datetime, tz: ZoneInfo) -> bool:
    offset = instant.astimezone(tz).utcoffset()
    return (instant - _DST_MARGIN).astimezone(tz).utcoffset() != offset or (
        instant + _DST_MARGIN
    ).astimezone(tz).utcoffset() != offset


def resolve_wall_time(wall: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """The instant (UTC) a naive wall-clock time of `tz` fires at: its first occurrence,
    or, when the clock skipped it, the first valid instant after it."""
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if _wall(first, tz) == wall:
        return first  # it exists; fold 0 is the first of two occurrences
    # In a gap, fold 0 reads it with the offset before the transition (an instant after
    # the transition) and fold 1 with the offset after (an instant before): the
    # transition lies between them, at a whole second.
    before = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    after = first
    if before > after:
        before, after = after, before
    offset_after = after.astimezone(tz).utcoffset()
    low, high = 0, int((after - before).total_seconds())
    while low < high:
        mid = (low + high) // 2
        if (before + mid * _ONE_SECOND).astimezone(tz).utcoffset() == offset_after:
            high = mid
        else:
            low = mid + 1
    return before + low * _ONE_SECOND


def check_calendar(
    cron: str | None,
    interval_seconds: int | None,
    timezone: str,
    start_at: dt.datetime | None,
    end_at: dt.datetime | None,
) -> None:
    """CalendarError naming the field when a schedule's calendar cannot be used."""
    if (cron is None) == (interval_seconds is None):
        raise CalendarError("cron", "or interval_seconds must be given, not both")
    if cron is not None:
        check_cron(cron)
    if interval_seconds is not None and not 1 <= interval_seconds <= MAX_INTERVAL_SECONDS:
        raise CalendarError("interval_seconds", f"must be 1 to {MAX_INTERVAL_SECONDS:,}")
    zone(timezone)
    if start_at is not None and end_at is not None and end_at <= start_at:
        raise CalendarError("end_at", "must be after start_at")
