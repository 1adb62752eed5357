"""POST /queues/{queue_name}/tasks/batch and POST /runs/complete over HTTP, on a real
PostgreSQL: all-or-nothing creates named by item, idempotency inside and across batches,
per-item fencing, the 1 to 1,000 limits, and concurrent claimers completing in batches."""

from __future__ import annotations

import asyncio
import random
import uuid

import pytest

from tests.helpers import call, claim, error, is_uuid7, make_queue, make_task, query_one

BATCH = "/queues/q/tasks/batch"
COMPLETE = "/runs/complete"


def stored(dsn: str) -> tuple[int, int]:
    """(tasks, runs) in the database."""
    return query_one(dsn, "SELECT (SELECT count(*) FROM tasks), (SELECT count(*) FROM runs)")


def run_status(dsn: str, run_id: str) -> str:
    return query_one(dsn, "SELECT status FROM runs WHERE id = %s", (run_id,))[0]


@pytest.fixture
async def queue(client):
    await make_queue(client, "q")


async def create(client, *tasks: dict) -> list[dict]:
    body = await call(client, "POST", BATCH, 200, json={"tasks": list(tasks)})
    assert set(body) == {"tasks"}
    return body["tasks"]


async def complete(client, *runs: dict) -> list[dict]:
    body = await call(client, "POST", COMPLETE, 200, json={"runs": list(runs)})
    assert set(body) == {"runs"}
    return body["runs"]


# -- batch create -------------------------------------------------------------------------


async def test_batch_create_answers_in_input_order_and_stores_every_field(client, queue):
    workflow = await call(client, "POST", "/workflow-runs", 201, json={"workflow_name": "wf"})
    answers = await create(
        client,
        {"task_name": "a", "params": {"n": 1}, "headers": {"h": "v"}, "max_attempts": 3},
        {"task_name": "b", "workflow_run_id": workflow["workflow_run_id"], "params": None},
        {"task_name": "c", "retry_strategy": {"kind": "fixed", "base_seconds": 5}},
    )
    assert [set(a) for a in answers] == [
        {"task_id", "run_id", "created"},
        {"task_id", "run_id", "workflow_run_id", "created"},
        {"task_id", "run_id", "created"},
    ]
    assert all(a["created"] is True for a in answers)
    assert all(is_uuid7(a["task_id"]) and is_uuid7(a["run_id"]) for a in answers)
    assert answers[1]["workflow_run_id"] == workflow["workflow_run_id"]

    a, b, c = [await call(client, "GET", f"/tasks/{x['task_id']}", 200) for x in answers]
    assert (a["task_name"], a["params"], a["headers"], a["max_attempts"]) == (
        "a",
        {"n": 1},
        {"h": "v"},
        3,
    )
    assert (b["task_name"], b["params"], b["workflow_run_id"]) == (
        "b",
        None,
        answers[1]["workflow_run_id"],
    )
    assert c["retry_strategy"] == {"kind": "fixed", "base_seconds": 5}
    for detail, answer in zip((a, b, c), answers, strict=True):
        assert [(r["id"], r["status"]) for r in detail["runs"]] == [(answer["run_id"], "pending")]


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"params": {}}, "tasks[2].task_name is required"),
        ({"task_name": 7}, "tasks[2].task_name must be a string"),
        ({"task_name": "x", "max_attempts": 0}, "tasks[2].max_attempts must be between 1 and"),
        ({"task_name": "x", "headers": {"k": 1}}, "tasks[2].headers.k.value must be a string"),
        (
            {"task_name": "x", "retry_strategy": {"kind": "fixed"}},
            "tasks[2].retry_strategy.base_seconds is required",
        ),
        ({"task_name": "x", "run_at": "tomorrow"}, "tasks[2].run_at must be an RFC 3339"),
        ({"task_name": "x", "workflow_run_id": "nope"}, "tasks[2].workflow_run_id must be a"),
        ({"task_name": "x", "idempotency_key": "k" * 1025}, "tasks[2].idempotency_key must be"),
        ({"task_name": "bad\u0000name"}, "tasks[2].task_name must not contain NUL"),
        ("not an object", "tasks[2] must be an object"),
        (None, "tasks[2] may not be null"),
    ],
)
async def test_one_bad_item_refuses_the_batch_naming_it(client, queue, database_url, item, message):
    tasks = [{"task_name": "fine", "idempotency_key": "k"}, {"task_name": "fine"}, item]
    got = await error(client, "POST", BATCH, 400, "VALIDATION_ERROR", json={"tasks": tasks})
    assert got.startswith(message), got
    assert stored(database_url) == (0, 0)


