"""Run transitions: complete, fail with retries, schedule; listing runs."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from tests.helpers import call, claim, error, is_timestamp, make_queue, make_task, parse_ts


@pytest.fixture
async def queue(client):
    return await make_queue(client, "q")


async def task_status(client, task_id):
    body = await call(client, "GET", "/tasks", 200)
    return next(t["status"] for t in body["tasks"] if t["id"] == task_id)


async def test_complete_with_empty_body(client, queue):
    await make_task(client)
    [task] = await claim(client)
    resp = await client.post(f"/api/v1/runs/{task['run_id']}/complete", data=b"")
    assert resp.status == 200
    assert await resp.json() == {"run_id": task["run_id"], "status": "completed"}
    assert await task_status(client, task["task_id"]) == "completed"


async def test_complete_with_result(client, queue):
    await make_task(client)
    [task] = await claim(client)
    body = await call(
        client, "POST", f"/runs/{task['run_id']}/complete", 200, json={"result": {"ok": True}}
    )
    assert body == {"run_id": task["run_id"], "status": "completed"}


async def test_complete_twice_is_conflict(client, queue):
    await make_task(client)
    [task] = await claim(client)
    await call(client, "POST", f"/runs/{task['run_id']}/complete", 200)
    await error(client, "POST", f"/runs/{task['run_id']}/complete", 409, "CONFLICT")
    await error(
        client, "POST", f"/runs/{task['run_id']}/fail", 409, "CONFLICT", json={"error": "x"}
    )


async def test_complete_unclaimed_run_is_conflict(client, queue):
    created = await make_task(client)
    await error(client, "POST", f"/runs/{created['run_id']}/complete", 409, "CONFLICT")
    assert await task_status(client, created["task_id"]) == "pending"


async def test_complete_unknown_run_is_404(client):
    await error(client, "POST", f"/runs/{uuid.uuid4()}/complete", 404, "NOT_FOUND")


async def test_non_uuid_run_id_is_400_even_when_absent(client):
    message = await error(client, "POST", "/runs/not-a-uuid/complete", 400, "VALIDATION_ERROR")
    assert message == "run_id must be a valid UUID"


async def test_complete_with_malformed_body_is_400(client, queue):
    await make_task(client)
    [task] = await claim(client)
    await error(
        client, "POST", f"/runs/{task['run_id']}/complete", 400, "VALIDATION_ERROR", data=b"{oops"
    )
    await error(
        client, "POST", f"/runs/{task['run_id']}/complete", 400, "VALIDATION_ERROR", json=[1]
    )
    assert await task_status(client, task["task_id"]) == "pending"


async def test_fail_schedules_retry_with_fixed_backoff(client, queue):
    await make_task(client, max_attempts=3, retry_strategy={"kind": "fixed", "base_seconds": 30})
    [task] = await claim(client)
    body = await call(client, "POST", f"/runs/{task['run_id']}/fail", 200, json={"error": "boom"})
    assert set(body) == {"run_id", "status", "attempt", "next_run_id", "next_attempt_at"}
    assert body["run_id"] == task["run_id"] and body["status"] == "failed" and body["attempt"] == 1
    assert is_timestamp(body["next_attempt_at"])
    delay = parse_ts(body["next_attempt_at"]) - dt.datetime.now(dt.UTC)
    assert dt.timedelta(seconds=20) < delay <= dt.timedelta(seconds=31)
    assert await claim(client) == []  # not due yet
    runs = (await call(client, "GET", "/runs", 200, params={"task_id": task["task_id"]}))["runs"]
    assert [(r["attempt"], r["status"]) for r in runs] == [(2, "pending"), (1, "failed")]
    assert runs[1]["error"] == "boom"
    assert runs[0]["id"] == body["next_run_id"]


async def test_fail_retries_until_max_attempts_then_fails_task(client, queue):
    created = await make_task(
        client, max_attempts=2, retry_strategy={"kind": "fixed", "base_seconds": 0}
    )
    [first] = await claim(client)
    retry = await call(client, "POST", f"/runs/{first['run_id']}/fail", 200, json={"error": "one"})
    [second] = await claim(client)
    assert second["run_id"] == retry["next_run_id"] and second["attempt"] == 2
    final = await call(client, "POST", f"/runs/{second['run_id']}/fail", 200, json={"error": "two"})
    assert final == {"run_id": second["run_id"], "status": "failed", "attempt": 2}
    assert await task_status(client, created["task_id"]) == "failed"
    assert await claim(client) == []


async def test_fail_exponential_backoff_is_capped(client, queue):
    strategy = {"kind": "exponential", "base_seconds": 100, "factor": 10, "max_seconds": 150}
    await make_task(client, max_attempts=5, retry_strategy=strategy)
    [task] = await claim(client)
    first = await call(client, "POST", f"/runs/{task['run_id']}/fail", 200, json={"error": "x"})
    delay = parse_ts(first["next_attempt_at"]) - dt.datetime.now(dt.UTC)
    assert dt.timedelta(seconds=90) < delay <= dt.timedelta(seconds=101)
    await call(
        client,
        "POST",
        f"/runs/{first['next_run_id']}/schedule",
        200,
        json={"run_at": "2000-01-01T00:00:00Z"},
    )
    [again] = await claim(client)
    second = await call(client, "POST", f"/runs/{again['run_id']}/fail", 200, json={"error": "x"})
    delay = parse_ts(second["next_attempt_at"]) - dt.datetime.now(dt.UTC)
    assert dt.timedelta(seconds=140) < delay <= dt.timedelta(seconds=151)  # 1000 capped to 150


async def test_fail_without_max_attempts_fails_task_at_once(client, queue):
    created = await make_task(client)
    [task] = await claim(client)
    body = await call(client, "POST", f"/runs/{task['run_id']}/fail", 200, json={"error": "x"})
    assert "next_run_id" not in body and "next_attempt_at" not in body
    assert await task_status(client, created["task_id"]) == "failed"


@pytest.mark.parametrize(
    ("body", "message"), [({}, "error is required"), ({"error": 1}, "error must be a string")]
)
async def test_fail_validation(client, queue, body, message):
    await make_task(client)
    [task] = await claim(client)
    assert (
        await error(
            client, "POST", f"/runs/{task['run_id']}/fail", 400, "VALIDATION_ERROR", json=body
        )
        == message
    )


async def test_schedule_pending_run_moves_it(client, queue):
    created = await make_task(client)
    body = await call(
        client,
        "POST",
        f"/runs/{created['run_id']}/schedule",
        200,
        json={"run_at": "2999-05-01T10:00:00+02:00"},
    )
    assert body["run_id"] == created["run_id"]
    assert parse_ts(body["scheduled_at"]) == dt.datetime(2999, 5, 1, 8, tzinfo=dt.UTC)
    assert await claim(client) == []


async def test_schedule_claimed_run_releases_claim_and_same_run_resumes(client, queue):
    await make_task(client)
    [task] = await claim(client)
    await call(
        client,
        "POST",
        f"/runs/{task['run_id']}/schedule",
        200,
        json={"run_at": "2001-01-01T00:00:00Z"},
    )
    await error(client, "POST", f"/runs/{task['run_id']}/complete", 409, "CONFLICT")
    [again] = await claim(client)
    assert again["run_id"] == task["run_id"] and again["attempt"] == 1
    await call(client, "POST", f"/runs/{again['run_id']}/complete", 200)


async def test_schedule_finished_run_is_conflict(client, queue):
    await make_task(client)
    [task] = await claim(client)
    await call(client, "POST", f"/runs/{task['run_id']}/complete", 200)
    await error(
        client,
        "POST",
        f"/runs/{task['run_id']}/schedule",
        409,
        "CONFLICT",
        json={"run_at": "2030-01-01T00:00:00Z"},
    )


async def test_schedule_validation_and_404(client, queue):
    created = await make_task(client)
    path = f"/runs/{created['run_id']}/schedule"
    assert (
        await error(client, "POST", path, 400, "VALIDATION_ERROR", json={})
    ) == "run_at is required"
    await error(client, "POST", path, 400, "VALIDATION_ERROR", json={"run_at": "soon"})
    await error(
        client,
        "POST",
        f"/runs/{uuid.uuid4()}/schedule",
        404,
        "NOT_FOUND",
        json={"run_at": "2030-01-01T00:00:00Z"},
    )


async def test_list_runs_shape_filters_and_pagination(client, queue):
    ids = [(await make_task(client))["run_id"] for _ in range(5)]
    [task] = await claim(client)
    body = await call(client, "GET", "/runs", 200, params={"limit": "2"})
    assert [r["id"] for r in body["runs"]] == ids[::-1][:2]
    assert "next_cursor" in body
    rest = await call(
        client, "GET", "/runs", 200, params={"limit": "10", "cursor": body["next_cursor"]}
    )
    assert [r["id"] for r in rest["runs"]] == ids[::-1][2:]
    assert "next_cursor" not in rest
    claimed = await call(client, "GET", "/runs", 200, params={"status": "claimed"})
    [run] = claimed["runs"]
    assert set(run) == {"id", "task_id", "attempt", "status", "created_at"}
    assert run["id"] == task["run_id"] and run["task_id"] == task["task_id"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"task_id": "x"}, "task_id must be a valid UUID"),
        ({"status": "done"}, "status"),
        ({"limit": "0"}, "limit"),
        ({"cursor": "1"}, "cursor must be a valid UUID"),
    ],
)
async def test_list_runs_validation(client, params, message):
    got = await error(client, "GET", "/runs", 400, "VALIDATION_ERROR", params=params)
    assert got.startswith(message), got
