"""A schedule's calendar (durable_queue/schedule_times.py): cron on a zone's wall clock
with the DST rules, interval slots, bounds, and the checks of cron and time zones. The
clock is injected: every instant is given.

DST rules (issue 24): a local time the clock springs forward over fires once, at the
first valid instant after it; a local time the clock falls back over fires once, at
its first occurrence.
"""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest

from durable_queue.schedule_plan import plan_fires
from durable_queue.schedule_times import (
    Calendar,
    CalendarError,
    check_calendar,
    check_cron,
    resolve_wall_time,
)

UTC = dt.UTC
AMSTERDAM, NEW_YORK = "Europe/Amsterdam", "America/New_York"


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def first(calendar: Calendar, after: dt.datetime, count: int) -> list[dt.datetime]:
    return list(itertools.islice(calendar.after(after), count))


def wall(instants: list[dt.datetime], zone: str) -> list[str]:
    return [i.astimezone(ZoneInfo(zone)).strftime("%m-%d %H:%M %Z") for i in instants]


# -- spring forward: the local time does not exist --------------------------------------


@pytest.mark.parametrize(
    ("zone", "day", "expected"),
    [
        # 2026-03-29 02:00 CET -> 03:00 CEST: 02:30 fires at 03:00 CEST (01:00 UTC)
        (
            AMSTERDAM,
            utc(2026, 3, 27, 12),
            ["03-28 02:30 CET", "03-29 03:00 CEST", "03-30 02:30 CEST"],
        ),
        # 2026-03-08 02:00 EST -> 03:00 EDT: 02:30 fires at 03:00 EDT (07:00 UTC)
        (NEW_YORK, utc(2026, 3, 6, 12), ["03-07 02:30 EST", "03-08 03:00 EDT", "03-09 02:30 EDT"]),
    ],
)
def test_a_skipped_local_time_fires_once_at_the_first_valid_instant_after(zone, day, expected):
    calendar = Calendar(cron="30 2 * * *", timezone=zone)
    assert wall(first(calendar, day, 3), zone) == expected


def test_the_skipped_hour_of_an_hourly_schedule_fires_once():
    """02:00 does not exist on 2026-03-29 in Amsterdam: it maps to 03:00 CEST, which is
    also the 03:00 slot, so that instant fires once."""
    calendar = Calendar(cron="0 * * * *", timezone=AMSTERDAM)
    slots = first(calendar, utc(2026, 3, 28, 23, 30), 4)  # from 00:30 CET
    assert wall(slots, AMSTERDAM) == [
        "03-29 01:00 CET",
        "03-29 03:00 CEST",
        "03-29 04:00 CEST",
        "03-29 05:00 CEST",
    ]
    assert slots[1] - slots[0] == dt.timedelta(hours=1)


def test_every_quarter_hour_in_the_gap_collapses_into_one_slot():
    calendar = Calendar(cron="*/15 2 * * *", timezone=NEW_YORK)
    slots = first(calendar, utc(2026, 3, 8, 6), 5)  # from 01:00 EST
    assert wall(slots, NEW_YORK) == [
        "03-08 03:00 EDT",
        "03-09 02:00 EDT",
        "03-09 02:15 EDT",
        "03-09 02:30 EDT",
        "03-09 02:45 EDT",
    ]


# -- fall back: the local time occurs twice ------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "day", "expected"),
    [
        # 2026-10-25 03:00 CEST -> 02:00 CET: 02:30 happens twice; it fires in CEST only
        (
            AMSTERDAM,
            utc(2026, 10, 23, 12),
            ["10-24 02:30 CEST", "10-25 02:30 CEST", "10-26 02:30 CET"],
        ),
        # 2026-11-01 02:00 EDT -> 01:00 EST: 01:30 happens twice; it fires in EDT only
        (
            NEW_YORK,
            utc(2026, 10, 30, 12),
            ["10-31 01:30 EDT", "11-01 01:30 EDT", "11-02 01:30 EST"],
        ),
    ],
)
def test_a_repeated_local_time_fires_once_at_its_first_occurrence(zone, day, expected):
    cron = "30 2 * * *" if zone == AMSTERDAM else "30 1 * * *"
    calendar = Calendar(cron=cron, timezone=zone)
    assert wall(first(calendar, day, 3), zone) == expected


