"""Time-driven lifecycle: claim expiry, heartbeats, cancellation, timeouts, retention, fencing."""

from __future__ import annotations

import uuid

import pytest

from durable_queue.api.keys import MAINTENANCE
from durable_queue.app import create_app
from durable_queue.config import Settings
from tests.helpers import (
    call,
    claim,
    error,
    eventually,
    is_timestamp,
    make_queue,
    make_task,
    query_one,
)


@pytest.fixture
async def queue(client):
    return await make_queue(client, "q")


def sweeper(client):
    return client.server.app[MAINTENANCE]


async def sweep_until(client, check, deadline_seconds=20.0):
    """Run maintenance passes until `check()` holds (no fixed sleeps)."""

    async def step():
        await sweeper(client).sweep_once()
        return await check()

    return await eventually(step, deadline_seconds=deadline_seconds)


async def run_status(client, run_id):
    body = await call(client, "GET", "/runs", 200, params={"limit": "1000"})
    return next(r for r in body["runs"] if r["id"] == run_id)


async def get_task(client, task_id):
    return await call(client, "GET", f"/tasks/{task_id}", 200)


async def test_claim_expiry_retries_and_fences_the_old_holder(client, queue):
    created = await make_task(client)
    [old] = await claim(client, claim_timeout=1)
    await call(
        client,
        "PUT",
        f"/tasks/{old['task_id']}/checkpoints/s",
        200,
        json={"state": 1, "owner_run": old["run_id"]},
    )

    async def expired():
        return (await run_status(client, old["run_id"]))["status"] == "failed"

    await sweep_until(client, expired)
    expired_run = await run_status(client, old["run_id"])
    assert expired_run["error"] == "claim expired"
    [new] = await claim(client)
    assert new["task_id"] == created["task_id"] and new["attempt"] == 2
    await error(client, "POST", f"/runs/{old['run_id']}/complete", 409, "CONFLICT")
    await error(
        client,
        "PUT",
        f"/tasks/{old['task_id']}/checkpoints/s",
        409,
        "CONFLICT",
        json={"state": 2, "owner_run": old["run_id"]},
    )
    await error(
        client, "POST", f"/runs/{old['run_id']}/heartbeat", 409, "CONFLICT", json={"extend_by": 60}
    )
    await error(
        client, "POST", f"/runs/{old['run_id']}/fail", 409, "CONFLICT", json={"error": "late"}
    )
    await error(
        client,
        "POST",
        f"/runs/{old['run_id']}/schedule",
        409,
        "CONFLICT",
        json={"run_at": "2030-01-01T00:00:00Z"},
    )
    wait = {"event_name": "e", "timeout_seconds": 5, "task_id": old["task_id"], "step_name": "w"}
    await error(client, "POST", f"/runs/{old['run_id']}/wait-for-event", 409, "CONFLICT", json=wait)
    assert (await call(client, "GET", f"/tasks/{old['task_id']}/checkpoints/s", 200))["state"] == 1
    await call(client, "POST", f"/runs/{new['run_id']}/complete", 200)
    assert (await get_task(client, created["task_id"]))["status"] == "completed"


async def test_claim_expiries_do_not_spend_max_attempts(client, queue):
    created = await make_task(client, max_attempts=1)
    [first] = await claim(client, claim_timeout=1)

    async def retried():
        return (await run_status(client, first["run_id"]))["status"] == "failed"

    await sweep_until(client, retried)
    [second] = await claim(client)
    assert second["attempt"] == 2
    assert (await get_task(client, created["task_id"]))["status"] == "pending"


async def test_poison_task_fails_after_max_claim_expiries(aiohttp_client, database_url):
    client = await aiohttp_client(
        create_app(Settings(database_url=database_url, max_claim_expiries=2))
    )
    await make_queue(client, "q")
    created = await make_task(client)
    [first] = await claim(client, claim_timeout=1)

    async def first_expired():
        return (await run_status(client, first["run_id"]))["status"] == "failed"

    await sweep_until(client, first_expired)
    [second] = await claim(client, claim_timeout=1)
    assert second["attempt"] == 2

    async def task_failed():
        return (await get_task(client, created["task_id"]))["status"] == "failed"

    await sweep_until(client, task_failed)
    detail = await get_task(client, created["task_id"])
    assert detail["error"] == "claim expired"
    assert [(r["attempt"], r["status"]) for r in detail["runs"]] == [(1, "failed"), (2, "failed")]
    assert await claim(client) == []


