"""Events, wait-for-event (steps 1-4 of docs/lifecycle.md "Events and waits") and checkpoints."""

from __future__ import annotations

import uuid

import pytest

from tests.helpers import call, claim, error, is_timestamp, is_uuid7, make_queue, make_task


@pytest.fixture
async def queue(client):
    return await make_queue(client, "q")


def wait_body(task, event="paid", step="await-payment", timeout=60):
    return {
        "event_name": event,
        "timeout_seconds": timeout,
        "task_id": task["task_id"],
        "step_name": step,
    }


async def test_emit_event_shape(client):
    body = await call(
        client, "POST", "/events", 201, json={"event_name": "paid", "payload": {"amount": 3}}
    )
    assert set(body) == {"event_id", "event_name", "created_at"}
    assert (
        is_uuid7(body["event_id"])
        and body["event_name"] == "paid"
        and is_timestamp(body["created_at"])
    )
    await call(client, "POST", "/events", 201, json={"event_name": "no-payload"})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "event_name is required"),
        ({"event_name": ""}, "event_name"),
        ({"event_name": 3}, "event_name must be a string"),
    ],
)
async def test_emit_event_validation(client, body, message):
    got = await error(client, "POST", "/events", 400, "VALIDATION_ERROR", json=body)
    assert got.startswith(message)


async def test_wait_sleeps_then_event_wakes_run_and_resolves(client, queue):
    await make_task(client)
    [task] = await claim(client)
    path = f"/runs/{task['run_id']}/wait-for-event"
    body = await call(client, "POST", path, 202, json=wait_body(task))
    assert body == {"status": "sleeping", "message": "waiting for event: paid"}
    # the claim is released: the sleeping run can neither complete nor be claimed
    await error(client, "POST", f"/runs/{task['run_id']}/complete", 409, "CONFLICT")
    assert await claim(client) == []
    stats = await call(client, "GET", "/queues/q/stats", 200)
    assert stats["sleeping_runs"] == 1

    await call(
        client, "POST", "/events", 201, json={"event_name": "paid", "payload": {"amount": 3}}
    )
    [again] = await claim(client)
    assert again["run_id"] == task["run_id"]
    resolved = await call(client, "POST", path, 200, json=wait_body(task))
    assert resolved == {"status": "resolved", "payload": {"amount": 3}}
    # stable: a later emit does not change the step's answer
    await call(
        client, "POST", "/events", 201, json={"event_name": "paid", "payload": {"amount": 99}}
    )
    assert await call(client, "POST", path, 200, json=wait_body(task)) == resolved
    await call(client, "POST", f"/runs/{task['run_id']}/complete", 200)


async def test_wait_resolves_at_once_with_newest_existing_event(client, queue):
    await call(client, "POST", "/events", 201, json={"event_name": "paid", "payload": 1})
    await call(client, "POST", "/events", 201, json={"event_name": "paid", "payload": 2})
    await make_task(client)
    [task] = await claim(client)
    body = await call(
        client, "POST", f"/runs/{task['run_id']}/wait-for-event", 200, json=wait_body(task)
    )
    assert body == {"status": "resolved", "payload": 2}


async def test_wait_for_run_of_another_task_is_conflict(client, queue):
    await make_task(client)
    await make_task(client)
    [a, b] = await claim(client, limit=2)
    body = wait_body(b)
    await error(client, "POST", f"/runs/{a['run_id']}/wait-for-event", 409, "CONFLICT", json=body)


async def test_wait_on_unclaimed_run_is_conflict(client, queue):
    created = await make_task(client)
    await error(
        client,
        "POST",
        f"/runs/{created['run_id']}/wait-for-event",
        409,
        "CONFLICT",
        json=wait_body(created),
    )


async def test_wait_unknown_run_is_404(client):
    body = {"event_name": "e", "timeout_seconds": 5, "task_id": str(uuid.uuid4()), "step_name": "s"}
    await error(client, "POST", f"/runs/{uuid.uuid4()}/wait-for-event", 404, "NOT_FOUND", json=body)


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"event_name": None}, "event_name"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
        ({"task_id": "abc"}, "task_id must be a valid UUID"),
        ({"step_name": ""}, "step_name"),
    ],
)
async def test_wait_validation(client, queue, patch, message):
    await make_task(client)
    [task] = await claim(client)
    body = {**wait_body(task), **patch}
    body = {k: v for k, v in body.items() if v is not None}
    got = await error(
        client, "POST", f"/runs/{task['run_id']}/wait-for-event", 400, "VALIDATION_ERROR", json=body
    )
    assert got.startswith(message)


