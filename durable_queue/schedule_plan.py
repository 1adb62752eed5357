"""What a due schedule fires now: the catch-up policy applied to its due slots
(docs/schedules.md, "Catch-up").

A due slot at most `grace` seconds old is on time and always fires. An older one was
missed (no scheduler ran at its time): inside `catchup_window_seconds`, `skip` fires
none of them, `latest` the most recent one (when no on-time slot fired), `all` every one,
the most recent ones, CATCHUP_ALL_CAP fires in all at most. Every due slot that does not fire is counted as
missed. Pure: the database's clock is passed in.
"""

from __future__ import annotations

import datetime as dt
import itertools

import attrs

from durable_queue.schedule_times import Calendar

CATCHUP_POLICIES = ("skip", "latest", "all")
OVERLAP_POLICIES = ("allow", "skip", "buffer_one", "cancel_previous")
CATCHUP_ALL_CAP = 1000  # missed slots one catch-up fires at most, with catchup "all"
MISSED_COUNT_CAP = 100_000  # past slots one catch-up counts at most (cron schedules)
MAX_ON_TIME_SLOTS = 1000  # bounds a pass when the grace spans many slots


@attrs.frozen
class FirePlan:
    """The slots to fire now (oldest first), the due slots that will not fire, and the
    slot after now (None: the schedule has ended)."""

    slots: tuple[dt.datetime, ...]
    missed: int
    next_fire_at: dt.datetime | None


def plan_fires(
    calendar: Calendar,
    next_fire_at: dt.datetime,
    now: dt.datetime,
    *,
    grace: float,
    catchup: str,
    catchup_window_seconds: int,
) -> FirePlan:
    """The fires of a schedule whose next slot is `next_fire_at`, at `now`."""
    following = calendar.next_after(now)
    if next_fire_at > now:
        return FirePlan((), 0, next_fire_at)
    on_time_from = max(next_fire_at, now - dt.timedelta(seconds=grace))
    recent = calendar.at_or_before(now)
    on_time = list(
        itertools.islice(
            itertools.takewhile(lambda s: s >= on_time_from, recent), MAX_ON_TIME_SLOTS
        )
    )
    late: list[dt.datetime] = []
    wanted = {"all": CATCHUP_ALL_CAP - len(on_time), "latest": 0 if on_time else 1}.get(catchup, 0)
    if wanted:
        window_from = max(next_fire_at, now - dt.timedelta(seconds=catchup_window_seconds))
        older = calendar.at_or_before(on_time_from - dt.timedelta(microseconds=1))
        late = list(
            itertools.islice(itertools.takewhile(lambda s: s >= window_from, older), wanted)
        )
        late = [slot for slot in late if slot < on_time_from]
    slots = tuple(sorted(late + on_time))
    due = calendar.count(next_fire_at, now, MISSED_COUNT_CAP)
    return FirePlan(slots, max(0, due - len(slots)), following)
