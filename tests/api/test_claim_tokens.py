"""Claim tokens: the fence that survives sleep and release.

A run keeps its id when it sleeps on an event or is released by schedule; only the
claim token tells its current holder from one that held it before. Every refused call
is checked against the database: the task, its runs, checkpoints and waits are exactly
as they were.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import aiopg
import aiosql
import pytest
from durable_queue_client import Conflict, DurableClient
from durable_queue_client.claims import HeldRun
from durable_queue_client.claims import claim as sdk_claim
from durable_queue_client.models import RetryStrategy, RunCompletion

from durable_queue.api.keys import MAINTENANCE
from tests.e2e.test_cli import Ctl
from tests.helpers import call, claim, error, eventually, make_queue, make_task

Q = aiosql.from_path(Path(__file__).with_name("claim_tokens.sql"), "aiopg")


@pytest.fixture
async def queue(client):
    return await make_queue(client, "q")


async def task_state(database_url: str, task_id: str) -> Any:
    async with aiopg.connect(database_url) as conn:
        return await Q.task_state(conn, task_id=task_id)


async def stored_token(database_url: str, run_id: str) -> str | None:
    async with aiopg.connect(database_url) as conn:
        return await Q.run_token(conn, run_id=run_id)


def later(seconds: int = 3600) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)).isoformat()


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def holder_calls(held: dict[str, Any], token: str | None) -> dict[str, tuple[str, str, dict]]:
    """Every call a holder makes on its run, as (method, path, body), carrying `token`."""
    run, task = held["run_id"], held["task_id"]
    calls = {
        "complete": ("POST", f"/runs/{run}/complete", {"result": "stale"}),
        "fail": ("POST", f"/runs/{run}/fail", {"error": "stale"}),
        "heartbeat": ("POST", f"/runs/{run}/heartbeat", {"extend_by": 3600}),
        "checkpoint": (
            "PUT",
            f"/tasks/{task}/checkpoints/stale-step",
            {"state": "stale", "owner_run": run, "extend_claim_by": 3600},
        ),
        "wait-for-event": (
            "POST",
            f"/runs/{run}/wait-for-event",
            {"event_name": "never", "timeout_seconds": 60, "task_id": task, "step_name": "w2"},
        ),
        "schedule": ("POST", f"/runs/{run}/schedule", {"run_at": later()}),
    }
    if token is not None:
        for _, _, body in calls.values():
            body["claim_token"] = token
    return calls


async def slept_and_claimed_again(client) -> tuple[dict, dict]:
    """A run that slept on an event (202), was woken and claimed again: (old, new) claims."""
    await make_task(client)
    [old] = await claim(client)
    body = {
        "event_name": "go",
        "timeout_seconds": 600,
        "task_id": old["task_id"],
        "step_name": "w",
        "claim_token": old["claim_token"],
    }
    await call(client, "POST", f"/runs/{old['run_id']}/wait-for-event", 202, json=body)
    await call(client, "POST", "/events", 201, json={"event_name": "go", "payload": 1})
    [new] = await claim(client)
    return old, new


async def released_and_claimed_again(client) -> tuple[dict, dict]:
    """A run released by schedule and claimed again: (old, new) claims."""
    await make_task(client)
    [old] = await claim(client)
    body = {"run_at": now(), "claim_token": old["claim_token"]}
    await call(client, "POST", f"/runs/{old['run_id']}/schedule", 200, json=body)
    [new] = await claim(client)
    return old, new


SCENARIOS = {"after sleep": slept_and_claimed_again, "after release": released_and_claimed_again}


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_a_stale_holder_is_refused_and_changes_nothing(client, queue, database_url, scenario):
    old, new = await SCENARIOS[scenario](client)
    assert new["run_id"] == old["run_id"]  # the same run: its id cannot fence
    assert new["claim_token"] != old["claim_token"]
    before = await task_state(database_url, old["task_id"])

    for action, (method, path, body) in holder_calls(old, old["claim_token"]).items():
        message = await error(client, method, path, 409, "CONFLICT", json=body)
        assert "claim_token" in message, (action, message)
        assert "claimed again" in message, (action, message)
        assert await task_state(database_url, old["task_id"]) == before, action

    batch = {"runs": [{"run_id": old["run_id"], "result": 1, "claim_token": old["claim_token"]}]}
    answer = await call(client, "POST", "/runs/complete", 200, json=batch)
    [item] = answer["runs"]
    assert item["status"] == "conflict"
    assert "claim_token" in item["error"]
    assert await task_state(database_url, old["task_id"]) == before

    # the current holder is untouched by all of it, and its token works
    assert await stored_token(database_url, new["run_id"]) == new["claim_token"]
    body = {"result": "fresh", "claim_token": new["claim_token"]}
    await call(client, "POST", f"/runs/{new['run_id']}/complete", 200, json=body)
    task = await call(client, "GET", f"/tasks/{new['task_id']}", 200)
    assert (task["status"], task["result"]) == ("completed", "fresh")
    # kept on the finished run, so a repeat of that complete can be told from a stranger's
    assert await stored_token(database_url, new["run_id"]) == new["claim_token"]


async def test_each_claim_hands_out_a_new_token_stored_on_its_run(client, queue, database_url):
    for _ in range(3):
        await make_task(client)
    claimed = await claim(client, limit=3)
    tokens = [task["claim_token"] for task in claimed]
    assert len(set(tokens)) == 3
    for task in claimed:
        assert isinstance(task["claim_token"], str) and task["claim_token"]
        assert await stored_token(database_url, task["run_id"]) == task["claim_token"]


async def test_the_right_token_works_on_every_holder_call(client, queue, database_url):
    created = await make_task(
        client, max_attempts=2, retry_strategy={"kind": "fixed", "base_seconds": 0}
    )
    [held] = await claim(client)
    token = held["claim_token"]
    run, task = held["run_id"], held["task_id"]

    body = {"state": {"n": 1}, "owner_run": run, "extend_claim_by": 60, "claim_token": token}
    await call(client, "PUT", f"/tasks/{task}/checkpoints/s", 200, json=body)
    await call(
        client, "POST", f"/runs/{run}/heartbeat", 200, json={"extend_by": 60, "claim_token": token}
    )
    await call(client, "POST", "/events", 201, json={"event_name": "ready", "payload": 7})
    wait = {
        "event_name": "ready",
        "timeout_seconds": 60,
        "task_id": task,
        "step_name": "w",
        "claim_token": token,
    }
    resolved = await call(client, "POST", f"/runs/{run}/wait-for-event", 200, json=wait)
    assert resolved == {"status": "resolved", "payload": 7}
    assert await stored_token(database_url, run) == token  # still claimed, same claim

    failed = await call(
        client, "POST", f"/runs/{run}/fail", 200, json={"error": "x", "claim_token": token}
    )
    assert await stored_token(database_url, run) == token  # kept: the fail it ended in
    [retry] = await claim(client)
    assert retry["run_id"] == failed["next_run_id"]

    body = {"run_at": now(), "claim_token": retry["claim_token"]}
    await call(client, "POST", f"/runs/{retry['run_id']}/schedule", 200, json=body)
    assert await stored_token(database_url, retry["run_id"]) is None
    [again] = await claim(client)
    assert again["run_id"] == retry["run_id"]
    body = {"result": "ok", "claim_token": again["claim_token"]}
    await call(client, "POST", f"/runs/{again['run_id']}/complete", 200, json=body)
    detail = await call(client, "GET", f"/tasks/{created['task_id']}", 200)
    assert (detail["status"], detail["result"]) == ("completed", "ok")


async def test_a_token_for_a_run_not_claimed_is_refused(client, queue, database_url):
    """Released and not claimed again: the old token names no live claim, so even a
    schedule (which moves a pending run without a token) is refused."""
    await make_task(client)
    [held] = await claim(client)
    token = held["claim_token"]
    body = {"run_at": later(), "claim_token": token}
    await call(client, "POST", f"/runs/{held['run_id']}/schedule", 200, json=body)
    before = await task_state(database_url, held["task_id"])

    for action, (method, path, body) in holder_calls(held, token).items():
        message = await error(client, method, path, 409, "CONFLICT", json=body)
        assert "pending, not claimed" in message, (action, message)
        assert await task_state(database_url, held["task_id"]) == before, action

    # without a token the old rule stands: a pending run may be moved
    await call(client, "POST", f"/runs/{held['run_id']}/schedule", 200, json={"run_at": now()})


async def test_a_wrong_token_is_refused_on_a_claimed_run(client, queue, database_url):
    await make_task(client)
    [held] = await claim(client)
    before = await task_state(database_url, held["task_id"])
    for action, (method, path, body) in holder_calls(held, "not-a-token").items():
        message = await error(client, method, path, 409, "CONFLICT", json=body)
        assert "another claim_token" in message, (action, message)
        assert await task_state(database_url, held["task_id"]) == before, action


async def test_calls_without_a_token_keep_the_old_rule(client, queue):
    """Clients that never send a token (those of the original server) are fenced on the
    run's status alone, as before: any caller may act on a claimed run."""
    old, _ = await slept_and_claimed_again(client)
    run, task = old["run_id"], old["task_id"]
    body = {"state": 1, "owner_run": run}
    await call(client, "PUT", f"/tasks/{task}/checkpoints/s", 200, json=body)
    await call(client, "POST", f"/runs/{run}/heartbeat", 200, json={"extend_by": 60})
    await call(client, "POST", f"/runs/{run}/complete", 200, json={"result": 1})
    await error(client, "POST", f"/runs/{run}/complete", 409, "CONFLICT", json={})
    # a null token is no token
    await error(
        client,
        "POST",
        f"/runs/{run}/fail",
        409,
        "CONFLICT",
        json={"error": "x", "claim_token": None},
    )