async def test_heartbeat_keeps_a_claim_alive(client, queue, database_url):
    await make_task(client)
    [task] = await claim(client, claim_timeout=1)
    body = await call(
        client, "POST", f"/runs/{task['run_id']}/heartbeat", 200, json={"extend_by": 300}
    )
    assert set(body) == {"run_id", "claim_expires_at"} and body["run_id"] == task["run_id"]
    assert body["claim_expires_at"] > task["claim_expires_at"]

    # once the database clock is past the original expiry, a sweep leaves the run claimed
    await eventually(lambda: db_clock_past(database_url, task["claim_expires_at"]))
    await sweeper(client).sweep_once()
    assert (await run_status(client, task["run_id"]))["status"] == "claimed"
    await call(client, "POST", f"/runs/{task['run_id']}/complete", 200)


async def test_heartbeat_validation_and_errors(client, queue):
    created = await make_task(client)
    path = f"/runs/{created['run_id']}/heartbeat"
    await error(client, "POST", path, 400, "VALIDATION_ERROR", json={})
    await error(client, "POST", path, 400, "VALIDATION_ERROR", json={"extend_by": 0})
    await error(
        client, "POST", path, 409, "CONFLICT", json={"extend_by": 5}
    )  # pending, not claimed
    await error(
        client, "POST", f"/runs/{uuid.uuid4()}/heartbeat", 404, "NOT_FOUND", json={"extend_by": 5}
    )
    await error(
        client, "POST", "/runs/nope/heartbeat", 400, "VALIDATION_ERROR", json={"extend_by": 5}
    )


async def test_cancel_makes_task_unclaimable_and_fences_holder(client, queue):
    held = await make_task(client)
    waiting = await make_task(client)
    [task] = await claim(client)
    assert task["task_id"] == held["task_id"]
    body = await call(client, "POST", f"/tasks/{held['task_id']}/cancel", 200)
    assert body == {"task_id": held["task_id"], "status": "canceled"}
    await call(client, "POST", f"/tasks/{waiting['task_id']}/cancel", 200)
    assert await claim(client) == []
    await error(client, "POST", f"/runs/{task['run_id']}/complete", 409, "CONFLICT")
    await error(
        client, "POST", f"/runs/{task['run_id']}/fail", 409, "CONFLICT", json={"error": "x"}
    )
    await error(
        client, "POST", f"/runs/{task['run_id']}/heartbeat", 409, "CONFLICT", json={"extend_by": 5}
    )
    await error(client, "POST", f"/tasks/{held['task_id']}/cancel", 409, "CONFLICT")
    detail = await get_task(client, held["task_id"])
    assert detail["status"] == "canceled" and detail["error"] == "canceled"
    assert [r["status"] for r in detail["runs"]] == ["canceled"]
    await error(client, "POST", f"/tasks/{uuid.uuid4()}/cancel", 404, "NOT_FOUND")
    await error(client, "POST", "/tasks/x/cancel", 400, "VALIDATION_ERROR")


async def test_start_timeout_cancels_a_never_claimed_task(client, queue):
    created = await make_task(client, start_timeout=1)
    claimed_in_time = await make_task(client, start_timeout=1)
    await call(
        client,
        "POST",
        f"/runs/{created['run_id']}/schedule",
        200,
        json={"run_at": "2999-01-01T00:00:00Z"},
    )
    [task] = await claim(client)
    assert task["task_id"] == claimed_in_time["task_id"]

    async def canceled():
        return (await get_task(client, created["task_id"]))["status"] == "canceled"

    await sweep_until(client, canceled)
    assert (await get_task(client, created["task_id"]))["error"] == "start timeout"
    assert (await get_task(client, claimed_in_time["task_id"]))["status"] == "pending"


async def test_execution_timeout_cancels_and_fences(client, queue):
    created = await make_task(client, execution_timeout=1)
    [task] = await claim(client, claim_timeout=600)

    async def canceled():
        return (await get_task(client, created["task_id"]))["status"] == "canceled"

    await sweep_until(client, canceled)
    detail = await get_task(client, created["task_id"])
    assert detail["error"] == "execution timeout"
    assert detail["runs"][0]["status"] == "canceled"
    await error(client, "POST", f"/runs/{task['run_id']}/complete", 409, "CONFLICT")


