"""Task creation, claiming and listing."""

from __future__ import annotations

import uuid

import pytest

from tests.helpers import call, claim, error, is_timestamp, is_uuid7, make_queue, make_task


@pytest.fixture
async def queue(client):
    return await make_queue(client, "q")


async def test_create_task_shape(client, queue):
    body = await make_task(client, task_name="send", params={"to": "a@b"})
    assert set(body) == {"task_id", "run_id"}
    assert is_uuid7(body["task_id"]) and is_uuid7(body["run_id"])


async def test_create_task_in_workflow_run(client, queue):
    wf = await call(client, "POST", "/workflow-runs", 201, json={"workflow_name": "wf"})
    body = await make_task(client, workflow_run_id=wf["workflow_run_id"])
    assert body["workflow_run_id"] == wf["workflow_run_id"]
    [claimed] = await claim(client)
    assert claimed["workflow_run_id"] == wf["workflow_run_id"]


async def test_create_task_unknown_queue_is_404(client):
    await error(client, "POST", "/queues/nope/tasks", 404, "NOT_FOUND", json={"task_name": "x"})


async def test_create_task_unknown_workflow_run_is_404(client, queue):
    await error(
        client,
        "POST",
        "/queues/q/tasks",
        404,
        "NOT_FOUND",
        json={"task_name": "x", "workflow_run_id": str(uuid.uuid4())},
    )
    assert (await call(client, "GET", "/tasks", 200))["tasks"] == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "task_name is required"),
        ({"task_name": ""}, "task_name"),
        ({"task_name": 7}, "task_name must be a string"),
        ({"task_name": "x", "max_attempts": 0}, "max_attempts"),
        ({"task_name": "x", "max_attempts": "3"}, "max_attempts must be an integer"),
        ({"task_name": "x", "max_attempts": 1.5}, "max_attempts must be an integer"),
        ({"task_name": "x", "start_timeout": -1}, "start_timeout"),
        ({"task_name": "x", "execution_timeout": -1}, "execution_timeout"),
        ({"task_name": "x", "headers": {"a": 1}}, "headers"),
        ({"task_name": "x", "headers": ["a"]}, "headers"),
        (
            {"task_name": "x", "retry_strategy": {"kind": "linear", "base_seconds": 1}},
            "retry_strategy.kind",
        ),
        (
            {"task_name": "x", "retry_strategy": {"kind": "fixed"}},
            "retry_strategy.base_seconds is required",
        ),
        (
            {"task_name": "x", "retry_strategy": {"kind": "fixed", "base_seconds": -1}},
            "retry_strategy.base_seconds",
        ),
        (
            {
                "task_name": "x",
                "retry_strategy": {"kind": "exponential", "base_seconds": 1, "factor": 0.5},
            },
            "retry_strategy.factor",
        ),
        ({"task_name": "x", "workflow_run_id": "nope"}, "workflow_run_id must be a valid UUID"),
        ({"task_name": "x", "run_at": "tomorrow"}, "run_at"),
        ({"task_name": "x", "run_at": "2030-01-01T00:00:00"}, "run_at"),
    ],
)
async def test_create_task_validation(client, queue, body, message):
    got = await error(client, "POST", "/queues/q/tasks", 400, "VALIDATION_ERROR", json=body)
    assert got.startswith(message), got
    assert (await call(client, "GET", "/tasks", 200))["tasks"] == []


async def test_create_task_invalid_queue_name_is_400(client):
    await error(
        client, "POST", "/queues/bad$name/tasks", 400, "VALIDATION_ERROR", json={"task_name": "x"}
    )


async def test_claimed_task_shape_with_every_field(client, queue):
    strategy = {"kind": "exponential", "base_seconds": 2, "factor": 3, "max_seconds": 60}
    created = await make_task(
        client,
        task_name="send",
        params={"n": [1, 2]},
        headers={"trace": "abc"},
        retry_strategy=strategy,
        max_attempts=5,
    )
    [task] = await claim(client, claim_timeout=30)
    assert set(task) == {
        "run_id",
        "task_id",
        "attempt",
        "task_name",
        "params",
        "headers",
        "retry_strategy",
        "max_attempts",
        "claim_expires_at",
        "claim_token",
        "priority",
    }
    assert task["run_id"] == created["run_id"]
    assert task["task_id"] == created["task_id"]
    assert task["attempt"] == 1
    assert task["task_name"] == "send"
    assert task["params"] == {"n": [1, 2]}
    assert task["headers"] == {"trace": "abc"}
    assert task["retry_strategy"] == strategy
    assert task["max_attempts"] == 5
    assert is_timestamp(task["claim_expires_at"])


async def test_claimed_task_omits_absent_optional_fields(client, queue):
    await make_task(client)
    [task] = await claim(client)
    assert set(task) == {
        "run_id",
        "task_id",
        "attempt",
        "task_name",
        "max_attempts",
        "claim_expires_at",
        "claim_token",
        "priority",
    }
    assert task["max_attempts"] == 1


async def test_json_values_round_trip_unchanged(client, queue):
    values = [None, 0, "text", [1, "a", None], {"nested": {"x": [True, False]}}, 1.5]
    for value in values:
        await make_task(client, params=value)
    got = [t["params"] for t in await claim(client, limit=10)]
    assert got == values


async def test_claim_from_empty_queue_returns_empty_list(client, queue):
    assert await claim(client) == []