async def test_the_first_bad_item_is_the_one_named(client, queue, database_url):
    tasks = [{"task_name": "ok"}, {"task_name": "ok"}, {"task_name": 1}, {}, {"task_name": ""}]
    got = await error(client, "POST", BATCH, 400, "VALIDATION_ERROR", json={"tasks": tasks})
    assert got == "tasks[2].task_name must be a string"
    assert stored(database_url) == (0, 0)


async def test_a_missing_workflow_run_refuses_the_batch(client, queue, database_url):
    missing = str(uuid.uuid4())
    tasks = [{"task_name": "ok"}, {"task_name": "x", "workflow_run_id": missing}]
    got = await error(client, "POST", BATCH, 404, "NOT_FOUND", json={"tasks": tasks})
    assert got == f"workflow run {missing} not found"
    assert stored(database_url) == (0, 0)


async def test_batch_create_on_an_unknown_or_invalid_queue(client, database_url):
    body = {"tasks": [{"task_name": "x"}]}
    got = await error(client, "POST", "/queues/nope/tasks/batch", 404, "NOT_FOUND", json=body)
    assert got == 'queue "nope" not found'
    got = await error(
        client, "POST", "/queues/a%20b/tasks/batch", 400, "VALIDATION_ERROR", json=body
    )
    assert got.startswith("queue_name must be")
    assert stored(database_url) == (0, 0)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "tasks is required"),
        ({"tasks": None}, "tasks may not be null"),
        ({"tasks": {"task_name": "x"}}, "tasks must be a list"),
        ({"tasks": []}, "tasks must hold 1 to 1000 items"),
    ],
)
async def test_batch_create_body_shape(client, queue, body, message):
    assert await error(client, "POST", BATCH, 400, "VALIDATION_ERROR", json=body) == message


async def test_batch_create_holds_at_most_a_thousand_tasks(client, queue, database_url):
    answers = await create(client, *({"task_name": "t", "params": i} for i in range(1000)))
    assert len(answers) == 1000 and all(a["created"] for a in answers)
    assert len({a["task_id"] for a in answers}) == 1000
    assert stored(database_url) == (1000, 1000)

    too_many = {"tasks": [{"task_name": "t"}] * 1001}
    got = await error(client, "POST", BATCH, 400, "VALIDATION_ERROR", json=too_many)
    assert got == "tasks must hold 1 to 1000 items"
    assert stored(database_url) == (1000, 1000)


async def test_idempotency_keys_inside_one_batch_and_against_earlier_ones(
    client, queue, database_url
):
    single = await make_task(client, task_name="single", idempotency_key="k-single")
    [earlier] = await create(client, {"task_name": "earlier", "idempotency_key": "k-earlier"})
    answers = await create(
        client,
        {"task_name": "first", "idempotency_key": "k"},
        {"task_name": "plain"},
        {"task_name": "second", "idempotency_key": "k"},
        {"task_name": "again", "idempotency_key": "k-earlier"},
        {"task_name": "again", "idempotency_key": "k-single"},
        {"task_name": "plain"},
    )
    assert [a["created"] for a in answers] == [True, True, False, False, False, True]

    def ids(answer: dict) -> tuple[str, str]:
        return answer["task_id"], answer["run_id"]

    assert ids(answers[2]) == ids(answers[0])
    assert ids(answers[3]) == ids(earlier)
    assert ids(answers[4]) == ids(single)
    assert ids(answers[1]) != ids(answers[5])
    assert (await call(client, "GET", f"/tasks/{answers[0]['task_id']}", 200))["task_name"] == (
        "first"
    )
    assert stored(database_url) == (5, 5)

    # the same batch again (a client's retry) creates nothing keyed and answers the same ids
    keyed = [
        {"task_name": "first", "idempotency_key": "k"},
        {"task_name": "second", "idempotency_key": "k"},
        {"task_name": "earlier", "idempotency_key": "k-earlier"},
    ]
    again = await create(client, *keyed)
    assert [a["created"] for a in again] == [False, False, False]
    assert [ids(a) for a in again] == [ids(answers[0]), ids(answers[0]), ids(earlier)]
    assert stored(database_url) == (5, 5)


