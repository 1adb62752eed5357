"""dq_complete_run's answers: the fenced UPDATE first, the run's lock only when it is
refused, and then the reason: not_found, stale_token, conflict (with the run's status),
or ok; the task takes the result. A complete or fail repeated with the claim token it
committed under (its answer was lost) answers its first outcome again and changes
nothing (dq_complete_run, dq_complete_runs, dq_fail_run)."""

from __future__ import annotations

import json
from typing import Any

import aiosql

from durable_queue.resources import resource_dir

Q = aiosql.from_path(resource_dir("queries"), "psycopg2")


def create(conn: Any, queue: str, count: int) -> list[Any]:
    """`count` tasks (one run each) in one batch; their task ids."""
    answer = Q.create_tasks(conn, queue_name=queue, tasks=json.dumps([{"task_name": "t"}] * count))
    return [item["task_id"] for item in json.loads(answer["body"])["tasks"]]


def test_complete_run_answers_each_outcome(db: Any) -> None:
    Q.insert_queue(db, name="q", task_ttl_seconds=0, event_ttl_seconds=0)
    create(db, "q", 2)
    [held, other] = Q.claim_runs(db, queue_name="q", limit=2, claim_timeout=600)
    token = str(held["claim_token"])

    def complete(run_id: Any, claim_token: str | None) -> tuple[str, str | None]:
        row = Q.complete_run(db, run_id=run_id, result='{"ok": 1}', claim_token=claim_token)
        return row["outcome"], row["status"]

    assert complete("01890000-0000-7000-8000-000000000000", None) == ("not_found", None)
    assert complete(held["run_id"], "not-the-token") == ("stale_token", "claimed")
    assert complete(held["run_id"], token) == ("ok", "completed")
    assert complete(held["run_id"], token) == ("ok", "completed")  # a repeat: same answer
    assert complete(held["run_id"], None) == ("conflict", "completed")  # no token: no proof
    assert complete(held["run_id"], "not-the-token") == ("conflict", "completed")
    assert complete(other["run_id"], None) == ("ok", "completed")
    [pending] = create(db, "q", 1)
    [run_id] = [run["id"] for run in Q.list_task_runs(db, task_id=pending)]
    assert complete(run_id, None) == ("conflict", "pending")
    task = Q.get_task_detail(db, task_id=held["task_id"])
    assert (task["status"], task["result"]) == ("completed", {"ok": 1})


def state(db: Any, task_id: Any) -> Any:
    """The task and its runs, as stored."""
    return Q.get_task_detail(db, task_id=task_id), list(Q.list_task_runs(db, task_id=task_id))


def test_a_repeated_complete_changes_nothing(db: Any) -> None:
    Q.insert_queue(db, name="q", task_ttl_seconds=0, event_ttl_seconds=0)
    [task_id] = create(db, "q", 1)
    [held] = Q.claim_runs(db, queue_name="q", limit=1, claim_timeout=600)
    token = str(held["claim_token"])
    Q.complete_run(db, run_id=held["run_id"], result='"first"', claim_token=token)
    before = state(db, task_id)
    row = Q.complete_run(db, run_id=held["run_id"], result='"second"', claim_token=token)
    assert (row["outcome"], row["status"]) == ("ok", "completed")
    assert state(db, task_id) == before
    assert before[0]["result"] == "first"  # the first complete's result stands


def test_a_fail_repeated_with_its_token_answers_the_first_answer(db: Any) -> None:
    Q.insert_queue(db, name="q", task_ttl_seconds=0, event_ttl_seconds=0)
    tasks = [
        {"task_name": "t", "max_attempts": 3,
         "retry_strategy": {"kind": "exponential", "base_seconds": 7}},
        {"task_name": "last"},
    ]  # fmt: skip
    answer = Q.create_tasks(db, queue_name="q", tasks=json.dumps(tasks))
    retried, last = [item["task_id"] for item in json.loads(answer["body"])["tasks"]]
    claims = {
        str(c["task_id"]): c for c in Q.claim_runs(db, queue_name="q", limit=2, claim_timeout=9)
    }

    def fail(held: Any, claim_token: str | None) -> tuple[Any, ...]:
        row = Q.fail_run(db, run_id=held["run_id"], error="boom", claim_token=claim_token)
        return tuple(
            row[k] for k in ("outcome", "status", "attempt", "next_run_id", "next_attempt_at")
        )

    first = claims[retried]
    token = str(first["claim_token"])
    answer = fail(first, token)
    assert answer[:3] == ("ok", "failed", 1) and answer[3] is not None
    before = state(db, retried)
    assert fail(first, token) == answer
    assert state(db, retried) == before
    assert fail(first, None)[:2] == ("conflict", "failed")  # without a token: no proof
    assert fail(first, "not-the-token")[:2] == ("conflict", "failed")
    complete = Q.complete_run(db, run_id=first["run_id"], result="1", claim_token=token)
    assert (complete["outcome"], complete["status"]) == ("conflict", "failed")

    # a later explicit failure (failure count 2) does not change the first answer
    Q.schedule_run(db, run_id=answer[3], run_at="2000-01-01T00:00:00Z", claim_token=None)
    [second] = Q.claim_runs(db, queue_name="q", limit=1, claim_timeout=9)
    later = fail(second, str(second["claim_token"]))
    assert later[:3] == ("ok", "failed", 2) and later[3] is not None
    assert fail(first, token) == answer
    assert fail(second, str(second["claim_token"])) == later

    # the last attempt: no retry, and none in the repeat
    end = claims[last]
    final = fail(end, str(end["claim_token"]))
    assert final == ("ok", "failed", 1, None, None)
    assert fail(end, str(end["claim_token"])) == final
    assert Q.get_task_detail(db, task_id=last)["status"] == "failed"


def test_a_batch_item_repeated_with_its_token_is_completed_again(db: Any) -> None:
    Q.insert_queue(db, name="q", task_ttl_seconds=0, event_ttl_seconds=0)
    task_ids = create(db, "q", 2)
    done, failed = Q.claim_runs(db, queue_name="q", limit=2, claim_timeout=600)
    items = [{"run_id": str(done["run_id"]), "result": 1, "claim_token": str(done["claim_token"])}]
    assert [r["outcome"] for r in Q.complete_runs(db, runs=json.dumps(items))] == ["completed"]
    Q.fail_run(db, run_id=failed["run_id"], error="x", claim_token=str(failed["claim_token"]))
    before = [state(db, task_id) for task_id in task_ids]
    repeat = [
        *items,
        {"run_id": str(done["run_id"]), "result": 2},
        {"run_id": str(failed["run_id"]), "claim_token": str(failed["claim_token"])},
    ]
    rows = Q.complete_runs(db, runs=json.dumps(repeat))
    assert [(r["outcome"], r["status"]) for r in rows] == [
        ("completed", "completed"),  # the repeat, with its token
        ("conflict", "completed"),  # without a token nothing proves it is the holder
        ("conflict", "failed"),  # its claim ended in a fail, not a complete
    ]
    assert [state(db, task_id) for task_id in task_ids] == before
