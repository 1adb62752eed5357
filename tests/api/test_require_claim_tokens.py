"""DURABLE_REQUIRE_CLAIM_TOKENS on: every holder call must carry the claim's token.

Each refused call is a 409 naming the setting, and the database is checked unchanged.
A schedule without a token may still move a pending run, never release a claimed one.
The mode off (the default) keeps the old rule: tests/api/test_claim_tokens.py.
"""

from __future__ import annotations

import pytest
from durable_queue_client import Conflict, DurableClient
from durable_queue_client.claims import HeldRun
from durable_queue_client.claims import claim as sdk_claim

from durable_queue.config import Settings
from tests.api.test_claim_tokens import holder_calls, later, now, task_state
from tests.helpers import call, claim, error, make_queue, make_task

REQUIRED = "claim_token is required (DURABLE_REQUIRE_CLAIM_TOKENS is on)"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, require_claim_tokens=True)


@pytest.fixture
async def queue(client):
    return await make_queue(client, "q")


def test_the_setting_is_read_from_the_environment() -> None:
    on = Settings.from_env({"DURABLE_REQUIRE_CLAIM_TOKENS": "1"})
    assert on.require_claim_tokens and not Settings.from_env({}).require_claim_tokens


async def test_holder_calls_without_a_token_are_refused_naming_the_setting(
    client, queue, database_url
):
    await make_task(client)
    [held] = await claim(client)
    before = await task_state(database_url, held["task_id"])
    for action, (method, path, body) in holder_calls(held, None).items():
        message = await error(client, method, path, 409, "CONFLICT", json=body)
        assert REQUIRED in message, (action, message)
        assert await task_state(database_url, held["task_id"]) == before, action
    # a null token is no token
    body = {"result": 1, "claim_token": None}
    await error(client, "POST", f"/runs/{held['run_id']}/complete", 409, "CONFLICT", json=body)
    assert await task_state(database_url, held["task_id"]) == before


async def test_a_batch_complete_with_an_item_without_a_token_is_refused(
    client, queue, database_url
):
    for _ in range(2):
        await make_task(client)
    first, second = await claim(client, limit=2)
    before = [await task_state(database_url, t["task_id"]) for t in (first, second)]
    batch = {
        "runs": [
            {"run_id": first["run_id"], "result": 1, "claim_token": first["claim_token"]},
            {"run_id": second["run_id"], "result": 2},
        ]
    }
    message = await error(client, "POST", "/runs/complete", 409, "CONFLICT", json=batch)
    assert message == f"runs[1].{REQUIRED}"
    assert [await task_state(database_url, t["task_id"]) for t in (first, second)] == before

    batch["runs"][1]["claim_token"] = second["claim_token"]
    answer = await call(client, "POST", "/runs/complete", 200, json=batch)
    assert [item["status"] for item in answer["runs"]] == ["completed", "completed"]


async def test_the_right_token_works_on_every_holder_call(client, queue, database_url):
    await make_task(client)
    [held] = await claim(client)
    calls = holder_calls(held, held["claim_token"])
    for action in ("checkpoint", "heartbeat", "wait-for-event"):
        method, path, body = calls[action]
        await call(client, method, path, 202 if action == "wait-for-event" else 200, json=body)
    await call(client, "POST", "/events", 201, json={"event_name": "never"})
    [again] = await claim(client)
    for action in ("fail", "complete"):
        method, path, body = holder_calls(again, again["claim_token"])[action]
        if action == "fail":
            await call(client, method, path, 200, json=body)
        else:
            await error(client, method, path, 409, "CONFLICT", json=body)  # failed, not completed
    task = await call(client, "GET", f"/tasks/{held['task_id']}", 200)
    assert task["status"] == "failed"


async def test_a_schedule_without_a_token_moves_a_pending_run_but_releases_no_claim(
    client, queue, database_url
):
    await make_task(client)
    [held] = await claim(client)
    path = f"/runs/{held['run_id']}/schedule"
    before = await task_state(database_url, held["task_id"])
    message = await error(client, "POST", path, 409, "CONFLICT", json={"run_at": later()})
    assert REQUIRED in message and "claimed" in message
    assert await task_state(database_url, held["task_id"]) == before

    body = {"run_at": later(), "claim_token": held["claim_token"]}
    await call(client, "POST", path, 200, json=body)  # the holder releases it
    moved = await call(client, "POST", path, 200, json={"run_at": now()})  # pending: moved
    assert moved["run_id"] == held["run_id"]
    [again] = await claim(client)
    assert again["run_id"] == held["run_id"]

    wait = holder_calls(again, again["claim_token"])["wait-for-event"]
    await call(client, wait[0], wait[1], 202, json=wait[2])  # asleep: no claim, no move
    before = await task_state(database_url, held["task_id"])
    message = await error(client, "POST", path, 409, "CONFLICT", json={"run_at": now()})
    assert "only a pending or claimed run can be scheduled" in message
    assert await task_state(database_url, held["task_id"]) == before

    unknown = "01890000-0000-7000-8000-000000000000"
    await error(client, "POST", f"/runs/{unknown}/schedule", 404, "NOT_FOUND", json=body)


async def test_the_sdk_worker_calls_pass(server_url: str) -> None:
    """The SDK sends the token on every call it makes for a run."""
    async with DurableClient(server_url, retries=0) as dq:
        await dq.create_queue("sdk")
        created = await dq.create_task("sdk", "job")
        [claimed] = await sdk_claim(dq, "sdk", limit=1, claim_timeout=60, long_poll_seconds=None)
        held = HeldRun(dq, claimed.task, claimed.token)
        await held.heartbeat(60)
        await held.checkpoint("s", {"n": 1}, 60)
        await held.complete("done")
        detail = await dq.get_task(created.task_id)
        assert (detail.status, detail.result) == ("completed", "done")
        await dq.create_task("sdk", "job")
        [bare] = await dq.claim_tasks("sdk", claim_timeout=60)
        with pytest.raises(Conflict, match="DURABLE_REQUIRE_CLAIM_TOKENS"):
            await dq.complete_run(bare.run_id, "no token")
        await dq.complete_run(bare.run_id, "token", claim_token=bare.claim_token)