async def test_checkpoint_put_and_get(client, queue):
    await make_task(client)
    [task] = await claim(client)
    path = f"/tasks/{task['task_id']}/checkpoints/step-1"
    saved = await call(
        client, "PUT", path, 200, json={"state": {"done": [1, 2]}, "owner_run": task["run_id"]}
    )
    assert set(saved) == {"task_id", "step_name", "updated_at"}
    assert saved["task_id"] == task["task_id"] and saved["step_name"] == "step-1"
    got = await call(client, "GET", path, 200)
    assert got == {
        "task_id": task["task_id"],
        "step_name": "step-1",
        "state": {"done": [1, 2]},
        "updated_at": saved["updated_at"],
    }
    await call(
        client,
        "PUT",
        path,
        200,
        json={"state": None, "owner_run": task["run_id"], "extend_claim_by": 600},
    )
    assert (await call(client, "GET", path, 200))["state"] is None


async def test_checkpoint_survives_retry(client, queue):
    await make_task(client, max_attempts=2, retry_strategy={"kind": "fixed", "base_seconds": 0})
    [task] = await claim(client)
    path = f"/tasks/{task['task_id']}/checkpoints/s"
    await call(client, "PUT", path, 200, json={"state": 41, "owner_run": task["run_id"]})
    await call(client, "POST", f"/runs/{task['run_id']}/fail", 200, json={"error": "x"})
    await error(
        client, "PUT", path, 409, "CONFLICT", json={"state": 0, "owner_run": task["run_id"]}
    )
    [retry] = await claim(client)
    assert (await call(client, "GET", path, 200))["state"] == 41
    await call(client, "PUT", path, 200, json={"state": 42, "owner_run": retry["run_id"]})


async def test_checkpoint_owner_must_be_a_claimed_run_of_the_task(client, queue):
    await make_task(client)
    other = await make_task(client)
    [task] = await claim(client)
    path = f"/tasks/{task['task_id']}/checkpoints/s"
    await error(
        client, "PUT", path, 409, "CONFLICT", json={"state": 1, "owner_run": other["run_id"]}
    )
    await error(
        client, "PUT", path, 404, "NOT_FOUND", json={"state": 1, "owner_run": str(uuid.uuid4())}
    )
    await error(
        client,
        "PUT",
        f"/tasks/{uuid.uuid4()}/checkpoints/s",
        404,
        "NOT_FOUND",
        json={"state": 1, "owner_run": task["run_id"]},
    )
    await error(client, "GET", path, 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"owner_run": "00000000-0000-0000-0000-000000000000"}, "state is required"),
        ({"state": 1}, "owner_run is required"),
        ({"state": 1, "owner_run": "x"}, "owner_run must be a valid UUID"),
        (
            {"state": 1, "owner_run": "00000000-0000-0000-0000-000000000000", "extend_claim_by": 0},
            "extend_claim_by",
        ),
    ],
)
async def test_checkpoint_validation(client, body, message):
    got = await error(
        client, "PUT", f"/tasks/{uuid.uuid4()}/checkpoints/s", 400, "VALIDATION_ERROR", json=body
    )
    assert got.startswith(message)


async def test_checkpoint_path_ids_are_validated(client):
    await error(client, "GET", "/tasks/nope/checkpoints/s", 400, "VALIDATION_ERROR")
    await error(client, "GET", f"/tasks/{uuid.uuid4()}/checkpoints/s", 404, "NOT_FOUND")


async def test_workflow_run_create_and_patch(client):
    created = await call(
        client,
        "POST",
        "/workflow-runs",
        201,
        json={
            "workflow_name": "onboard",
            "workflow_version": "2",
            "inputs": {"user": 1},
            "created_by": "me",
            "tags": {"env": "test"},
        },
    )
    assert set(created) == {"workflow_run_id", "workflow_name", "status", "created_at"}
    assert created["status"] == "pending" and created["workflow_name"] == "onboard"
    path = f"/workflow-runs/{created['workflow_run_id']}"
    updated = await call(
        client, "PATCH", path, 200, json={"status": "running", "started_at": "2030-01-01T00:00:00Z"}
    )
    assert set(updated) == {"workflow_run_id", "status", "updated_at"}
    assert updated["status"] == "running"
    done = await call(client, "PATCH", path, 200, json={"status": "completed", "result": {"ok": 1}})
    assert done["status"] == "completed"
    unchanged = await call(client, "PATCH", path, 200, json={})
    assert unchanged["status"] == "completed"


async def test_workflow_run_validation_and_404(client):
    await error(client, "POST", "/workflow-runs", 400, "VALIDATION_ERROR", json={})
    await error(
        client,
        "POST",
        "/workflow-runs",
        400,
        "VALIDATION_ERROR",
        json={"workflow_name": "w", "tags": {"a": 1}},
    )
    await error(
        client,
        "PATCH",
        f"/workflow-runs/{uuid.uuid4()}",
        404,
        "NOT_FOUND",
        json={"status": "running"},
    )
    await error(
        client, "PATCH", "/workflow-runs/xyz", 400, "VALIDATION_ERROR", json={"status": "running"}
    )
    created = await call(client, "POST", "/workflow-runs", 201, json={"workflow_name": "w"})
    got = await error(
        client,
        "PATCH",
        f"/workflow-runs/{created['workflow_run_id']}",
        400,
        "VALIDATION_ERROR",
        json={"status": "cancelled"},
    )
    assert got.startswith("status")
