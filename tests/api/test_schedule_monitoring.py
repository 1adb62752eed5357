"""Schedules on the dashboard and in /metrics: the schedules page (calendar, next fire,
last fire with its task's outcome now, paused state and note, counters) pages by name
and escapes every value; a schedule's page shows its definition, upcoming slots and
latest tasks; the schedule families are the sums of the schedules rows per queue, and
the lateness histogram hears this process's scheduler."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import psycopg2
import psycopg2.extras
from aiohttp import web
from aiohttp.test_utils import TestClient
from markupsafe import escape

from durable_queue.api.keys import SCHEDULER
from durable_queue.api.security_headers import DASHBOARD_POLICY
from durable_queue.app import create_app
from durable_queue.config import Settings
from durable_queue.monitoring.keys import METRICS
from durable_queue.resources import resource_dir
from tests.api.test_auth import BASIC_CHALLENGE, TOKENS, basic
from tests.api.test_metrics import LARGE_TABLES, SCANS, SEED, Samples, scrape
from tests.api.test_security_headers import NO_INLINE
from tests.api.test_ui import links, page
from tests.helpers import (
    call,
    claim,
    eventually,
    make_queue,
    parse_ts,
    query_all,
    query_one,
)

EVIL = '<script>alert("s")</script>'
DAY = dt.timedelta(days=1)


def iso(value: dt.datetime) -> str:
    return value.isoformat()


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def make_schedule(
    client: TestClient, name: str, queue: str = "reports", **body: Any
) -> dict[str, Any]:
    """A schedule that fires at most daily (at 07:00 in Amsterdam) unless told otherwise."""
    if "interval_seconds" not in body:
        body.setdefault("cron", "0 7 * * *")
        body.setdefault("timezone", "Europe/Amsterdam")
    body.setdefault("task_name", "report")
    return await call(
        client, "POST", "/schedules", 201, json={"name": name, "queue": queue, **body}
    )


def page_times(text: str) -> list[dt.datetime]:
    """The UTC times of a page's list items (the timestamp filter's form)."""
    return [
        dt.datetime.strptime(t, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=dt.UTC)
        for t in re.findall(r"<li>(\S+ \S+)Z", text)
    ]


def to_ms(value: dt.datetime) -> dt.datetime:
    """A time as the pages show it: to the millisecond."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def row_of(text: str, name: str) -> str:
    found = re.search(rf'<tr data-schedule="{re.escape(name)}">(.*?)</tr>', text, re.S)
    assert found, f"no row for {name}"
    return found.group(1)


def cell(row: str, css_class: str) -> str:
    found = re.search(rf'<td class="(?:num )?{css_class}">(.*?)</td>', row, re.S)
    assert found, f"no {css_class} cell in {row}"
    return found.group(1)


async def states(client: TestClient) -> dict[str, str]:
    """Four schedules of queue "reports":
    - nightly: cron in Amsterdam, triggered once, its task completed;
    - hourly: every hour from tomorrow on, never fired;
    - held: paused, with a note, triggered once (its task still pending);
    - over: ended yesterday, never fired."""
    await make_queue(client, "reports")
    await make_schedule(client, "nightly")
    await make_schedule(client, "hourly", interval_seconds=3600, start_at=iso(now() + DAY))
    await make_schedule(client, "held", paused=True, note="waiting for the new warehouse")
    await make_schedule(
        client, "over", start_at=iso(now() - 3 * DAY), end_at=iso(now() - DAY), catchup="skip"
    )
    nightly = await call(client, "POST", "/schedules/nightly/trigger", 201)
    (run,) = await claim(client, "reports")
    assert run["task_id"] == nightly["task_id"]
    await call(client, "POST", f"/runs/{run['run_id']}/complete", 200, json={"result": 1})
    held = await call(client, "POST", "/schedules/held/trigger", 201)
    return {"nightly": nightly["task_id"], "held": held["task_id"]}


