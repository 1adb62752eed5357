"""release_claims: a claim whose answer could not be written puts its runs back as it
found them (pending, same available_at, attempt unspent, token cleared), only where the
paired claim token still holds them; the next claim picks them first again."""

from __future__ import annotations

import json
from typing import Any

import aiosql

from durable_queue.resources import resource_dir
from tests.helpers import run_sql

Q = aiosql.from_path(resource_dir("queries"), "psycopg2")

RUN_STATE = (
    "SELECT id, status, attempt, available_at, claimed_at, first_claimed_at, claim_expires_at,"
    " claim_token FROM runs ORDER BY available_at, id"
)


def queue_with(db: Any, name: str, count: int) -> None:
    Q.insert_queue(db, name=name, task_ttl_seconds=0, event_ttl_seconds=0)
    for i in range(count):  # one transaction each: each later due than the one before
        Q.create_tasks(db, queue_name=name, tasks=json.dumps([{"task_name": "t", "params": i}]))


def claimed(db: Any, queue: str, limit: int) -> list[Any]:
    return list(Q.claim_runs(db, queue_name=queue, limit=limit, claim_timeout=600))


def release(db: Any, runs: list[Any], tokens: list[str] | None = None) -> int:
    return Q.release_claims(
        db,
        run_ids=[run["run_id"] for run in runs],
        claim_tokens=tokens if tokens is not None else [run["claim_token"] for run in runs],
    )


def test_released_runs_are_as_before_the_claim_and_claimed_first_again(db: Any) -> None:
    queue_with(db, "q", 4)
    before = run_sql(db, RUN_STATE)
    runs = claimed(db, "q", 3)
    assert release(db, runs) == 3
    assert run_sql(db, RUN_STATE) == before
    again = claimed(db, "q", 3)
    assert [r["run_id"] for r in again] == [r["run_id"] for r in runs]
    assert [r["attempt"] for r in again] == [1, 1, 1]
    assert {r["claim_token"] for r in again}.isdisjoint({r["claim_token"] for r in runs})


def test_only_runs_still_held_under_the_given_token_move(db: Any) -> None:
    queue_with(db, "q", 2)
    first, second = claimed(db, "q", 2)
    # a token of another claim (or none live) releases nothing
    assert release(db, [first], [second["claim_token"]]) == 0
    Q.complete_run(db, run_id=second["run_id"], result="1", claim_token=second["claim_token"])
    assert release(db, [first, second]) == 1
    statuses = {row["id"]: row["status"] for row in run_sql(db, RUN_STATE)}
    assert statuses == {first["run_id"]: "pending", second["run_id"]: "completed"}


def test_a_run_claimed_before_keeps_its_first_claim_time(db: Any) -> None:
    queue_with(db, "q", 1)
    [run] = claimed(db, "q", 1)
    Q.schedule_run(db, run_id=run["run_id"], run_at="-infinity", claim_token=run["claim_token"])
    [first_claimed_at] = [row["first_claimed_at"] for row in run_sql(db, RUN_STATE)]
    [again] = claimed(db, "q", 1)
    assert release(db, [again]) == 1
    [row] = run_sql(db, RUN_STATE)
    assert (row["status"], row["first_claimed_at"]) == ("pending", first_claimed_at)


def test_the_run_counts_follow(db: Any) -> None:
    queue_with(db, "q", 2)
    queue_id = Q.get_queue_by_name(db, name="q")["id"]

    def runs_by_status() -> dict[str, int]:
        rows = Q.queue_counts(db, queue_id=queue_id)
        return {r["status"]: r["count"] for r in rows if r["kind"] == "run" and r["count"]}

    release(db, claimed(db, "q", 2))
    assert runs_by_status() == {"pending": 2}
