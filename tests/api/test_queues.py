"""Queue endpoints: shapes, defaults, conflicts, stats."""

from __future__ import annotations

import pytest

from durable_queue import store as store_module
from tests.helpers import call, claim, error, is_timestamp, make_queue, make_task


async def test_create_queue_returns_summary_with_default_cleanup(client):
    body = await make_queue(client, "emails")
    assert set(body) == {
        "name", "created_at", "cleanup", "max_concurrency", "key_concurrency", "rate_limit",
        "key_rate_limit", "paused",
    }  # fmt: skip
    assert body["paused"] is False and body["max_concurrency"] is None
    assert body["name"] == "emails"
    assert is_timestamp(body["created_at"])
    assert body["cleanup"] == {"task_ttl_seconds": 259200, "event_ttl_seconds": 259200}


async def test_create_queue_stores_cleanup_policy(client):
    body = await make_queue(
        client, "a.b-c_d", cleanup={"task_ttl_seconds": 0, "event_ttl_seconds": 60}
    )
    assert body["cleanup"] == {"task_ttl_seconds": 0, "event_ttl_seconds": 60}
    listed = await call(client, "GET", "/queues", 200)
    assert listed == {"queues": [body]}


async def test_duplicate_queue_is_conflict(client):
    await make_queue(client, "dup")
    message = await error(client, "POST", "/queues", 409, "CONFLICT", json={"name": "dup"})
    assert "dup" in message


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name is required"),
        ({"name": ""}, "name"),
        ({"name": "has space"}, "name"),
        ({"name": "x" * 129}, "name"),
        ({"name": "ünïcode"}, "name"),
        ({"name": 5}, "name must be a string"),
        ({"name": "ok", "cleanup": {"task_ttl_seconds": -1}}, "cleanup.task_ttl_seconds"),
        ({"name": "ok", "cleanup": {"event_ttl_seconds": -5}}, "cleanup.event_ttl_seconds"),
        ({"name": "ok", "cleanup": {"task_ttl_seconds": "10"}}, "cleanup.task_ttl_seconds"),
        ({"name": "ok", "cleanup": "weekly"}, "cleanup"),
    ],
)
async def test_create_queue_validation(client, body, field):
    message = await error(client, "POST", "/queues", 400, "VALIDATION_ERROR", json=body)
    assert message.startswith(field), message
    assert await call(client, "GET", "/queues", 200) == {"queues": []}


async def test_queue_name_of_128_characters_is_accepted(client):
    await make_queue(client, "x" * 128)


async def test_list_queues_empty(client):
    assert await call(client, "GET", "/queues", 200) == {"queues": []}


async def test_delete_queue(client):
    await make_queue(client, "gone")
    assert await call(client, "DELETE", "/queues/gone", 204) is None
    assert await call(client, "GET", "/queues", 200) == {"queues": []}
    await error(client, "DELETE", "/queues/gone", 404, "NOT_FOUND")


async def test_delete_queue_with_unfinished_tasks_is_conflict(client):
    await make_queue(client, "busy")
    await make_task(client, "busy")
    await error(client, "DELETE", "/queues/busy", 409, "CONFLICT")
    tasks = await call(client, "GET", "/tasks", 200)
    assert len(tasks["tasks"]) == 1


async def test_delete_queue_after_tasks_finish(client):
    await make_queue(client, "done")
    await make_task(client, "done")
    [task] = await claim(client, "done")
    await call(client, "POST", f"/runs/{task['run_id']}/complete", 200)
    await call(client, "DELETE", "/queues/done", 204)
    assert (await call(client, "GET", "/tasks", 200))["tasks"] == []


async def test_delete_queue_force(client):
    await make_queue(client, "busy")
    await make_task(client, "busy")
    await call(client, "DELETE", "/queues/busy", 204, params={"force": "true"})
    assert (await call(client, "GET", "/tasks", 200))["tasks"] == []


async def test_force_delete_in_batches_frees_the_name_and_spares_other_queues(client, monkeypatch):
    monkeypatch.setattr(store_module, "QUEUE_DELETE_BATCH", 2)
    await make_queue(client, "busy")
    await make_queue(client, "kept")
    for _ in range(5):
        await make_task(client, "busy")
    await make_task(client, "kept")
    [held] = await claim(client, "busy")
    await call(client, "DELETE", "/queues/busy", 204, params={"force": "true"})
    await error(client, "GET", "/queues/busy/stats", 404, "NOT_FOUND")
    await error(client, "POST", f"/runs/{held['run_id']}/complete", 404, "NOT_FOUND")
    assert [q["name"] for q in (await call(client, "GET", "/queues", 200))["queues"]] == ["kept"]
    await make_queue(client, "busy")  # the name is free again
    assert (await call(client, "GET", "/queues/busy/stats", 200))["tasks_by_status"] == {}
    tasks = (await call(client, "GET", "/tasks", 200))["tasks"]
    assert [t["queue_name"] for t in tasks] == ["kept"]


async def test_list_tasks_of_an_unknown_queue_is_empty(client):
    await make_queue(client, "q")
    await make_task(client, "q")
    assert (await call(client, "GET", "/tasks", 200, params={"queue_name": "nope"}))["tasks"] == []


async def test_delete_queue_invalid_name_is_400(client):
    await error(client, "DELETE", "/queues/bad%20name", 400, "VALIDATION_ERROR")


async def test_stats_of_empty_queue(client):
    await make_queue(client, "s")
    stats = await call(client, "GET", "/queues/s/stats", 200)
    assert stats["queue_name"] == "s"
    for key in (
        "pending_runs",
        "claimed_runs",
        "completed_runs",
        "failed_runs",
        "sleeping_runs",
        "scheduled_runs",
    ):
        assert stats[key] == 0, key
    assert "oldest_pending_run_age_seconds" in stats
    assert stats["oldest_pending_run_age_seconds"] is None
    assert stats["tasks_by_status"] == {}


async def test_stats_count_runs_by_status(client):
    await make_queue(client, "s")
    for _ in range(4):
        await make_task(client, "s")
    await make_task(client, "s", run_at="2999-01-01T00:00:00Z")
    claimed = await claim(client, "s", limit=2)
    await call(client, "POST", f"/runs/{claimed[0]['run_id']}/complete", 200)
    stats = await call(client, "GET", "/queues/s/stats", 200)
    assert stats["pending_runs"] == 3  # two due and one scheduled, as the original counted
    assert stats["scheduled_runs"] == 1
    assert stats["claimed_runs"] == 1
    assert stats["completed_runs"] == 1
    assert isinstance(stats["oldest_pending_run_age_seconds"], float)
    assert stats["oldest_pending_run_age_seconds"] >= 0
    assert stats["tasks_by_status"] == {"pending": 4, "completed": 1}


async def test_stats_of_unknown_queue_is_404(client):
    await error(client, "GET", "/queues/nope/stats", 404, "NOT_FOUND")