# -- the schedules page ------------------------------------------------------------


async def test_the_schedules_page_shows_each_state(client: TestClient) -> None:
    ids = await states(client)
    text = await page(client, "/ui/schedules")
    assert '<meta http-equiv="refresh"' in text
    assert 'href="/ui/schedules" class="here"' in text
    assert re.findall(r'<tr data-schedule="([^"]+)">', text) == [
        "held",
        "hourly",
        "nightly",
        "over",
    ]

    nightly = row_of(text, "nightly")
    api = await call(client, "GET", "/schedules/nightly", 200)
    assert "0 7 * * * (Europe/Amsterdam)" in cell(nightly, "calendar")
    next_fire = cell(nightly, "next-fire")
    assert api["next_fire_at"][:19].replace("T", " ") in next_fire
    assert re.search(r"\d{2}:00:00 CES?T", next_fire)  # 07:00 on Amsterdam's wall clock
    assert "07:00:00" in next_fire
    last = cell(nightly, "last-fire")
    assert f'href="/ui/tasks/{ids["nightly"]}"' in last
    assert 'status-completed outcome">completed<' in last
    assert api["last_scheduled_for"][:19].replace("T", " ") in last
    assert "/ui/schedules/nightly" in links(nightly)
    assert "/ui/queues/reports" in links(nightly)
    assert cell(nightly, "fires") == str(api["fires"]) == "1"
    assert cell(nightly, "skipped") == cell(nightly, "missed") == "0"
    assert "status-paused" not in nightly

    hourly = row_of(text, "hourly")
    assert "every 3600 s (1.0 h)" in cell(hourly, "calendar")
    assert "never" in cell(hourly, "last-fire")
    assert "/ui/tasks/" not in hourly
    hourly_api = await call(client, "GET", "/schedules/hourly", 200)
    assert hourly_api["next_fire_at"][:19].replace("T", " ") in cell(hourly, "next-fire")
    assert " CE" not in cell(hourly, "next-fire")  # zones do not apply to intervals

    held = row_of(text, "held")
    assert 'status-paused">paused<' in cell(held, "next-fire")
    assert "waiting for the new warehouse" in held
    assert 'status-pending outcome">pending<' in cell(held, "last-fire")
    assert f'href="/ui/tasks/{ids["held"]}"' in held

    over = row_of(text, "over")
    assert 'status-ended">ended<' in cell(over, "next-fire")
    assert "never" in cell(over, "last-fire")
    assert "status-paused" not in over

    # a task made by a schedule links back to it, with its slot
    task_page = await page(client, f"/ui/tasks/{ids['nightly']}")
    assert "/ui/schedules/nightly" in links(task_page)
    assert api["last_scheduled_for"][:19].replace("T", " ") in task_page

    # the last task's outcome is its status now
    (run,) = await claim(client, "reports")
    await call(client, "POST", f"/runs/{run['run_id']}/fail", 200, json={"error": "no"})
    held = row_of(await page(client, "/ui/schedules"), "held")
    assert 'status-failed outcome">failed<' in cell(held, "last-fire")


async def test_a_deleted_last_task_shows_its_id_without_a_link(
    client: TestClient, database_url: str
) -> None:
    ids = await states(client)
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM tasks WHERE id = %s", (ids["nightly"],))
    conn.close()
    last = cell(row_of(await page(client, "/ui/schedules"), "nightly"), "last-fire")
    assert f"<code>{ids['nightly']}</code>" in last and "(deleted)" in last
    assert "/ui/tasks/" not in last
    detail = await page(client, "/ui/schedules/nightly")
    assert "No task of this schedule is left" in detail