def test_the_repeated_hour_is_not_fired_twice_by_an_hourly_schedule():
    calendar = Calendar(cron="0 * * * *", timezone=AMSTERDAM)
    slots = first(calendar, utc(2026, 10, 24, 22, 30), 4)  # from 00:30 CEST
    assert wall(slots, AMSTERDAM) == [
        "10-25 01:00 CEST",
        "10-25 02:00 CEST",
        "10-25 03:00 CET",
        "10-25 04:00 CET",
    ]


def test_starting_inside_the_repeated_hour_finds_no_slot_twice():
    """From 02:10 CET (the second 02:10), 02:30 fired already, in CEST: next is 03:00 CET."""
    calendar = Calendar(cron="*/30 * * * *", timezone=AMSTERDAM)
    second_0210 = utc(2026, 10, 25, 1, 10)
    assert wall(first(calendar, second_0210, 2), AMSTERDAM) == [
        "10-25 03:00 CET",
        "10-25 03:30 CET",
    ]


def test_backwards_matches_forwards_across_both_transitions():
    for zone in (AMSTERDAM, NEW_YORK):
        calendar = Calendar(cron="*/20 * * * *", timezone=zone)
        for start in (utc(2026, 3, 7), utc(2026, 3, 28), utc(2026, 10, 24), utc(2026, 10, 31)):
            forward = first(calendar, start, 200)
            backward = list(itertools.islice(calendar.at_or_before(forward[-1]), 200))
            assert backward[::-1] == forward
            assert len(set(forward)) == len(forward)


def test_resolve_wall_time():
    ams = ZoneInfo(AMSTERDAM)
    assert resolve_wall_time(dt.datetime(2026, 3, 29, 2, 30), ams) == utc(2026, 3, 29, 1)
    assert resolve_wall_time(dt.datetime(2026, 10, 25, 2, 30), ams) == utc(2026, 10, 25, 0, 30)
    assert resolve_wall_time(dt.datetime(2026, 7, 1, 12), ams) == utc(2026, 7, 1, 10)


# -- cron forms --------------------------------------------------------------------------


def test_six_fields_put_seconds_first():
    calendar = Calendar(cron="*/20 * * * * *")
    assert first(calendar, utc(2026, 1, 1), 3) == [
        utc(2026, 1, 1, 0, 0, 20),
        utc(2026, 1, 1, 0, 0, 40),
        utc(2026, 1, 1, 0, 1),
    ]


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("@hourly", utc(2026, 1, 1, 1)),
        ("@daily", utc(2026, 1, 2)),
        ("@weekly", utc(2026, 1, 4)),  # Sunday
        ("0 9 * jan mon-fri", utc(2026, 1, 1, 9)),  # names
        ("0 9-17/4 * * *", utc(2026, 1, 1, 9)),  # a range with a step
    ],
)
def test_shorthands_names_ranges_and_steps(cron, expected):
    assert first(Calendar(cron=cron), utc(2026, 1, 1), 1) == [expected]


@pytest.mark.parametrize(
    "cron", ["61 * * * *", "* * *", "* * * * * * *", "@reboot", "", "a b c d e"]
)
def test_a_bad_cron_expression_names_the_field(cron):
    with pytest.raises(CalendarError) as raised:
        check_cron(cron)
    assert raised.value.field == "cron"
    assert raised.value.reason


@pytest.mark.parametrize(
    "zone", ["Mars/Olympus", "", "../../etc/passwd", "/etc/localtime", "X" * 100]
)
def test_a_bad_time_zone_names_the_field(zone):
    with pytest.raises(CalendarError) as raised:
        check_calendar("0 * * * *", None, zone, None, None)
    assert raised.value.field == "timezone"


def test_exactly_one_of_cron_and_interval():
    for cron, interval in (("0 * * * *", 60), (None, None)):
        with pytest.raises(CalendarError) as raised:
            check_calendar(cron, interval, "UTC", None, None)
        assert raised.value.field == "cron"
    with pytest.raises(CalendarError, match="after start_at"):
        check_calendar(None, 60, "UTC", utc(2026, 2, 1), utc(2026, 1, 1))


# -- intervals and bounds ------------------------------------------------------------------