async def test_an_idempotency_key_is_per_queue(client, queue):
    await make_queue(client, "other")
    [here] = await create(client, {"task_name": "t", "idempotency_key": "k"})
    body = {"tasks": [{"task_name": "t", "idempotency_key": "k"}]}
    [there] = (await call(client, "POST", "/queues/other/tasks/batch", 200, json=body))["tasks"]
    assert there["created"] is True and there["task_id"] != here["task_id"]


# -- batch complete -----------------------------------------------------------------------


async def test_batch_complete_fences_each_item_on_its_own(client, queue, database_url):
    made = await create(client, *({"task_name": f"t{i}"} for i in range(5)))
    claimed = await claim(client, limit=4)
    done, twice, already, canceled = claimed
    [pending] = {m["run_id"] for m in made} - {c["run_id"] for c in claimed}
    unknown = str(uuid.uuid4())
    await call(client, "POST", f"/runs/{already['run_id']}/complete", 200)
    await call(client, "POST", f"/tasks/{canceled['task_id']}/cancel", 200)

    answers = await complete(
        client,
        {"run_id": done["run_id"], "result": {"ok": 1}},
        {"run_id": twice["run_id"]},
        {"run_id": twice["run_id"], "result": "second"},
        {"run_id": already["run_id"], "result": "late"},
        {"run_id": pending},
        {"run_id": canceled["run_id"]},
        {"run_id": unknown},
    )
    assert answers == [
        {"run_id": done["run_id"], "status": "completed"},
        {"run_id": twice["run_id"], "status": "completed"},
        {
            "run_id": twice["run_id"],
            "status": "conflict",
            "error": f"run {twice['run_id']} is completed, not claimed: cannot complete",
        },
        {
            "run_id": already["run_id"],
            "status": "conflict",
            "error": f"run {already['run_id']} is completed, not claimed: cannot complete",
        },
        {
            "run_id": pending,
            "status": "conflict",
            "error": f"run {pending} is pending, not claimed: cannot complete",
        },
        {
            "run_id": canceled["run_id"],
            "status": "conflict",
            "error": f"run {canceled['run_id']} is canceled, not claimed: cannot complete",
        },
        {"run_id": unknown, "status": "not_found", "error": f"run {unknown} not found"},
    ]

    # the completed ones hold their results; the refused ones changed nothing
    done_task = await call(client, "GET", f"/tasks/{done['task_id']}", 200)
    assert (done_task["status"], done_task["result"]) == ("completed", {"ok": 1})
    twice_task = await call(client, "GET", f"/tasks/{twice['task_id']}", 200)
    assert twice_task["status"] == "completed" and "result" not in twice_task
    already_task = await call(client, "GET", f"/tasks/{already['task_id']}", 200)
    assert "result" not in already_task
    assert run_status(database_url, pending) == "pending"
    assert (await call(client, "GET", f"/tasks/{canceled['task_id']}", 200))["status"] == (
        "canceled"
    )