async def test_the_page_is_paged_by_name_and_filtered_by_queue(client: TestClient) -> None:
    await make_queue(client, "reports")
    await make_queue(client, "other")
    names = [f"s-{i:03}" for i in range(55)]
    for name in reversed(names):
        await make_schedule(client, name)
    await make_schedule(client, "a-other", queue="other")
    await make_schedule(client, "z-other", queue="other")

    first = await page(client, "/ui/schedules?queue=reports")
    (after,) = [h for h in links(first) if "cursor=" in h]
    assert after == "/ui/schedules?queue=reports&cursor=s-049"
    assert "« first" not in first
    second = await page(client, after)
    shown = re.findall(r'<tr data-schedule="([^"]+)">', first + second)
    assert shown == names
    assert not [h for h in links(second) if "cursor=" in h]
    assert "/ui/schedules?queue=reports" in links(second)  # « first keeps the filter

    everything = await page(client, "/ui/schedules")
    rows = re.findall(r'<tr data-schedule="([^"]+)">', everything)
    assert rows == ["a-other", *names[:49]]
    other = await page(client, "/ui/schedules?queue=other")
    assert re.findall(r'<tr data-schedule="([^"]+)">', other) == ["a-other", "z-other"]
    assert "No schedule of queue “nope”" in await page(client, "/ui/schedules?queue=nope")
    assert "No schedule" in await page(client, "/ui/schedules?cursor=zzz")

    queue_page = await page(client, "/ui/queues/other")
    assert "/ui/schedules?queue=other" in links(queue_page)
    assert "/ui/schedules" in links(await page(client, "/ui"))  # the nav link


async def test_bad_filters_are_a_400_page(client: TestClient) -> None:
    assert "cursor contains a NUL" in await page(client, "/ui/schedules?cursor=a%00b", 400)
    assert "queue is longer than" in await page(client, f"/ui/schedules?queue={'q' * 2000}", 400)


async def test_values_are_escaped(client: TestClient, database_url: str) -> None:
    """The API allows no markup in a name, but a note and a task name are free text; a
    row stored with a markup name (by an older release, by hand) is escaped too."""
    await make_queue(client, "reports")
    await make_schedule(client, "evil", task_name=EVIL, note=EVIL, params={EVIL: EVIL})
    await call(client, "POST", "/schedules/evil/trigger", 201)
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO schedules (name, queue_name, task_name, cron, timezone, note) "
            "SELECT %s, queue_name, task_name, cron, timezone, note FROM schedules "
            "WHERE name = 'evil'",
            (EVIL,),
        )
    conn.close()
    listing = await page(client, "/ui/schedules")
    detail = await page(client, "/ui/schedules/evil")
    for text in (listing, detail, await page(client, f"/ui/schedules?queue={EVIL}")):
        assert "<script>" not in text
    assert str(escape(EVIL)) in listing and str(escape(EVIL)) in detail
    evil_row = row_of(listing, str(escape(EVIL)))
    (link,) = [h for h in links(evil_row) if h.startswith("/ui/schedules/")]
    assert link == "/ui/schedules/%3Cscript%3Ealert%28%22s%22%29%3C%2Fscript%3E"
    assert "No schedule is named" not in await page(client, link)


async def test_the_pages_carry_the_dashboard_policy_and_nothing_inline(client: TestClient) -> None:
    await states(client)
    for path in ("/ui/schedules", "/ui/schedules?queue=reports", "/ui/schedules/nightly",
                 "/ui/schedules/nope", "/ui/schedules?cursor=a%00b"):  # fmt: skip
        resp = await client.get(path)
        assert resp.headers["Content-Security-Policy"] == DASHBOARD_POLICY, path
        assert resp.headers["X-Frame-Options"] == "DENY", path
        assert not NO_INLINE.search(await resp.text()), path


async def test_the_pages_need_a_token_like_the_dashboard(aiohttp_client, database_url) -> None:
    client = await aiohttp_client(
        create_app(Settings(database_url=database_url, api_tokens=TOKENS))
    )
    for path in ("/ui/schedules", "/ui/schedules/nightly"):
        resp = await client.get(path)
        assert resp.status == 401, path
        assert resp.headers.getall("WWW-Authenticate") == ["Bearer", BASIC_CHALLENGE]
        resp = await client.get(path, headers=basic("anyone", TOKENS[0]))
        assert resp.status == (200 if path == "/ui/schedules" else 404), path
        assert resp.content_type == "text/html"


