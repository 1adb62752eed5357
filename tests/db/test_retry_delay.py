"""The backoff between explicit failures, computed in the database (dq_retry_delay)."""

from __future__ import annotations

import json

import psycopg2
import pytest

YEAR = 365 * 24 * 3600.0


@pytest.fixture
def delay(database_url):
    conn = psycopg2.connect(database_url)

    def delay(strategy, failures: int) -> float:
        with conn.cursor() as cur:
            stored = None if strategy is None else json.dumps(strategy)
            cur.execute("SELECT dq_retry_delay(CAST(%s AS jsonb), %s)", (stored, failures))
            return cur.fetchone()[0]

    yield delay
    conn.close()


@pytest.mark.parametrize(
    ("strategy", "failures", "expected"),
    [
        (None, 1, 1.0),  # no strategy: one second
        (None, 7, 1.0),
        ({}, 3, 1.0),
        ({"kind": "fixed", "base_seconds": 30}, 1, 30.0),
        ({"kind": "fixed", "base_seconds": 30}, 9, 30.0),
        ({"kind": "fixed", "base_seconds": 30, "max_seconds": 10}, 2, 10.0),
        ({"kind": "exponential", "base_seconds": 2}, 1, 2.0),  # factor defaults to 2
        ({"kind": "exponential", "base_seconds": 2}, 4, 16.0),
        ({"kind": "exponential", "base_seconds": 0.5, "factor": 3}, 3, 4.5),
        ({"kind": "exponential", "base_seconds": 2, "factor": 0}, 3, 8.0),  # 0 means default
        ({"kind": "exponential", "base_seconds": 2, "max_seconds": 10}, 5, 10.0),
        ({"kind": "exponential", "base_seconds": 2, "max_seconds": None}, 3, 8.0),
        ({"kind": "exponential", "base_seconds": 0, "factor": 10}, 9, 0.0),
        ({"kind": "exponential", "base_seconds": 1, "factor": 1}, 1000, 1.0),
        ({"kind": "exponential", "base_seconds": 2}, 5000, YEAR),  # past float range: a year
        ({"kind": "exponential", "base_seconds": 2, "max_seconds": 60}, 5000, 60.0),
        ({"kind": "fixed", "base_seconds": 10 * YEAR}, 1, YEAR),
    ],
)
def test_retry_delay(delay, strategy, failures, expected):
    assert delay(strategy, failures) == pytest.approx(expected)
