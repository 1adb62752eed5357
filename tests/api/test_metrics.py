"""GET /metrics: parses as Prometheus text, and its numbers match the database after a
known sequence of operations; the counters are shared by every process on one database."""

from __future__ import annotations

import asyncio
import datetime as dt
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import aiopg
import pgserver
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from durable_queue.api.keys import LISTENER, MAINTENANCE
from durable_queue.app import create_app
from durable_queue.config import Settings
from durable_queue.migrate import apply_migrations
from durable_queue.monitoring.keys import SAMPLER
from durable_queue.resources import resource_dir
from tests.helpers import call, claim, eventually, make_queue, make_task

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(client: TestClient) -> Samples:
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    for family in text_string_to_metric_families(await resp.text()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def queue_value(samples: Samples, name: str, queue: str) -> float:
    return samples[(f"durable_queue_{name}", (("queue", queue),))]


async def db_value(database_url: str, sql: str, *args: Any) -> Any:
    async with aiopg.connect(database_url) as conn, conn.cursor() as cur:
        await cur.execute(sql, args)
        return (await cur.fetchone())[0]


async def known_sequence(client: TestClient, app: web.Application, database_url: str) -> None:
    """Queue a: 4 tasks (one completes, one fails and is retried, one is held, one is
    scheduled for later); queue b: one task whose claim expires; queue c: one due task."""
    for name in ("a", "b", "c"):
        await make_queue(client, name)
    await make_task(client, "a", task_name="first")
    await make_task(
        client,
        "a",
        task_name="second",
        max_attempts=2,
        retry_strategy={"kind": "fixed", "base_seconds": 3600},
    )
    await make_task(client, "a", task_name="third")
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    await make_task(client, "a", task_name="later", run_at=later)
    (first,) = await claim(client, "a")
    await call(client, "POST", f"/runs/{first['run_id']}/complete", 200, json={"result": 1})
    (second,) = await claim(client, "a")
    await call(client, "POST", f"/runs/{second['run_id']}/fail", 200, json={"error": "boom"})
    await claim(client, "a")  # "third" stays claimed

    await make_task(client, "b", task_name="lost")
    (lost,) = await claim(client, "b")
    async with aiopg.connect(database_url) as conn, conn.cursor() as cur:
        await cur.execute(
            "UPDATE runs SET claim_expires_at = now() - interval '1 second' WHERE id = %s",
            (lost["run_id"],),
        )
    report = await app[MAINTENANCE].sweep_once()
    assert report.expired_claims == 1

    await make_task(client, "c", task_name="waiting")
    await app[SAMPLER].sample_once(settle_seconds=0)


async def test_metrics_match_the_database(client: TestClient, app, database_url: str) -> None:
    await known_sequence(client, app, database_url)
    samples = await scrape(client)

    for queue in ("a", "b", "c"):
        stats = await call(client, "GET", f"/queues/{queue}/stats", 200)
        for metric, field in (
            ("pending_runs", "pending_runs"),
            ("scheduled_runs", "scheduled_runs"),
            ("claimed_runs", "claimed_runs"),
            ("sleeping_runs", "sleeping_runs"),
        ):
            assert queue_value(samples, metric, queue) == stats[field], (queue, metric)
        created = await db_value(
            database_url,
            "SELECT count(*) FROM tasks t JOIN queues q ON q.id = t.queue_id WHERE q.name = %s",
            queue,
        )
        assert queue_value(samples, "tasks_created_total", queue) == created
        retried = await db_value(
            database_url,
            "SELECT count(*) FROM runs r JOIN queues q ON q.id = r.queue_id "
            "WHERE q.name = %s AND r.attempt > 1",
            queue,
        )
        assert queue_value(samples, "runs_retried_total", queue) == retried

    # queue a: pending = the retry (an hour away) and "later"; one claimed; one of each outcome
    assert queue_value(samples, "pending_runs", "a") == 2
    assert queue_value(samples, "scheduled_runs", "a") == 2
    assert queue_value(samples, "claimed_runs", "a") == 1
    assert queue_value(samples, "oldest_pending_run_age_seconds", "a") == 0
    assert queue_value(samples, "tasks_created_total", "a") == 4
    assert queue_value(samples, "runs_completed_total", "a") == 1
    assert queue_value(samples, "runs_failed_total", "a") == 1
    assert queue_value(samples, "runs_retried_total", "a") == 1
    assert queue_value(samples, "runs_expired_total", "a") == 0
    # queue b: one expired claim, nothing failed by a worker
    assert queue_value(samples, "runs_expired_total", "b") == 1
    assert queue_value(samples, "runs_failed_total", "b") == 0
    assert queue_value(samples, "runs_completed_total", "b") == 0
    # queue c: one due pending run, so a lag
    assert queue_value(samples, "pending_runs", "c") == 1
    assert queue_value(samples, "oldest_pending_run_age_seconds", "c") > 0

    assert samples[("durable_queue_listener_connected", ())] == 1
    create_route = (
        ("method", "POST"),
        ("route", "/api/v1/queues/{queue_name}/tasks"),
        ("status", "201"),
    )
    assert samples[("durable_queue_http_request_duration_seconds_count", create_route)] == 6


async def test_unmatched_paths_share_one_label(client: TestClient) -> None:
    for path in ("/nope", "/nope/again", "/api/v1/nothing"):
        assert (await client.get(path)).status == 404
    for method in ("PROPFIND", "MKCOL"):  # methods no route declares share one label
        await client.request(method, "/nope")
    samples = await scrape(client)
    key = (("method", "GET"), ("route", "unmatched"), ("status", "404"))
    assert samples[("durable_queue_http_request_duration_seconds_count", key)] == 3
    methods = {dict(labels)["method"] for name, labels in samples if "http_request" in name}
    assert methods == {"GET", "OTHER"}


async def test_empty_database_has_only_process_metrics(client: TestClient) -> None:
    samples = await scrape(client)
    assert not [name for name, labels in samples if ("queue", "a") in labels]
    assert samples[("durable_queue_listener_connected", ())] == 1


async def test_counters_are_the_same_in_every_process(
    aiohttp_client, client: TestClient, app, database_url: str
) -> None:
    """A second server process on the same database (or this one after a restart) reports
    the same counters: they are totals kept in the database, not in memory."""
    await known_sequence(client, app, database_url)
    other = await aiohttp_client(create_app(Settings(database_url=database_url)))
    ours, theirs = await scrape(client), await scrape(other)
    counters = [key for key in ours if key[0].endswith("_total")]
    assert len(counters) == 15  # 5 counters x 3 queues
    assert {k: ours[k] for k in counters} == {k: theirs[k] for k in counters}


async def test_a_sample_counts_each_row_once(client: TestClient, app, database_url: str) -> None:
    await make_queue(client, "once")
    await make_task(client, "once")
    sampler = app[SAMPLER]
    assert await sampler.sample_once(settle_seconds=0) == 1
    await sampler.sample_once(settle_seconds=0)
    await make_task(client, "once")
    await sampler.sample_once(settle_seconds=0)
    assert queue_value(await scrape(client), "tasks_created_total", "once") == 2
    # whichever sample counted them (the background sampler may have taken one too)
    counted = await db_value(database_url, "SELECT sum(tasks_created) FROM queue_samples")
    assert counted == 2


# -- the monitoring statements stay off sequential scans of the large tables ---------

LARGE_TABLES = ("tasks", "runs", "checkpoints", "events", "event_waits")
SEED = """
WITH q AS (INSERT INTO queues (name) VALUES ('big'), ('small') RETURNING id, name),
new_tasks AS (
    INSERT INTO tasks (queue_id, task_name, status, created_at, completed_at)
    SELECT q.id, 'bulk', CASE WHEN g > 200 THEN 'completed' ELSE 'pending' END,
           now() - make_interval(secs => g), now() - make_interval(secs => g / 2)
    FROM q, generate_series(1, CASE WHEN q.name = 'big' THEN 20000 ELSE 400 END) g
    RETURNING id, queue_id, status, created_at
), new_runs AS (
    INSERT INTO runs (task_id, queue_id, attempt, status, available_at, created_at)
    SELECT id, queue_id, 1, status, created_at, created_at FROM new_tasks
    RETURNING id, task_id
)
INSERT INTO events (event_name, created_at)
SELECT 'event_' || mod(g, 50), now() - make_interval(secs => g)
FROM generate_series(1, 20000) g;
INSERT INTO event_waits (task_id, run_id, step_name, event_name, timeout_at)
SELECT task_id, id, 'wait', 'event_1', now() + interval '1 hour' FROM runs;
UPDATE tasks SET completed_at = NULL WHERE status = 'pending';
-- flow control on "small": limits (so dq_held_back reads its keys), a key on each
-- pending run, a quarter of them claimed under the limit
UPDATE queues SET max_concurrency = 1000, key_concurrency = 1, ordered = true
WHERE name = 'small';
UPDATE runs r
SET concurrency_key = 'key-' || mod(abs(hashtext(r.id::text)), 40),
    status = CASE WHEN mod(abs(hashtext(r.task_id::text)), 4) = 0 THEN 'claimed'
                  ELSE r.status END,
    limited = mod(abs(hashtext(r.task_id::text)), 4) = 0
FROM queues q
WHERE q.id = r.queue_id AND q.name = 'small' AND r.status = 'pending';
ANALYZE;
"""
SCANS = "SELECT relname, seq_scan FROM pg_stat_xact_user_tables"


def test_monitoring_statements_use_indexes(database_url: str) -> None:
    import aiosql
    import psycopg2
    import psycopg2.extras

    q = aiosql.from_path(resource_dir("queries"), "psycopg2")
    # seeded on a connection of its own: a backend's table counters of earlier
    # transactions can still be pending in pg_stat_xact_user_tables
    seed = psycopg2.connect(database_url, cursor_factory=psycopg2.extras.RealDictCursor)
    try:  # not `with seed:`, which wraps everything in one transaction (psycopg2 2.9)
        seed.autocommit = True
        with seed.cursor() as cur:
            cur.execute(SEED)
            cur.execute("SELECT id FROM tasks ORDER BY id DESC LIMIT 1")
            task_id = cur.fetchone()["id"]
        # counts the seeded rows: the measured sample below covers a steady-state window
        while not q.monitoring_sample(seed, settle_seconds=0, keep_seconds=86400)["caught_up"]:
            pass
        # the flow-control parts of the gauges have work to do on "small"
        small = {r["queue_name"]: r for r in q.monitoring_queues(seed, busiest_keys=10)}["small"]
        assert small["held_back"] > 0 and len(small["busiest_keys"]) == 10
    finally:
        seed.close()
    cases: dict[str, Callable[[Any], Any]] = {
        "gauges and totals": lambda c: list(q.monitoring_queues(c, busiest_keys=10)),
        "sample": lambda c: q.monitoring_sample(c, settle_seconds=0, keep_seconds=86400),
        "history": lambda c: list(q.monitoring_history(c, seconds=3600, bucket_seconds=30)),
        "task runs": lambda c: list(q.monitoring_task_runs(c, task_id=task_id)),
        "task waits": lambda c: list(q.monitoring_task_waits(c, task_id=task_id)),
        "latest events": lambda c: list(q.monitoring_latest_events(c, event_name=None, limit=50)),
        "latest events of a name": lambda c: list(
            q.monitoring_latest_events(c, event_name="event_7", limit=50)
        ),
    }
    for case, run in cases.items():
        # a connection per case: counters of a rolled-back transaction stay pending
        conn = psycopg2.connect(database_url, cursor_factory=psycopg2.extras.RealDictCursor)
        try:
            run(conn)
            with conn.cursor() as cur:
                cur.execute(SCANS)
                scans = {row["relname"]: row["seq_scan"] for row in cur.fetchall()}
        finally:
            conn.rollback()
            conn.close()
        assert not [t for t in LARGE_TABLES if scans.get(t)], (case, scans)


@pytest.fixture
def stoppable_postgres() -> Iterator[dict[str, Any]]:
    """A PostgreSQL of this test's own, which the test may stop and start again."""
    data_dir = tempfile.mkdtemp(prefix="durable-queue-metrics-")
    handle = {"server": pgserver.get_server(data_dir, cleanup_mode="stop"), "dir": data_dir}
    yield handle
    handle["server"].cleanup()


async def test_scrape_while_the_database_is_away(aiohttp_client, stoppable_postgres) -> None:
    """The process's own metrics stay scrapeable; per-queue numbers come back with it."""
    url = stoppable_postgres["server"].get_uri()
    await apply_migrations(url)
    client = await aiohttp_client(create_app(Settings(database_url=url)))
    await make_queue(client, "kept")
    assert queue_value(await scrape(client), "pending_runs", "kept") == 0

    stoppable_postgres["server"].cleanup()  # the database goes away

    async def database_down() -> Samples | None:
        samples = await scrape(client)
        return samples if samples[("durable_queue_database_up", ())] == 0 else None

    samples = await eventually(database_down, what="database_up 0")
    assert not [key for key in samples if ("queue", "kept") in key[1]]
    await eventually(lambda: client.app[LISTENER].connected is False, what="the listener to notice")
    assert (await scrape(client))[("durable_queue_listener_connected", ())] == 0

    stoppable_postgres["server"] = pgserver.get_server(
        stoppable_postgres["dir"], cleanup_mode="stop"
    )

    async def database_back() -> Samples | None:
        samples = await scrape(client)
        return samples if samples[("durable_queue_database_up", ())] == 1 else None

    samples = await eventually(database_back, deadline_seconds=30, what="database_up 1")
    assert queue_value(samples, "pending_runs", "kept") == 0


async def test_a_woken_long_poll_is_timed(client: TestClient, app) -> None:
    await make_queue(client, "wake")
    body = {"limit": 1, "claim_timeout": 60, "long_poll_seconds": 30}
    poll = asyncio.create_task(call(client, "POST", "/queues/wake/tasks/claim", 200, json=body))
    await eventually(lambda: app[LISTENER].waiters.idle_count() == 1, what="the poll to sleep")
    await make_task(client, "wake")
    assert len((await poll)["tasks"]) == 1
    assert (await scrape(client))[("durable_queue_claim_wake_seconds_count", ())] == 1
    await claim(client, "wake")  # a claim that never slept is not a wake
    assert (await scrape(client))[("durable_queue_claim_wake_seconds_count", ())] == 1