# -- a schedule's page -------------------------------------------------------------


async def test_a_schedule_page_shows_definition_upcoming_and_latest_tasks(
    client: TestClient,
) -> None:
    ids = await states(client)
    text = await page(client, "/ui/schedules/nightly")
    api = await call(client, "GET", "/schedules/nightly?preview=5", 200)
    assert "<h1>Schedule nightly" in text and 'id="paused"' not in text
    assert "<code>0 7 * * *</code>" in text and "Europe/Amsterdam" in text
    upcoming = re.search(r'<ol id="upcoming">(.*?)</ol>', text, re.S).group(1)
    assert page_times(upcoming) == [to_ms(parse_ts(t)) for t in api["upcoming"]]
    assert upcoming.count("07:00:00 CE") == 5
    recent = re.search(r'<table id="recent">(.*?)</table>', text, re.S).group(1)
    assert f"/ui/tasks/{ids['nightly']}" in links(recent)
    assert "status-completed" in recent
    assert 'id="fires">1 ' in text
    assert "/ui/schedules?queue=reports" in links(text)
    assert "/ui/tasks?queue=reports&name=report" in links(text)

    held = await page(client, "/ui/schedules/held")
    assert 'id="paused">paused<' in held
    assert "waiting for the new warehouse" in held
    assert "none while paused" in held
    over = await page(client, "/ui/schedules/over")
    assert "no slot is left" in over and "No task of this schedule is left" in over
    hourly = await page(client, "/ui/schedules/hourly")
    assert "every 3600 s (1.0 h)" in hourly
    api = await call(client, "GET", "/schedules/hourly?preview=5", 200)
    assert page_times(hourly) == [to_ms(parse_ts(t)) for t in api["upcoming"]]

    assert "No schedule is named nope" in await page(client, "/ui/schedules/nope", 404)


async def test_every_link_of_the_schedule_pages_answers(client: TestClient) -> None:
    await states(client)
    seen: set[str] = set()
    todo = ["/ui/schedules"]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        resp = await client.get(path)
        assert resp.status == 200, path
        if path.startswith("/ui/schedules"):
            todo.extend(h for h in links(await resp.text()) if h.startswith("/ui"))
    assert {f"/ui/schedules/{n}" for n in ("nightly", "hourly", "held", "over")} <= seen


# -- /metrics ----------------------------------------------------------------------


def schedule_series(samples: Samples, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: value for (metric, labels), value in samples.items() if metric == name}


def by_queue(samples: Samples, name: str) -> dict[str, float]:
    return {
        dict(labels)["queue"]: value
        for labels, value in schedule_series(samples, f"durable_queue_{name}").items()
    }


def totals_in_db(database_url: str) -> dict[str, tuple[int, ...]]:
    rows = query_all(
        database_url,
        "SELECT queue_name, sum(fires), sum(skipped), sum(missed), "
        "count(*) FILTER (WHERE NOT paused), count(*) FILTER (WHERE paused) "
        "FROM schedules GROUP BY queue_name",
    )
    return {queue: tuple(int(n) for n in numbers) for queue, *numbers in rows}


def assert_matches_the_database(samples: Samples, database_url: str) -> None:
    expected = totals_in_db(database_url)
    assert by_queue(samples, "schedule_fires_total") == {q: t[0] for q, t in expected.items()}
    assert by_queue(samples, "schedule_skipped_slots_total") == {
        q: t[1] for q, t in expected.items()
    }
    assert by_queue(samples, "schedule_missed_slots_total") == {
        q: t[2] for q, t in expected.items()
    }
    gauges = schedule_series(samples, "durable_queue_schedules")
    assert gauges == {
        **{(("queue", q), ("state", "active")): t[3] for q, t in expected.items()},
        **{(("queue", q), ("state", "paused")): t[4] for q, t in expected.items()},
    }