async def test_claim_respects_limit_and_order(client, queue):
    ids = [(await make_task(client))["task_id"] for _ in range(5)]
    first = await claim(client, limit=3)
    second = await claim(client, limit=3)
    assert [t["task_id"] for t in first] == ids[:3]
    assert [t["task_id"] for t in second] == ids[3:]
    assert await claim(client, limit=3) == []


async def test_task_scheduled_in_the_future_is_not_claimable(client, queue):
    await make_task(client, run_at="2999-01-01T00:00:00+02:00")
    assert await claim(client) == []


async def test_claim_unknown_queue_is_404(client):
    await error(
        client,
        "POST",
        "/queues/nope/tasks/claim",
        404,
        "NOT_FOUND",
        json={"limit": 1, "claim_timeout": 1},
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"claim_timeout": 10}, "limit is required"),
        ({"limit": 1}, "claim_timeout is required"),
        ({"limit": 0, "claim_timeout": 10}, "limit"),
        ({"limit": 1, "claim_timeout": 0}, "claim_timeout"),
        ({"limit": "1", "claim_timeout": 10}, "limit must be an integer"),
        ({"limit": 1, "claim_timeout": 10, "long_poll_seconds": 31}, "long_poll_seconds"),
        ({"limit": 1, "claim_timeout": 10, "long_poll_seconds": -1}, "long_poll_seconds"),
    ],
)
async def test_claim_validation(client, queue, body, message):
    await make_task(client)
    got = await error(client, "POST", "/queues/q/tasks/claim", 400, "VALIDATION_ERROR", json=body)
    assert got.startswith(message), got
    assert len(await claim(client)) == 1  # nothing was claimed by the bad request


@pytest.mark.parametrize("poll", [0, 1, 5, 30])
async def test_claim_accepts_long_poll_range(client, queue, poll):
    await make_task(client)
    body = {"limit": 1, "claim_timeout": 10, "long_poll_seconds": poll}
    assert len((await call(client, "POST", "/queues/q/tasks/claim", 200, json=body))["tasks"]) == 1


async def test_list_tasks_shape_and_filters(client, queue):
    await make_queue(client, "other")
    a = await make_task(client, task_name="a")
    b = await make_task(client, "other", task_name="b")
    [claimed] = await claim(client)
    await call(client, "POST", f"/runs/{claimed['run_id']}/complete", 200)

    body = await call(client, "GET", "/tasks", 200)
    assert set(body) == {"tasks"}
    assert [t["id"] for t in body["tasks"]] == [b["task_id"], a["task_id"]]
    done = body["tasks"][1]
    assert set(done) == {
        "id",
        "task_name",
        "status",
        "queue_name",
        "max_attempts",
        "created_at",
        "completed_at",
    }
    assert done["status"] == "completed" and done["queue_name"] == "q"
    assert is_timestamp(done["completed_at"])
    assert "completed_at" not in body["tasks"][0]

    by_queue = await call(client, "GET", "/tasks", 200, params={"queue_name": "other"})
    assert [t["id"] for t in by_queue["tasks"]] == [b["task_id"]]
    by_status = await call(client, "GET", "/tasks", 200, params={"status": "completed"})
    assert [t["id"] for t in by_status["tasks"]] == [a["task_id"]]
    by_name = await call(client, "GET", "/tasks", 200, params={"task_name": "b"})
    assert [t["id"] for t in by_name["tasks"]] == [b["task_id"]]


async def test_list_tasks_pagination_has_no_gap_or_overlap(client, queue):
    ids = [(await make_task(client))["task_id"] for _ in range(7)]
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        body = await call(client, "GET", "/tasks", 200, params=params)
        seen += [t["id"] for t in body["tasks"]]
        pages += 1
        cursor = body.get("next_cursor")
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(ids))


async def test_list_tasks_exact_page_has_no_next_cursor(client, queue):
    for _ in range(3):
        await make_task(client)
    body = await call(client, "GET", "/tasks", 200, params={"limit": "3"})
    assert len(body["tasks"]) == 3 and "next_cursor" not in body


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "abc"}, "limit must be an integer"),
        ({"limit": "2.5"}, "limit must be an integer"),
        ({"cursor": "nope"}, "cursor must be a valid UUID"),
        ({"status": "running"}, "status"),
    ],
)
async def test_list_tasks_validation(client, params, message):
    got = await error(client, "GET", "/tasks", 400, "VALIDATION_ERROR", params=params)
    assert got.startswith(message), got


async def test_get_task_omits_never_given_fields_as_the_listing_does(client, queue):
    created = await make_task(client)
    [listed] = (await call(client, "GET", "/tasks", 200))["tasks"]
    detail = await call(client, "GET", f"/tasks/{created['task_id']}", 200)
    assert set(detail) == set(listed) | {
        "start_timeout",
        "execution_timeout",
        "runs",
        "checkpoints",
        "priority",
    }
    for never_given in (
        "params", "headers", "retry_strategy", "workflow_run_id", "error", "concurrency_key"
    ):  # fmt: skip
        assert never_given not in detail
    # a JSON null that was given is kept, as null
    given = await make_task(client, params=None)
    assert (await call(client, "GET", f"/tasks/{given['task_id']}", 200))["params"] is None


async def test_get_task_with_a_malformed_id_is_400(client):
    got = await error(client, "GET", "/tasks/not-a-uuid", 400, "VALIDATION_ERROR")
    assert got == "task_id must be a valid UUID"