async def test_batch_complete_fences_each_item_on_its_token(client, queue, database_url):
    old, new = await released_and_claimed_again(client)
    for _ in range(3):
        await make_task(client)
    right, bare, wrong = await claim(client, limit=3)
    stale_before = await task_state(database_url, new["task_id"])
    wrong_before = await task_state(database_url, wrong["task_id"])
    batch = {
        "runs": [
            {"run_id": right["run_id"], "result": "r", "claim_token": right["claim_token"]},
            {"run_id": old["run_id"], "result": "stale", "claim_token": old["claim_token"]},
            {"run_id": bare["run_id"], "result": "b"},
            {"run_id": wrong["run_id"], "result": "w", "claim_token": right["claim_token"]},
        ]
    }
    answer = await call(client, "POST", "/runs/complete", 200, json=batch)
    assert [item["status"] for item in answer["runs"]] == [
        "completed",
        "conflict",
        "completed",
        "conflict",
    ]
    assert "claim_token" in answer["runs"][1]["error"]
    assert await task_state(database_url, new["task_id"]) == stale_before
    assert await task_state(database_url, wrong["task_id"]) == wrong_before
    for held, result in ((right, "r"), (bare, "b")):
        detail = await call(client, "GET", f"/tasks/{held['task_id']}", 200)
        assert (detail["status"], detail["result"]) == ("completed", result)