async def test_schedule_families_are_the_sums_per_queue(
    client: TestClient, app: web.Application, database_url: str
) -> None:
    app[METRICS].snapshot.max_age = 0  # every scrape reads the rows
    empty = await scrape(client)
    assert not by_queue(empty, "schedule_fires_total")
    assert not schedule_series(empty, "durable_queue_schedules")

    await states(client)  # "reports": 2 triggered (fires 1 each), held paused
    await make_queue(client, "mail")
    await make_schedule(client, "digest", queue="mail", note=EVIL)
    await make_schedule(client, "later", queue="mail", paused=True)
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        for name, skipped, missed in (("nightly", 2, 3), ("over", 0, 7), ("digest", 5, 11)):
            cur.execute(
                "UPDATE schedules SET fires = fires + 10, skipped = %s, missed = %s "
                "WHERE name = %s",
                (skipped, missed, name),
            )
    conn.close()

    samples = await scrape(client)
    assert_matches_the_database(samples, database_url)
    assert by_queue(samples, "schedule_fires_total") == {"reports": 22, "mail": 10}
    assert by_queue(samples, "schedule_skipped_slots_total") == {"reports": 2, "mail": 5}
    assert by_queue(samples, "schedule_missed_slots_total") == {"reports": 10, "mail": 11}
    gauges = schedule_series(samples, "durable_queue_schedules")
    assert gauges[(("queue", "reports"), ("state", "active"))] == 3
    assert gauges[(("queue", "reports"), ("state", "paused"))] == 1
    assert gauges[(("queue", "mail"), ("state", "paused"))] == 1

    # a trigger counts at once; a pause moves a schedule between the states
    await call(client, "POST", "/schedules/digest/trigger", 201)
    await call(client, "PATCH", "/schedules/nightly", 200, json={"paused": True})
    samples = await scrape(client)
    assert_matches_the_database(samples, database_url)
    assert by_queue(samples, "schedule_fires_total")["mail"] == 11
    assert gauges != schedule_series(samples, "durable_queue_schedules")

    # the totals are sums over the schedules that exist: a delete lowers them
    await call(client, "DELETE", "/schedules/digest", 204)
    await call(client, "DELETE", "/schedules/later", 204)
    samples = await scrape(client)
    assert_matches_the_database(samples, database_url)
    assert "mail" not in by_queue(samples, "schedule_fires_total")
    assert by_queue(samples, "schedule_fires_total")["reports"] == 22


async def test_the_lateness_histogram_hears_this_process(
    client: TestClient, app: web.Application
) -> None:
    """The monitoring registered its observer with the scheduler: an observation lands
    in its bucket, and a real fire of a 1-second schedule is timed."""
    name = "durable_queue_schedule_lateness_seconds"
    samples = await scrape(client)
    assert samples[(f"{name}_count", ())] == 0
    before = samples[(f"{name}_bucket", (("le", "0.005"),))]
    observers = app[SCHEDULER].lateness_observers
    assert app[METRICS].schedule_lateness.observe in observers
    for observe in observers:
        observe(0.003)
    samples = await scrape(client)
    assert samples[(f"{name}_bucket", (("le", "0.0025"),))] == 0
    assert samples[(f"{name}_bucket", (("le", "0.005"),))] == before + 1
    assert samples[(f"{name}_bucket", (("le", "60.0"),))] == 1
    assert samples[(f"{name}_count", ())] == 1

    await make_queue(client, "ticks")
    await make_schedule(client, "tick", queue="ticks", interval_seconds=1)

    async def timed() -> bool:
        return (await scrape(client))[(f"{name}_count", ())] >= 3

    await eventually(timed, deadline_seconds=20, interval=0.2, what="two timed fires")
    samples = await scrape(client)
    fired = samples[(f"{name}_count", ())] - 1
    tick = await call(client, "GET", "/schedules/tick", 200)
    assert 2 <= fired <= tick["fires"]  # (a fire may land between the scrape and the read)
    assert samples[(f"{name}_sum", ())] - 0.003 < fired * 10  # each within the grace