async def test_a_given_null_result_is_stored_as_null(client, queue):
    await create(client, {"task_name": "t"})
    [task] = await claim(client)
    assert await complete(client, {"run_id": task["run_id"], "result": None}) == [
        {"run_id": task["run_id"], "status": "completed"}
    ]
    detail = await call(client, "GET", f"/tasks/{task['task_id']}", 200)
    assert "result" in detail and detail["result"] is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "runs is required"),
        ({"runs": "x"}, "runs must be a list"),
        ({"runs": []}, "runs must hold 1 to 1000 items"),
        ({"runs": [{"run_id": "RUN"}, {}]}, "runs[1].run_id is required"),
        ({"runs": [{"run_id": "RUN"}, {"run_id": "nope"}]}, "runs[1].run_id must be a valid UUID"),
        ({"runs": [{"run_id": "RUN"}, 3]}, "runs[1] must be an object"),
        (
            {"runs": [{"run_id": "RUN"}, {"run_id": "RUN", "result": "a\u0000"}]},
            "runs[1].result must not contain NUL",
        ),
    ],
)
async def test_a_bad_batch_complete_completes_nothing(client, queue, database_url, body, message):
    await create(client, {"task_name": "t"})
    [task] = await claim(client)
    for item in body.get("runs", []):
        if isinstance(item, dict) and item.get("run_id") == "RUN":
            item["run_id"] = task["run_id"]
    got = await error(client, "POST", COMPLETE, 400, "VALIDATION_ERROR", json=body)
    assert got.startswith(message), got
    assert run_status(database_url, task["run_id"]) == "claimed"


async def test_batch_complete_holds_at_most_a_thousand_runs(client, queue, database_url):
    await create(client, *({"task_name": "t"} for _ in range(1000)))
    claimed = await claim(client, limit=1000)
    assert len(claimed) == 1000

    too_many = {
        "runs": [{"run_id": t["run_id"]} for t in claimed] + [{"run_id": claimed[0]["run_id"]}]
    }
    got = await error(client, "POST", COMPLETE, 400, "VALIDATION_ERROR", json=too_many)
    assert got == "runs must hold 1 to 1000 items"
    assert query_one(database_url, "SELECT count(*) FROM runs WHERE status = 'claimed'") == (1000,)

    answers = await complete(
        client, *({"run_id": t["run_id"], "result": i} for i, t in enumerate(claimed))
    )
    assert [a["run_id"] for a in answers] == [t["run_id"] for t in claimed]
    assert {a["status"] for a in answers} == {"completed"}
    assert query_one(database_url, "SELECT count(*) FROM runs WHERE status = 'completed'") == (
        1000,
    )


# -- concurrency ----------------------------------------------------------------------------


async def test_eight_claimers_completing_in_batches_complete_each_task_exactly_once(
    client, queue, database_url
):
    total = 2000
    for start in range(0, total, 1000):
        await create(client, *({"task_name": "t", "params": i} for i in range(start, start + 1000)))
    rng = random.Random(11)
    completed: list[str] = []

    async def claimer() -> None:
        while True:
            batch = await claim(client, limit=100, claim_timeout=600)
            if not batch:
                return
            items = [{"run_id": t["run_id"], "result": t["params"]} for t in batch]
            rng.shuffle(items)
            if completed:  # a stale duplicate rides along: its own conflict, nothing else
                items.append({"run_id": rng.choice(completed), "result": "stale"})
            answers = await complete(client, *items)
            assert [a["run_id"] for a in answers] == [i["run_id"] for i in items]
            fresh, stale = answers[: len(batch)], answers[len(batch) :]
            assert {a["status"] for a in fresh} == {"completed"}, fresh
            assert all(a["status"] == "conflict" for a in stale), stale
            completed.extend(a["run_id"] for a in fresh)

    await asyncio.gather(*(claimer() for _ in range(8)))
    assert len(completed) == total == len(set(completed))
    # in the database: every task completed, with exactly one run, completed; none claimed
    assert query_one(
        database_url,
        "SELECT count(*), count(*) FILTER (WHERE status = 'completed' AND result = params)"
        " FROM tasks",
    ) == (total, total)
    assert query_one(
        database_url,
        "SELECT count(DISTINCT task_id), count(*) FILTER (WHERE status = 'completed'),"
        " count(*) FILTER (WHERE status = 'claimed'), count(*) FROM runs",
    ) == (total, total, 0, total)