async def test_a_repeat_after_a_lost_answer_gets_the_stored_outcome(client, queue, database_url):
    """A complete or fail that committed, and whose answer was lost (a 503 after the commit,
    a dropped connection), is repeated with its claim_token: 200 with the first answer, and
    nothing changes. Without a token, or as the other outcome, it stays 409."""
    retry = {"kind": "fixed", "base_seconds": 30}
    for _ in range(2):
        await make_task(client, max_attempts=2, retry_strategy=retry)
    done, failing = await claim(client, limit=2)
    complete = ("POST", f"/runs/{done['run_id']}/complete")
    fail = ("POST", f"/runs/{failing['run_id']}/fail")
    first_complete = await call(
        client, *complete, 200, json={"result": 1, "claim_token": done["claim_token"]}
    )
    first_fail = await call(
        client, *fail, 200, json={"error": "x", "claim_token": failing["claim_token"]}
    )
    assert first_fail["next_run_id"] and first_fail["next_attempt_at"]
    before = [await task_state(database_url, held["task_id"]) for held in (done, failing)]

    again = {"result": 2, "claim_token": done["claim_token"]}
    assert await call(client, *complete, 200, json=again) == first_complete
    again = {"error": "y", "claim_token": failing["claim_token"]}
    assert await call(client, *fail, 200, json=again) == first_fail
    batch = {"runs": [{"run_id": done["run_id"], "result": 3, "claim_token": done["claim_token"]}]}
    answer = await call(client, "POST", "/runs/complete", 200, json=batch)
    assert answer["runs"] == [{"run_id": done["run_id"], "status": "completed"}]

    refused = [
        (*complete, {"result": 2}),  # no token: nothing proves it is the same holder
        (*fail, {"error": "y"}),
        (*complete, {"result": 2, "claim_token": failing["claim_token"]}),  # not its claim
        ("POST", f"/runs/{failing['run_id']}/complete", {"claim_token": failing["claim_token"]}),
        (
            "POST",
            f"/runs/{done['run_id']}/fail",
            {"error": "y", "claim_token": done["claim_token"]},
        ),
    ]
    for method, path, body in refused:
        await error(client, method, path, 409, "CONFLICT", json=body)
    assert [await task_state(database_url, held["task_id"]) for held in (done, failing)] == before


