"""Flow control in /metrics and on the dashboard: a queue's limit, pause and held-back
runs as gauges, its busiest keys as at most 10 series, and the queue page's settings,
in-flight against the limit and busiest keys; every number matches the database."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from markupsafe import escape

from durable_queue import commands
from durable_queue.api.keys import STORE
from tests.api.test_metrics import Samples, db_value, queue_value, scrape
from tests.api.test_ui import links, page
from tests.helpers import call, claim, make_queue, query_all

EVIL_KEY = '<b>"k"</b>'


async def set_flow(app: web.Application, queue: str, **flow: Any) -> None:
    patch = commands.QueuePatch(given=frozenset(flow), flow=commands.QueueFlow(**flow))
    await app[STORE].update_queue(queue, patch)


async def add_tasks(app: web.Application, queue: str, *keys: str | None) -> None:
    """One task per key given (None: a task without a key), created in that order."""
    await app[STORE].create_tasks(
        queue, [commands.NewTask("work", concurrency_key=key) for key in keys]
    )


def claimed_by_key(database_url: str, queue: str) -> dict[str, int]:
    rows = query_all(
        database_url,
        "SELECT r.concurrency_key, count(*) FROM runs r JOIN queues q ON q.id = r.queue_id "
        "WHERE q.name = %s AND r.status = 'claimed' AND r.concurrency_key IS NOT NULL "
        "GROUP BY 1",
        (queue,),
    )
    return dict(rows)


def key_series(samples: Samples, queue: str) -> dict[str, float]:
    return {
        dict(labels)["key"]: value
        for (name, labels), value in samples.items()
        if name == "durable_queue_key_claimed_runs" and dict(labels)["queue"] == queue
    }


async def limited(client: TestClient, app: web.Application) -> None:
    """Queue "flow": at most 5 claimed, 2 per key; 9 tasks over keys a, b, c and none,
    claimed 10 at a time: 5 claimed, the other 4 held back by the queue's limit.
    Queue "keyed": 1 per key; a has 3, b 1: a and b claimed once, a's other 2 held back.
    Queue "stopped": paused with 2 due tasks, both held back.
    Queue "plain": no limit, one claimed and one pending task without a key."""
    for name in ("flow", "keyed", "stopped", "plain"):
        await make_queue(client, name)
    await set_flow(app, "flow", max_concurrency=5, key_concurrency=2)
    await add_tasks(app, "flow", "a", "a", "a", "b", "b", "b", "c", None, None)
    assert len(await claim(client, "flow", limit=10)) == 5
    await set_flow(app, "keyed", key_concurrency=1)
    await add_tasks(app, "keyed", "a", "a", "a", "b")
    assert len(await claim(client, "keyed", limit=10)) == 2
    await add_tasks(app, "stopped", None, "x")
    await set_flow(app, "stopped", paused=True)
    await add_tasks(app, "plain", None, None)
    assert len(await claim(client, "plain")) == 1


async def test_flow_gauges_match_the_database(
    client: TestClient, app: web.Application, database_url: str
) -> None:
    await limited(client, app)
    samples = await scrape(client)

    expected = {  # queue: (claimed, held back, max_concurrency, paused)
        "flow": (5, 4, 5, 0),
        "keyed": (2, 2, None, 0),
        "stopped": (0, 2, None, 1),
        "plain": (1, 0, None, 0),
    }
    for queue, (claimed, held_back, limit, paused) in expected.items():
        stats = await call(client, "GET", f"/queues/{queue}/stats", 200)
        assert queue_value(samples, "claimed_runs", queue) == claimed == stats["claimed_runs"]
        held = await db_value(
            database_url, "SELECT dq_held_back(id, NULL) FROM queues WHERE name = %s", queue
        )
        assert queue_value(samples, "held_back_runs", queue) == held_back == held, queue
        assert queue_value(samples, "paused", queue) == paused, queue
        if limit is None:
            assert ("durable_queue_max_concurrency", (("queue", queue),)) not in samples
        else:
            assert queue_value(samples, "max_concurrency", queue) == limit
        assert key_series(samples, queue) == claimed_by_key(database_url, queue), queue

    flow_keys = key_series(samples, "flow")
    assert sum(flow_keys.values()) <= 5 and all(n <= 2 for n in flow_keys.values())
    assert key_series(samples, "keyed") == {"a": 1, "b": 1}
    assert key_series(samples, "stopped") == key_series(samples, "plain") == {}


async def test_key_series_are_the_ten_busiest_per_queue(
    client: TestClient, app: web.Application
) -> None:
    """15 keys with claimed runs in each of two queues: 10 series per queue, the keys
    with the most claimed runs, ties by key; a key with only pending runs has none."""
    for queue in ("many", "more"):
        await make_queue(client, queue)
        keys = [f"k{i:02}" for i in range(15)]
        await add_tasks(app, queue, *keys, "k14", "k13", "k12", "k11", "k10")
        assert len(await claim(client, queue, limit=25)) == 20
        await add_tasks(app, queue, "only-pending", "only-pending")
    samples = await scrape(client)
    for queue in ("many", "more"):
        series = key_series(samples, queue)
        assert len(series) == 10
        assert series == {
            **{f"k{i}": 2 for i in range(10, 15)},
            **{f"k{i:02}": 1 for i in range(5)},
        }
    assert len([name for name, _ in samples if name == "durable_queue_key_claimed_runs"]) == 20


async def test_an_escaped_key_label_parses(client: TestClient, app: web.Application) -> None:
    await make_queue(client, "evil")
    await add_tasks(app, "evil", EVIL_KEY, "back\\slash\nnewline")
    await claim(client, "evil", limit=2)
    series = key_series(await scrape(client), "evil")
    assert series == {EVIL_KEY: 1, "back\\slash\nnewline": 1}


async def test_the_queue_page_shows_limits_in_flight_and_busiest_keys(
    client: TestClient, app: web.Application, database_url: str
) -> None:
    await limited(client, app)
    await set_flow(
        app,
        "flow",
        max_concurrency=5,
        key_concurrency=2,
        rate_limit=commands.RateLimit(50, 1.0),
        key_rate_limit=commands.RateLimit(10, 60.0),
    )
    await app[STORE].put_key_override("flow", "c", commands.KeyOverride(max_concurrency=7))
    text = await page(client, "/ui/queues/flow")
    assert re.search(r'id="in-flight">5 / 5 <meter min="0" max="5" value="5">', text)
    assert 'id="held-back">4 ' in text
    assert 'id="max-concurrency">5<' in text
    assert 'id="key-concurrency">2<' in text
    assert 'id="rate-limit">50 per 1 s<' in text
    assert 'id="key-rate-limit">10 per 60 s<' in text
    assert 'id="paused"' not in text
    rows = dict(re.findall(r'<tr data-key="([^"]*)">(.*?)</tr>', text, re.S))
    in_db = claimed_by_key(database_url, "flow")
    pending = dict(
        query_all(
            database_url,
            "SELECT r.concurrency_key, count(*) FROM runs r JOIN queues q ON q.id = r.queue_id "
            "WHERE q.name = 'flow' AND r.status = 'pending' AND r.concurrency_key IS NOT NULL "
            "GROUP BY 1",
        )
    )
    assert set(rows) == {"a", "b", "c"}
    for key, row in rows.items():
        limit = 7 if key == "c" else 2
        assert f'"num in-flight">{in_db.get(key, 0)} / {limit}<' in row, (key, row)
        assert f'<td class="num">{pending.get(key, 0)}</td>' in row, (key, row)
        assert ("<td>yes</td>" in row) == (key == "c")
    assert "/ui/tasks?queue=flow" in links(text)

    stopped = await page(client, "/ui/queues/stopped")
    assert 'id="paused">paused</span>' in stopped
    assert 'id="held-back">2 ' in stopped
    assert 'id="in-flight">0 <span class="muted">(no limit)' in stopped
    plain = await page(client, "/ui/queues/plain")
    assert "No concurrency key has runs in flight" in plain
    assert 'id="max-concurrency">no limit<' in plain and 'id="rate-limit">none<' in plain


async def test_the_overview_shows_limits_and_links_to_the_queue_page(
    client: TestClient, app: web.Application
) -> None:
    await limited(client, app)
    overview = await page(client, "/ui")
    row = re.search(r'<tr data-queue="flow">.*?</tr>', overview, re.S).group(0)
    assert '<td class="num">5 / 5</td>' in row
    assert '<td class="num">4</td>' in row  # held back
    assert "/ui/queues/flow" in links(row)
    stopped = re.search(r'<tr data-queue="stopped">.*?</tr>', overview, re.S).group(0)
    assert "status-paused" in stopped and "status-paused" not in row


async def test_the_queue_page_escapes_keys_and_404s_unknown_queues(
    client: TestClient, app: web.Application
) -> None:
    await make_queue(client, "evil")
    await add_tasks(app, "evil", EVIL_KEY)
    await claim(client, "evil")
    text = await page(client, "/ui/queues/evil")
    assert "<b>" not in text
    assert str(escape(EVIL_KEY)) in text
    assert "No queue is named nope" in await page(client, "/ui/queues/nope", 404)


async def test_at_most_ten_keys_on_the_queue_page(client: TestClient, app: web.Application) -> None:
    await make_queue(client, "wide")
    await add_tasks(app, "wide", *[f"key-{i:02}" for i in range(25)], "key-20", "key-24")
    assert len(await claim(client, "wide", limit=30)) == 27
    text = await page(client, "/ui/queues/wide")
    shown = re.findall(r'<tr data-key="([^"]*)">', text)
    assert shown == ["key-20", "key-24", *[f"key-{i:02}" for i in range(8)]]
    assert "GET /api/v1/queues/wide/keys" in text