async def test_the_observer_is_removed_when_the_app_stops(aiohttp_client, settings) -> None:
    app = create_app(settings)
    client = await aiohttp_client(app)
    observers = app[SCHEDULER].lateness_observers
    observe = app[METRICS].schedule_lateness.observe
    assert observers.count(observe) == 1
    await client.close()
    assert observe not in observers


# -- the statements stay bounded ---------------------------------------------------

SCHEDULES_SEED = """
WITH t AS (SELECT id, created_at, row_number() OVER (ORDER BY id) AS n FROM tasks)
INSERT INTO schedules (name, queue_name, task_name, cron, paused, last_task_id,
                       last_scheduled_for, last_fired_at, fires)
SELECT 's-' || lpad(g::text, 5, '0'), CASE WHEN g % 100 = 0 THEN 'small' ELSE 'big' END,
       'bulk', '0 7 * * *', g % 7 = 0, t.id, t.created_at, t.created_at, 1
FROM generate_series(1, 5000) g
LEFT JOIN t ON t.n = g * 4;
UPDATE tasks t SET schedule_id = s.id, schedule_name = s.name, scheduled_for = t.created_at
FROM schedules s WHERE s.name = 's-00001' AND t.task_name = 'bulk'
  AND t.id IN (SELECT id FROM tasks ORDER BY id DESC LIMIT 3000);
ANALYZE;
"""


def statement_cases(q: Any) -> dict[str, Any]:
    return {
        "schedule totals": lambda c: list(q.monitoring_schedule_totals(c)),
        "its latest tasks": lambda c: list(
            q.monitoring_schedule_tasks(c, name="s-00001", limit=10)
        ),
    }


def test_the_schedule_statements_read_no_large_table_sequentially(database_url: str) -> None:
    """With 20,400 tasks and 5,000 schedules, 3,000 tasks of one: no sequential scan of
    a large table; a schedule's latest tasks come from the slot index, unsorted."""
    import aiosql

    q = aiosql.from_path(resource_dir("queries"), "psycopg2")
    seed = psycopg2.connect(database_url, cursor_factory=psycopg2.extras.RealDictCursor)
    try:
        seed.autocommit = True
        with seed.cursor() as cur:
            cur.execute(SEED)
            cur.execute(SCHEDULES_SEED)
    finally:
        seed.close()
    scheduled = "SELECT count(*) FROM tasks WHERE schedule_id IS NOT NULL"
    assert query_one(database_url, scheduled)[0] == 3000

    for case, run in statement_cases(q).items():
        conn = psycopg2.connect(database_url, cursor_factory=psycopg2.extras.RealDictCursor)
        try:
            result = run(conn)
            with conn.cursor() as cur:
                cur.execute(SCANS)
                scans = {row["relname"]: row["seq_scan"] for row in cur.fetchall()}
        finally:
            conn.rollback()
            conn.close()
        assert len(result) == {"schedule totals": 2, "its latest tasks": 10}[case], case
        assert not [t for t in LARGE_TABLES if scans.get(t)], (case, scans)

    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            given = {"name": "s-00001", "limit": 10}
            statement = cur.mogrify(q.monitoring_schedule_tasks.sql, given).decode()
            cur.execute(f"EXPLAIN (FORMAT JSON) {statement}")
            plan = json.dumps(cur.fetchone()[0])
    finally:
        conn.close()
    assert '"Index Name": "tasks_schedule_slot"' in plan, plan
    assert '"Index Name": "schedules_name_key"' in plan, plan
    assert '"Node Type": "Sort"' not in plan, plan