def test_interval_slots_count_from_the_anchor_in_absolute_time():
    calendar = Calendar(interval_seconds=3600, timezone=AMSTERDAM, anchor=utc(2026, 10, 24, 23))
    slots = first(calendar, utc(2026, 10, 25, 0, 30), 3)
    assert slots == [utc(2026, 10, 25, 1), utc(2026, 10, 25, 2), utc(2026, 10, 25, 3)]
    assert first(calendar, utc(2000, 1, 1), 1) == [utc(2026, 10, 24, 23)]  # none before it
    assert list(itertools.islice(calendar.at_or_before(utc(2026, 10, 25, 1, 30)), 5)) == [
        utc(2026, 10, 25, 1),
        utc(2026, 10, 25, 0),
        utc(2026, 10, 24, 23),
    ]


def test_start_and_end_bound_the_slots():
    calendar = Calendar(cron="0 * * * *", start_at=utc(2026, 1, 1, 5), end_at=utc(2026, 1, 1, 7))
    assert list(calendar.after(utc(2026, 1, 1))) == [
        utc(2026, 1, 1, 5),
        utc(2026, 1, 1, 6),
        utc(2026, 1, 1, 7),
    ]
    assert calendar.next_after(utc(2026, 1, 1, 7)) is None
    assert calendar.between(utc(2026, 1, 1), utc(2026, 1, 1, 2), 10) == [
        utc(2026, 1, 1, 0),
        utc(2026, 1, 1, 1),
        utc(2026, 1, 1, 2),
    ]  # a backfill ignores the bounds
    assert calendar.count(utc(2026, 1, 1), utc(2026, 1, 2), 100) == 3


# -- catch-up plans --------------------------------------------------------------------


def test_plans_apply_the_grace_the_window_and_the_policy():
    calendar = Calendar(interval_seconds=1, anchor=utc(2026, 1, 1))
    now = dt.datetime(2026, 1, 1, 0, 0, 20, 500_000, tzinfo=UTC)
    due_from = utc(2026, 1, 1, 0, 0, 5)  # 16 slots due: 5..20

    def plan(catchup: str):
        return plan_fires(
            calendar, due_from, now, grace=2, catchup=catchup, catchup_window_seconds=10
        )

    on_time = (utc(2026, 1, 1, 0, 0, 19), utc(2026, 1, 1, 0, 0, 20))
    assert plan("skip").slots == on_time and plan("skip").missed == 14
    assert plan("latest").slots == on_time  # an on-time slot is the latest
    everything = plan("all")
    assert everything.slots == tuple(utc(2026, 1, 1, 0, 0, s) for s in range(11, 21))
    assert everything.missed == 6
    assert everything.next_fire_at == utc(2026, 1, 1, 0, 0, 21)


def test_latest_fires_the_most_recent_missed_slot_when_none_is_on_time():
    calendar = Calendar(cron="0 7 * * *", timezone=AMSTERDAM)
    now = utc(2026, 6, 3, 9)  # down since 06-01 06:00 UTC; the 07:00 CEST slots passed
    plan = plan_fires(
        calendar, utc(2026, 6, 1, 5), now, grace=10, catchup="latest", catchup_window_seconds=86400
    )
    assert plan.slots == (utc(2026, 6, 3, 5),)
    assert plan.missed == 2
    assert plan.next_fire_at == utc(2026, 6, 4, 5)


def test_all_is_capped_at_a_thousand_slots():
    calendar = Calendar(interval_seconds=1, anchor=utc(2026, 1, 1))
    plan = plan_fires(
        calendar, utc(2026, 1, 1), utc(2026, 1, 1, 1), grace=0, catchup="all",
        catchup_window_seconds=86400,
    )  # fmt: skip
    assert len(plan.slots) == 1000 and plan.slots[-1] == utc(2026, 1, 1, 1)
    assert plan.missed == 3601 - 1000


def test_a_schedule_not_due_plans_nothing():
    calendar = Calendar(interval_seconds=60, anchor=utc(2026, 1, 1))
    plan = plan_fires(
        calendar, utc(2026, 1, 1, 0, 1), utc(2026, 1, 1, 0, 0, 30), grace=1, catchup="all",
        catchup_window_seconds=60,
    )  # fmt: skip
    assert (plan.slots, plan.missed, plan.next_fire_at) == ((), 0, utc(2026, 1, 1, 0, 1))