@pytest.mark.parametrize(
    ("value", "expected"), [("", "claim_token"), (5, "claim_token"), ("x" * 1025, "claim_token")]
)
async def test_a_malformed_token_is_a_400_naming_the_field(client, queue, value, expected):
    await make_task(client)
    [held] = await claim(client)
    for action, (method, path, body) in holder_calls(held, value).items():
        message = await error(client, method, path, 400, "VALIDATION_ERROR", json=body)
        assert expected in message, (action, message)
    batch = {"runs": [{"run_id": held["run_id"], "claim_token": value}]}
    message = await error(client, "POST", "/runs/complete", 400, "VALIDATION_ERROR", json=batch)
    assert expected in message


async def test_expiry_and_cancel_end_the_claim_and_its_token(client, queue, database_url):
    expiring = await make_task(client)
    [short] = await claim(client, claim_timeout=1)
    sweeper = client.server.app[MAINTENANCE]

    async def expired() -> bool:
        await sweeper.sweep_once()
        return await stored_token(database_url, short["run_id"]) is None

    await eventually(expired)
    body = {"result": 1, "claim_token": short["claim_token"]}
    message = await error(
        client, "POST", f"/runs/{short['run_id']}/complete", 409, "CONFLICT", json=body
    )
    assert "failed, not claimed" in message
    [retry] = await claim(client)
    assert retry["task_id"] == expiring["task_id"]
    await call(client, "POST", f"/tasks/{retry['task_id']}/cancel", 200)
    assert await stored_token(database_url, retry["run_id"]) is None


# -- the worker SDK -----------------------------------------------------------------------


async def test_the_sdk_fences_a_stale_worker_after_its_run_slept(server_url: str) -> None:
    async with DurableClient(server_url, retries=0) as dq:
        await dq.create_queue("sdk")
        created = await dq.create_task("sdk", "job")
        [first] = await sdk_claim(dq, "sdk", limit=1, claim_timeout=60, long_poll_seconds=None)
        assert first.token is not None and first.token == first.task.claim_token
        stale = HeldRun(dq, first.task, first.token)
        slept = await stale.wait_for_event("go", "w", 600)
        assert slept.status == "sleeping"
        await dq.emit_event("go", 1)
        [second] = await sdk_claim(dq, "sdk", limit=1, claim_timeout=60, long_poll_seconds=None)
        assert second.task.run_id == first.task.run_id
        current = HeldRun(dq, second.task, second.token)

        stale_calls = {
            "complete": lambda: stale.complete("stale"),
            "fail": lambda: stale.fail("stale"),
            "heartbeat": lambda: stale.heartbeat(60),
            "checkpoint": lambda: stale.checkpoint("s", "stale", 60),
            "schedule": lambda: stale.schedule(dt.datetime.now(dt.UTC)),
            "wait-for-event": lambda: stale.wait_for_event("never", "w2", 60),
        }
        for action, stale_call in stale_calls.items():
            with pytest.raises(Conflict, match="claim_token"):
                await stale_call()
            assert (await dq.get_task(created.task_id)).checkpoints == [], action

        stale_item = RunCompletion(run_id=first.task.run_id, result="x", claim_token=first.token)
        [item] = await dq.complete_runs([stale_item])
        assert item.status == "conflict"
        await current.checkpoint("s", "fresh", 60)
        await current.complete("fresh")
        detail = await dq.get_task(created.task_id)
        assert (detail.status, detail.result, detail.checkpoints) == ("completed", "fresh", ["s"])


