"""The limits on stored JSON values (durable_queue/json_limits.py, docs/limits.md): every
JSON field takes a value nested MAX_JSON_DEPTH levels and every read path gives it back;
one level more, or ten thousand, is a 400 naming the field; a number that overflows a
double (1e999) is a 400 naming the field, never stored as null. A claim whose answer
cannot be written puts its runs back, claimable at once."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from durable_queue.api import tasks as task_handlers
from durable_queue.json_limits import MAX_JSON_DEPTH
from tests.helpers import API, call, claim, make_queue, make_task, run_sql

DEEP = 10_000


def nested(depth: int) -> Any:
    """A value of exactly `depth` levels: lists and objects in turn, a scalar innermost."""
    value: Any = 1
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


def nested_text(depth: int) -> str:
    """`nested(depth)` as JSON text, built without recursion (json.dumps would recurse)."""
    opens = "".join("[" if level % 2 else '{"k":' for level in reversed(range(depth)))
    closes = "".join("]" if level % 2 else "}" for level in range(depth))
    return opens + "1" + closes


def test_nested_text_is_nested() -> None:
    assert json.loads(nested_text(5)) == nested(5)


async def send(client: TestClient, method: str, path: str, body: str) -> Any:
    return await client.request(
        method, f"{API}{path}", data=body, headers={"Content-Type": "application/json"}
    )


async def refused(client: TestClient, method: str, path: str, body: str) -> str:
    resp = await send(client, method, path, body)
    answer = await resp.json()
    assert resp.status == 400, answer
    assert answer["code"] == "VALIDATION_ERROR"
    return answer["error"]


def with_value(template: str, value_text: str) -> str:
    """`template` (JSON text) with its "VALUE" placeholder replaced by `value_text`."""
    return template.replace('"VALUE"', value_text)


TOO_DEEP = f"nests deeper than {MAX_JSON_DEPTH} levels"


@pytest.fixture
async def queue(client: TestClient) -> None:
    await make_queue(client, "q")


async def held_run(client: TestClient) -> dict[str, Any]:
    await make_task(client, "q", task_name="holder")
    [task] = await claim(client, "q")
    return task


# -- every JSON field at the limit, one past it, and far past it ----------------------------


async def bodies(client: TestClient) -> list[tuple[str, str, str, str]]:
    """(method, path, body template, field named in the 400) for every JSON value taken."""
    run = await held_run(client)
    other = await held_run(client)
    workflow = await call(client, "POST", "/workflow-runs", 201, json={"workflow_name": "wf"})
    return [
        ("POST", "/queues/q/tasks", '{"task_name": "p", "params": "VALUE"}', "params"),
        (
            "POST",
            "/queues/q/tasks/batch",
            '{"tasks": [{"task_name": "a"}, {"task_name": "b", "params": "VALUE"}]}',
            "tasks[1].params",
        ),
        ("POST", f"/runs/{run['run_id']}/complete", '{"result": "VALUE"}', "result"),
        (
            "POST",
            "/runs/complete",
            json.dumps({"runs": [{"run_id": other["run_id"], "result": "VALUE"}]}),
            "runs[0].result",
        ),
        (
            "PUT",
            f"/tasks/{run['task_id']}/checkpoints/s",
            json.dumps({"owner_run": run["run_id"], "state": "VALUE"}),
            "state",
        ),
        ("POST", "/events", '{"event_name": "e", "payload": "VALUE"}', "payload"),
        ("POST", "/workflow-runs", '{"workflow_name": "w", "inputs": "VALUE"}', "inputs"),
        (
            "PATCH",
            f"/workflow-runs/{workflow['workflow_run_id']}",
            '{"result": "VALUE"}',
            "result",
        ),
    ]


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1_000])
async def test_a_value_nested_past_the_limit_is_a_400_naming_its_field(client, queue, depth):
    for method, path, template, field in await bodies(client):
        message = await refused(client, method, path, with_value(template, nested_text(depth)))
        assert message == f"{field} {TOO_DEEP}", (method, path)


async def test_a_value_nested_ten_thousand_levels_is_a_400(client, queue):
    """Named by its field where the parser reads the body (orjson before 3.9 reads any
    depth); beyond what it reads (1,024 levels since 3.9), the body is refused as too deep
    to read. Never a 500, and nothing is stored."""
    body_level = f"request body nests too deeply to be read (JSON values may nest at most {MAX_JSON_DEPTH} levels)"
    for method, path, template, field in await bodies(client):
        message = await refused(client, method, path, with_value(template, nested_text(DEEP)))
        assert message in (f"{field} {TOO_DEEP}", body_level), (method, path)


@pytest.mark.parametrize("number", ["1e999", "-1e999", '[1, {"x": 1e400}]'])
async def test_a_number_that_overflows_is_a_400_naming_its_field(client, queue, number):
    for method, path, template, field in await bodies(client):
        message = await refused(client, method, path, with_value(template, number))
        assert message.startswith(f"{field} must hold only finite numbers"), (method, path)


async def test_nothing_refused_was_stored(client, queue, db):
    await refused(client, "POST", "/queues/q/tasks", '{"task_name": "n", "params": 1e999}')
    await refused(
        client,
        "POST",
        "/queues/q/tasks",
        with_value('{"task_name": "d", "params": "VALUE"}', nested_text(MAX_JSON_DEPTH + 1)),
    )
    assert run_sql(db, "SELECT count(*) FROM tasks")[0][0] == 0


@pytest.mark.parametrize(
    ("field", "number"),
    [("base_seconds", "1e999"), ("factor", "1e999"), ("max_seconds", "-1e999")],
)
async def test_a_plain_number_field_refuses_an_overflowing_number(client, queue, field, number):
    strategy = {"kind": "exponential", "base_seconds": 1, field: "VALUE"}
    body = json.dumps({"task_name": "n", "retry_strategy": strategy})
    message = await refused(client, "POST", "/queues/q/tasks", with_value(body, number))
    assert message == f"retry_strategy.{field} must be a finite number"


async def test_a_body_too_deep_for_the_standard_parser_is_a_400(client, queue):
    # a 19-digit run sends the body through `json`, which recurses once per level
    body = with_value(
        '{"task_name": "p", "n": 1234567890123456789012, "params": "VALUE"}', nested_text(DEEP)
    )
    message = await refused(client, "POST", "/queues/q/tasks", body)
    assert "nests too deeply" in message


# -- at the limit: accepted, and every read path gives the value back -----------------------


async def test_params_at_the_limit_come_back_from_claim_get_and_dashboard(client, queue):
    deepest = nested(MAX_JSON_DEPTH)
    single = await make_task(client, "q", params=deepest)
    batch = await call(
        client,
        "POST",
        "/queues/q/tasks/batch",
        200,
        json={"tasks": [{"task_name": "b", "params": deepest}]},
    )
    claimed = await claim(client, "q", limit=10)
    assert [t["params"] for t in claimed] == [deepest, deepest]
    for task_id in (single["task_id"], batch["tasks"][0]["task_id"]):
        detail = await call(client, "GET", f"/tasks/{task_id}", 200)
        assert detail["params"] == deepest
        resp = await client.get(f"/ui/tasks/{task_id}")
        assert resp.status == 200
        assert (await resp.text()).count("&#34;k&#34;") == MAX_JSON_DEPTH // 2


async def test_results_state_payloads_and_workflow_values_at_the_limit_come_back(client, queue):
    deepest = nested(MAX_JSON_DEPTH)
    workflow = await call(
        client, "POST", "/workflow-runs", 201, json={"workflow_name": "w", "inputs": deepest}
    )
    path = f"/workflow-runs/{workflow['workflow_run_id']}"
    await call(client, "PATCH", path, 200, json={"status": "completed", "result": deepest})
    got = await call(client, "GET", path, 200)
    assert (got["inputs"], got["result"]) == (deepest, deepest)
    assert (await client.get(f"/ui{path}")).status == 200

    single, batched = await held_run(client), await held_run(client)
    checkpoint = f"/tasks/{single['task_id']}/checkpoints/s"
    await call(
        client, "PUT", checkpoint, 200, json={"owner_run": single["run_id"], "state": deepest}
    )
    assert (await call(client, "GET", checkpoint, 200))["state"] == deepest

    await call(client, "POST", "/events", 201, json={"event_name": "e", "payload": deepest})
    wait = {
        "event_name": "e",
        "timeout_seconds": 60,
        "task_id": single["task_id"],
        "step_name": "w",
    }
    resolved = await call(
        client, "POST", f"/runs/{single['run_id']}/wait-for-event", 200, json=wait
    )
    assert resolved == {"status": "resolved", "payload": deepest}
    assert (await client.get("/ui/events")).status == 200

    await call(client, "POST", f"/runs/{single['run_id']}/complete", 200, json={"result": deepest})
    await call(
        client,
        "POST",
        "/runs/complete",
        200,
        json={"runs": [{"run_id": batched["run_id"], "result": deepest}]},
    )
    for task in (single, batched):
        assert (await call(client, "GET", f"/tasks/{task['task_id']}", 200))["result"] == deepest
        resp = await client.get(f"/ui/tasks/{task['task_id']}")
        assert resp.status == 200


async def test_a_value_stored_before_the_limit_reads_back(client, queue, db):
    """A value deeper than anything accepted now, as deep as the old server stored (its
    creates failed from 980 levels on): deeper than orjson writes and `json` recurses."""
    task = await make_task(client, "q")
    legacy = nested_text(979)
    run_sql(
        db, "UPDATE tasks SET params = CAST(%s AS jsonb) WHERE id = %s", legacy, task["task_id"]
    )
    resp = await client.get(f"{API}/tasks/{task['task_id']}")
    assert resp.status == 200 and legacy in await resp.text()
    resp = await client.get(f"/ui/tasks/{task['task_id']}")
    assert resp.status == 200
    resp = await client.post(f"{API}/queues/q/tasks/claim", json={"limit": 1, "claim_timeout": 60})
    assert resp.status == 200 and legacy in await resp.text()


# -- a claim whose answer cannot be written -------------------------------------------------


RUNS = (
    "SELECT id, status, attempt, available_at, claimed_at, first_claimed_at, claim_expires_at,"
    " claim_token FROM runs ORDER BY id"
)


async def test_a_claim_that_cannot_answer_puts_its_runs_back(client, queue, db, monkeypatch):
    created = [await make_task(client, "q", params={"i": i}) for i in range(3)]
    before = run_sql(db, RUNS)

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("rendering failed")

    with monkeypatch.context() as patch:
        patch.setattr(task_handlers, "json_response", broken)
        resp = await client.post(
            f"{API}/queues/q/tasks/claim", json={"limit": 10, "claim_timeout": 600}
        )
        assert resp.status == 500
    # pending again, attempt unspent, no claim token: as before the claim
    assert run_sql(db, RUNS) == before
    stats = await call(client, "GET", "/queues/q/stats", 200)
    assert (stats["pending_runs"], stats["claimed_runs"]) == (3, 0)
    again = await claim(client, "q", limit=10)
    assert sorted(t["run_id"] for t in again) == sorted(t["run_id"] for t in created)
    assert {t["attempt"] for t in again} == {1}


async def test_a_claim_of_a_value_that_cannot_be_read_back_puts_its_runs_back(client, queue, db):
    """A stored value no parser here reads (an integer of 5,000 digits, which the API
    refuses but jsonb holds): each claim that takes it answers 500 and releases it."""
    await make_task(client, "q", params={"i": 1})
    unreadable = await make_task(client, "q")
    huge = "CAST(repeat('9', 5000) AS jsonb)"
    run_sql(db, f"UPDATE tasks SET params = {huge} WHERE id = %s", unreadable["task_id"])
    before = run_sql(db, RUNS)
    for poll in (0, 1):  # the plain claim, and the long poll's claim
        resp = await client.post(
            f"{API}/queues/q/tasks/claim",
            json={"limit": 10, "claim_timeout": 600, "long_poll_seconds": poll},
        )
        assert resp.status == 500
        assert run_sql(db, RUNS) == before
    run_sql(db, "UPDATE tasks SET params = '1' WHERE id = %s", unreadable["task_id"])
    assert len(await claim(client, "q", limit=10)) == 2


async def test_an_integer_beyond_64_bits_reads_back_exactly(client: TestClient) -> None:
    """jsonb keeps the number exactly; every read gives the same integer back, not a float
    (orjson reads one beyond 64 bits as a float, so the stored text goes to `json`)."""
    params = {"n": 123456789012345678901234567890, "small": 7}
    await make_queue(client, "big")
    created = await make_task(client, "big", params=params)
    task = await call(client, "GET", f"/tasks/{created['task_id']}", 200)
    assert task["params"] == params and type(task["params"]["n"]) is int
    [claimed] = await claim(client, "big")
    assert claimed["params"] == params and type(claimed["params"]["n"]) is int