async def test_wait_timeout_answers_408_on_the_next_ask(client, queue):
    await make_task(client)
    [task] = await claim(client)
    body = {
        "event_name": "never",
        "timeout_seconds": 1,
        "task_id": task["task_id"],
        "step_name": "s",
    }
    await call(client, "POST", f"/runs/{task['run_id']}/wait-for-event", 202, json=body)

    async def claimable_again():
        return await claim(client)

    [again] = await sweep_until(client, claimable_again)
    assert again["run_id"] == task["run_id"]
    timeout = await call(client, "POST", f"/runs/{task['run_id']}/wait-for-event", 408, json=body)
    assert timeout["status"] == "timeout" and timeout["code"] == "WAIT_TIMEOUT"
    assert timeout["message"] and timeout["error"]
    # a later emit does not change the answer: the step timed out
    await call(client, "POST", "/events", 201, json={"event_name": "never"})
    await call(client, "POST", f"/runs/{task['run_id']}/wait-for-event", 408, json=body)


async def db_clock_past(dsn, timestamp, plus_seconds=0):
    """Whether the database's clock has passed `timestamp` + plus_seconds (test-only inspection)."""
    sql = "SELECT now() > %s::timestamptz + make_interval(secs => %s)"
    return query_one(dsn, sql, (timestamp, plus_seconds))[0]


def count_rows(dsn, sql_table):
    return query_one(dsn, f"SELECT count(*) FROM {sql_table}")[0]  # test-only inspection


async def test_retention_deletes_after_the_ttl_and_not_before(client, database_url):
    await make_queue(client, "short", cleanup={"task_ttl_seconds": 1, "event_ttl_seconds": 1})
    await make_queue(client, "keep", cleanup={"task_ttl_seconds": 0, "event_ttl_seconds": 1})
    short = await make_task(client, "short")
    kept = await make_task(client, "keep")
    unfinished = await make_task(client, "short")
    for queue_name in ("short", "keep"):
        [task] = await claim(client, queue_name)
        await call(
            client,
            "PUT",
            f"/tasks/{task['task_id']}/checkpoints/s",
            200,
            json={"state": 1, "owner_run": task["run_id"]},
        )
        await call(client, "POST", f"/runs/{task['run_id']}/complete", 200)
    await call(client, "POST", "/events", 201, json={"event_name": "old"})

    report = await sweeper(client).sweep_once()
    assert report.deleted_tasks == 0 and report.deleted_events == 0  # not before the TTL
    await get_task(client, short["task_id"])

    async def deleted():
        resp = await client.get(f"/api/v1/tasks/{short['task_id']}")
        return resp.status == 404 and count_rows(database_url, "events") == 0

    await sweep_until(client, deleted)
    await get_task(client, kept["task_id"])  # task_ttl_seconds 0 keeps it
    assert (await get_task(client, unfinished["task_id"]))["status"] == "pending"
    assert count_rows(database_url, "checkpoints") == 1  # only the kept task's
    assert count_rows(database_url, "runs") == 2


async def test_events_are_kept_while_any_queue_keeps_them(client, database_url):
    await make_queue(client, "a", cleanup={"event_ttl_seconds": 1})
    await make_queue(client, "b", cleanup={"event_ttl_seconds": 0})
    event = await call(client, "POST", "/events", 201, json={"event_name": "e"})
    await eventually(lambda: db_clock_past(database_url, event["created_at"], plus_seconds=1))
    await sweeper(client).sweep_once()
    assert count_rows(database_url, "events") == 1


async def test_task_detail_shape(client, queue):
    wf = await call(client, "POST", "/workflow-runs", 201, json={"workflow_name": "wf"})
    created = await make_task(
        client,
        task_name="t",
        params={"a": 1},
        headers={"h": "v"},
        max_attempts=2,
        retry_strategy={"kind": "fixed", "base_seconds": 0},
        idempotency_key="k1",
        workflow_run_id=wf["workflow_run_id"],
        start_timeout=100,
        execution_timeout=200,
    )
    [task] = await claim(client)
    await call(
        client,
        "PUT",
        f"/tasks/{task['task_id']}/checkpoints/b",
        200,
        json={"state": 2, "owner_run": task["run_id"]},
    )
    await call(
        client,
        "PUT",
        f"/tasks/{task['task_id']}/checkpoints/a",
        200,
        json={"state": 1, "owner_run": task["run_id"]},
    )
    await call(client, "POST", f"/runs/{task['run_id']}/fail", 200, json={"error": "first"})
    [retry] = await claim(client)
    await call(
        client, "POST", f"/runs/{retry['run_id']}/complete", 200, json={"result": {"ok": True}}
    )
    detail = await get_task(client, created["task_id"])
    assert detail["id"] == created["task_id"] and detail["queue_name"] == "q"
    assert detail["status"] == "completed" and is_timestamp(detail["completed_at"])
    assert detail["params"] == {"a": 1} and detail["headers"] == {"h": "v"}
    assert detail["retry_strategy"] == {"kind": "fixed", "base_seconds": 0}
    assert (detail["start_timeout"], detail["execution_timeout"]) == (100, 200)
    assert detail["workflow_run_id"] == wf["workflow_run_id"] and detail["idempotency_key"] == "k1"
    assert "error" not in detail and detail["result"] == {"ok": True}  # never given: omitted
    assert [(r["attempt"], r["status"]) for r in detail["runs"]] == [
        (1, "failed"),
        (2, "completed"),
    ]
    assert detail["checkpoints"] == ["a", "b"]
    listed = await call(client, "GET", f"/tasks/{created['task_id']}/checkpoints", 200)
    assert [(c["step_name"], c["state"]) for c in listed["checkpoints"]] == [("a", 1), ("b", 2)]
    await error(client, "GET", f"/tasks/{uuid.uuid4()}", 404, "NOT_FOUND")
    await error(client, "GET", "/tasks/nope", 400, "VALIDATION_ERROR")
    await error(client, "GET", f"/tasks/{uuid.uuid4()}/checkpoints", 404, "NOT_FOUND")