async def test_the_client_methods_send_the_token(server_url: str) -> None:
    async with DurableClient(server_url, retries=0) as dq:
        await dq.create_queue("c")
        no_delay = RetryStrategy(kind="fixed", base_seconds=0)
        await dq.create_task("c", "job", max_attempts=2, retry_strategy=no_delay)
        [held] = await dq.claim_tasks("c", claim_timeout=60)
        token = held.claim_token
        assert token is not None
        await dq.set_checkpoint(held.task_id, "s", 1, owner_run=held.run_id, claim_token=token)
        await dq.heartbeat(held.run_id, 60, claim_token=token)
        with pytest.raises(Conflict):
            await dq.heartbeat(held.run_id, 60, claim_token="wrong")
        with pytest.raises(Conflict):
            await dq.complete_run(held.run_id, 1, claim_token="wrong")
        failed = await dq.fail_run(held.run_id, "x", claim_token=token)
        assert failed.next_run_id is not None
        # a repeat under the same claim answers the first answer (its answer was lost)
        assert await dq.fail_run(held.run_id, "again", claim_token=token) == failed
        with pytest.raises(Conflict):
            await dq.complete_run(held.run_id, "x", claim_token=token)
        with pytest.raises(Conflict):
            await dq.fail_run(held.run_id, "again")  # without a token, nothing proves it
        [retry] = await dq.claim_tasks("c", claim_timeout=60)
        result = await dq.wait_for_event(
            retry.run_id,
            task_id=retry.task_id,
            event_name="e",
            step_name="w",
            timeout_seconds=60,
            claim_token=retry.claim_token,
        )
        assert result.status == "sleeping"
        with pytest.raises(Conflict):
            await dq.schedule_run(
                retry.run_id, dt.datetime.now(dt.UTC), claim_token=retry.claim_token
            )
        await dq.emit_event("e", None)
        [again] = await dq.claim_tasks("c", claim_timeout=60)
        await dq.schedule_run(again.run_id, dt.datetime.now(dt.UTC), claim_token=again.claim_token)
        [last] = await dq.claim_tasks("c", claim_timeout=60)
        await dq.complete_run(last.run_id, "done", claim_token=last.claim_token)
        assert (await dq.get_task(last.task_id)).status == "completed"


# -- durablectl ---------------------------------------------------------------------------


async def test_durablectl_holder_commands_take_the_claim_token(
    server_url: str, tmp_path: Path
) -> None:
    ctl = Ctl(
        {
            "DURABLE_SERVER": server_url,
            "DURABLECTL_CONFIG": str(tmp_path / "config.json"),
            "DURABLE_TOKEN": None,
        }
    )
    await ctl.ok("queues", "create", "--name", "cli")
    await ctl.ok("tasks", "create", "--queue", "cli", "--name", "job", "--max-attempts", "2")
    [old] = (await ctl.ok("tasks", "claim", "--queue", "cli"))["tasks"]
    token = old["claim_token"]
    run, task = old["run_id"], old["task_id"]
    await ctl.ok("runs", "heartbeat", run, "--extend-by", "60", "--claim-token", token)
    await ctl.ok(
        "checkpoints", "set", task, "s", "--state", "1", "--owner-run", run, "--claim-token", token
    )
    await ctl.ok("runs", "schedule", run, "--in", "0", "--claim-token", token)
    [new] = (await ctl.ok("tasks", "claim", "--queue", "cli"))["tasks"]
    assert (new["run_id"], new["claim_token"] != token) == (run, True)

    stale = {
        "complete": ("runs", "complete", run, "--result", "1"),
        "fail": ("runs", "fail", run, "--error", "stale"),
        "schedule": ("runs", "schedule", run, "--in", "60"),
        "heartbeat": ("runs", "heartbeat", run, "--extend-by", "60"),
        "checkpoint": ("checkpoints", "set", task, "s", "--state", "2", "--owner-run", run),
    }
    for action, args in stale.items():
        result = await ctl(*args, "--claim-token", token)
        assert result.exit_code == 1, action
        assert result.stderr.startswith("error: 409 CONFLICT: "), (action, result.stderr)
    assert (await ctl.ok("checkpoints", "get", task, "s"))["state"] == 1
    done = await ctl.ok("runs", "complete", run, "--claim-token", new["claim_token"])
    assert done["status"] == "completed"
