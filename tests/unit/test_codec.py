"""Records to and from their wire and row forms (no database)."""

from __future__ import annotations

import datetime as dt
import uuid

from durable_queue.codec import from_row, to_wire
from durable_queue.jsonvalue import JSON_NULL
from durable_queue.wire import ClaimedTask

NOW = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def row(**extra: object) -> dict[str, object]:
    return {
        "run_id": uuid.uuid4(),
        "task_id": uuid.uuid4(),
        "attempt": 1,
        "task_name": "t",
        "max_attempts": 1,
        "claim_expires_at": NOW,
        "claim_token": "a-claim-token",
        "priority": 0,
        "column_the_record_does_not_declare": 1,
        **extra,
    }


def test_never_given_fields_are_omitted_and_a_given_null_is_null():
    wire = to_wire(from_row(row(params=JSON_NULL), ClaimedTask))
    assert wire["params"] is None
    assert {"headers", "retry_strategy", "workflow_run_id", "concurrency_key"}.isdisjoint(wire)
    assert wire["claim_expires_at"] == "2030-01-02T03:04:05Z"


def test_a_retry_strategy_comes_back_as_it_was_given():
    given = {"kind": "exponential", "base_seconds": 0, "factor": 1.5}
    wire = to_wire(from_row(row(retry_strategy=given), ClaimedTask))
    assert wire["retry_strategy"] == given
    assert type(wire["retry_strategy"]["base_seconds"]) is int  # 0 stays 0, not 0.0