async def test_run_at_delays_the_first_run(client, queue):
    created = await make_task(client, run_at="2999-01-01T00:00:00Z")
    assert await claim(client) == []
    stats = await call(client, "GET", "/queues/q/stats", 200)
    assert stats["scheduled_runs"] == 1 and stats["oldest_pending_run_age_seconds"] is None
    await call(
        client,
        "POST",
        f"/runs/{created['run_id']}/schedule",
        200,
        json={"run_at": "2000-01-01T00:00:00Z"},
    )
    assert len(await claim(client)) == 1


async def test_idempotency_key_returns_first_task(client, queue):
    first = await make_task(client, idempotency_key="order-1")
    again = await call(
        client,
        "POST",
        "/queues/q/tasks",
        200,
        json={"task_name": "other", "idempotency_key": "order-1"},
    )
    assert again == first
    await make_queue(client, "q2")
    elsewhere = await make_task(client, "q2", idempotency_key="order-1")
    assert elsewhere["task_id"] != first["task_id"]


async def test_workflow_run_detail_and_listing(client, queue):
    a = await call(
        client,
        "POST",
        "/workflow-runs",
        201,
        json={"workflow_name": "a", "inputs": {"x": 1}, "tags": {"t": "1"}},
    )
    b = await call(client, "POST", "/workflow-runs", 201, json={"workflow_name": "b"})
    t1 = await make_task(client, workflow_run_id=a["workflow_run_id"])
    t2 = await make_task(client, workflow_run_id=a["workflow_run_id"])
    [task] = await claim(client)
    await call(client, "POST", f"/runs/{task['run_id']}/complete", 200)
    detail = await call(client, "GET", f"/workflow-runs/{a['workflow_run_id']}", 200)
    assert detail["workflow_run_id"] == detail["id"] == a["workflow_run_id"]
    assert detail["workflow_name"] == "a"
    assert detail["inputs"] == {"x": 1} and detail["tags"] == {"t": "1"}
    assert (
        detail["status"] == "pending" and detail["result"] is None and detail["started_at"] is None
    )
    assert {t["id"] for t in detail["tasks"]} == {t1["task_id"], t2["task_id"]}
    assert detail["task_counts"] == {"completed": 1, "pending": 1}
    listed = await call(client, "GET", "/workflow-runs", 200)
    assert [w["id"] for w in listed["workflow_runs"]] == [
        b["workflow_run_id"],
        a["workflow_run_id"],
    ]
    page = await call(client, "GET", "/workflow-runs", 200, params={"limit": "1"})
    assert [w["id"] for w in page["workflow_runs"]] == [b["workflow_run_id"]]
    rest = await call(client, "GET", "/workflow-runs", 200, params={"cursor": page["next_cursor"]})
    assert [w["id"] for w in rest["workflow_runs"]] == [
        a["workflow_run_id"]
    ] and "next_cursor" not in rest
    named = await call(client, "GET", "/workflow-runs", 200, params={"workflow_name": "a"})
    assert [w["id"] for w in named["workflow_runs"]] == [a["workflow_run_id"]]
    await error(client, "GET", "/workflow-runs", 400, "VALIDATION_ERROR", params={"status": "done"})
    await error(client, "GET", "/workflow-runs", 400, "VALIDATION_ERROR", params={"cursor": "x"})
    await error(client, "GET", f"/workflow-runs/{uuid.uuid4()}", 404, "NOT_FOUND")
