"""Batch create and batch complete at the store level, against a real PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import secrets
import uuid

import pytest

from durable_queue.codec import converter, to_wire
from durable_queue.commands import NewTask
from durable_queue.errors import NotFound, ValidationError
from durable_queue.jsonvalue import JSON_NULL
from durable_queue.wire import CreatedTask, CreatedTasks, JsonText
from tests.helpers import query_one


def answered(answer: JsonText) -> list[tuple[CreatedTask, bool]]:
    """The (ids, created) pairs of a batch create's JSON text, which must be exactly the
    wire form of the record it names (same keys, an absent workflow run omitted)."""
    wire = json.loads(answer.text)
    record = converter.structure(wire, answer.record)
    assert answer.record is CreatedTasks and to_wire(record) == wire
    return [
        (CreatedTask(item.task_id, item.run_id, item.workflow_run_id), item.created)
        for item in record.tasks
    ]


def counts(dsn: str) -> tuple[int, int]:
    return query_one(dsn, "SELECT (SELECT count(*) FROM tasks), (SELECT count(*) FROM runs)")


async def test_batch_create_answers_in_input_order_with_every_field_stored(store, database_url):
    run_at = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    workflow = await store.create_workflow_run("wf")
    tasks = [
        NewTask("a", params={"n": 1}, headers={"h": "v"}, max_attempts=3),
        NewTask("b", params=JSON_NULL, run_at=run_at, workflow_run_id=workflow.workflow_run_id),
        NewTask(
            "c",
            retry_strategy={"kind": "fixed", "base_seconds": 5},
            start_timeout=60,
            execution_timeout=120,
        ),
    ]
    answers = answered(await store.create_tasks("q", tasks))
    assert [created for _, created in answers] == [True, True, True]
    assert answers[1][0].workflow_run_id == workflow.workflow_run_id
    for new, (ids, _) in zip(tasks, answers, strict=True):
        detail = await store.get_task(ids.task_id)
        assert detail.task_name == new.task_name
        assert [run.id for run in detail.runs] == [ids.run_id]
    a, b, c = [await store.get_task(ids.task_id) for ids, _ in answers]
    assert (a.params, a.headers, a.max_attempts) == ({"n": 1}, {"h": "v"}, 3)
    assert b.params is JSON_NULL and b.workflow_run_id == workflow.workflow_run_id
    assert c.retry_strategy == {"kind": "fixed", "base_seconds": 5}
    assert (c.start_timeout, c.execution_timeout) == (60, 120)
    available_at, start_deadline = query_one(
        database_url,
        "SELECT r.available_at, t.start_deadline FROM runs r JOIN tasks t ON t.id = r.task_id"
        " WHERE r.id = %s",
        (str(answers[1][0].run_id),),
    )
    assert available_at == run_at and start_deadline is None
    # only the due ones are claimable (runs of one batch share their due time, so their
    # claim order among themselves is not promised: docs/batch.md)
    claimed = await store.claim("q", 10, 60)
    assert sorted(t.task_name for t in claimed) == ["a", "c"]


async def test_batch_create_is_all_or_nothing(store, database_url):
    unindexable = secrets.token_hex(10_000)  # too large for the idempotency key's index
    with pytest.raises(ValidationError):
        await store.create_tasks(
            "q",
            [
                NewTask("ok"),
                NewTask("ok", idempotency_key="k"),
                NewTask("x", idempotency_key=unindexable),
            ],
        )
    assert counts(database_url) == (0, 0)

    with pytest.raises(NotFound, match=r"workflow run .* not found"):
        await store.create_tasks("q", [NewTask("ok"), NewTask("x", workflow_run_id=uuid.uuid4())])
    with pytest.raises(NotFound, match='queue "nope" not found'):
        await store.create_tasks("nope", [NewTask("ok")])
    assert counts(database_url) == (0, 0)


async def test_idempotency_keys_inside_one_batch_and_against_earlier_tasks(store, database_url):
    earlier, _ = await store.create_task("q", NewTask("old", idempotency_key="k2"))
    answers = answered(
        await store.create_tasks(
            "q",
            [
                NewTask("first", idempotency_key="k"),
                NewTask("plain"),
                NewTask("second", idempotency_key="k"),
                NewTask("again", idempotency_key="k2"),
                NewTask("third", idempotency_key="k"),
            ],
        )
    )
    created = [flag for _, flag in answers]
    assert created == [True, True, False, False, False]
    first = answers[0][0]
    assert answers[2][0] == first and answers[4][0] == first
    assert answers[3][0].task_id == earlier.task_id and answers[3][0].run_id == earlier.run_id
    assert (await store.get_task(first.task_id)).task_name == "first"
    assert counts(database_url) == (3, 3)
    # the same batch again creates nothing and answers the same ids
    again = answered(await store.create_tasks("q", [NewTask("first", idempotency_key="k")]))
    assert again == [(first, False)]


async def test_batch_complete_fences_each_item_on_its_own(store, database_url):
    made = answered(await store.create_tasks("q", [NewTask(f"t{i}") for i in range(4)]))
    claimed = await store.claim("q", 3, 60)
    assert len(claimed) == 3
    done, twice, canceled = claimed
    await store.cancel_task(canceled.task_id)
    pending_run = next(
        ids.run_id for ids, _ in made if ids.task_id not in {c.task_id for c in claimed}
    )
    unknown = uuid.uuid4()

    answers = await store.complete_runs(
        [
            (done.run_id, {"ok": 1}),
            (twice.run_id, JSON_NULL),
            (twice.run_id, "again"),
            (pending_run, None),
            (canceled.run_id, None),
            (unknown, None),
        ]
    )
    assert [(a.run_id, a.status) for a in answers] == [
        (done.run_id, "completed"),
        (twice.run_id, "completed"),
        (twice.run_id, "conflict"),
        (pending_run, "conflict"),
        (canceled.run_id, "conflict"),
        (unknown, "not_found"),
    ]
    assert answers[0].error is None
    assert answers[2].error == f"run {twice.run_id} is completed, not claimed: cannot complete"
    assert answers[3].error == f"run {pending_run} is pending, not claimed: cannot complete"
    assert answers[4].error == f"run {canceled.run_id} is canceled, not claimed: cannot complete"
    assert answers[5].error == f"run {unknown} not found"

    done_task = await store.get_task(done.task_id)
    assert (done_task.status, done_task.result) == ("completed", {"ok": 1})
    twice_task = await store.get_task(twice.task_id)
    assert twice_task.status == "completed" and twice_task.result is JSON_NULL
    assert (await store.get_task(canceled.task_id)).status == "canceled"
    assert query_one(
        database_url, "SELECT status FROM runs WHERE id = %s", (str(pending_run),)
    ) == ("pending",)


async def test_eight_claimers_with_batch_completes_complete_each_task_exactly_once(
    store, database_url
):
    total = 2000
    for start in range(0, total, 500):
        await store.create_tasks("q", [NewTask("t", params=i) for i in range(start, start + 500)])
    rng = random.Random(9)
    completed: list[uuid.UUID] = []
    claims = 0

    async def claimer() -> None:
        nonlocal claims
        while True:
            batch = await store.claim("q", rng.randint(1, 60), 600)
            claims += len(batch)
            if not batch:
                return
            # a stale duplicate of an earlier item rides along in every batch after the first
            items = [(t.run_id, t.params) for t in batch]
            if completed:
                items.append((rng.choice(completed), "stale"))
            answers = await store.complete_runs(items)
            for answer in answers[: len(batch)]:
                assert answer.status == "completed", answer
            for answer in answers[len(batch) :]:
                assert answer.status == "conflict", answer
            completed.extend(a.run_id for a in answers[: len(batch)])

    await asyncio.gather(*(claimer() for _ in range(8)))
    assert claims == total
    assert len(completed) == total == len(set(completed))
    assert query_one(
        database_url,
        "SELECT count(*) FILTER (WHERE status = 'completed'), count(*) FROM runs",
    ) == (total, total)
    assert query_one(
        database_url,
        "SELECT count(*) FILTER (WHERE status = 'completed' AND result = params), count(*)"
        " FROM tasks",
    ) == (total, total)
