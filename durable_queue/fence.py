"""The fence's answers: why a holder call (complete, fail, sleep, wait, checkpoint...)
may not act on a run, as the functions' outcomes name it (docs/lifecycle.md, "The fence")."""

from __future__ import annotations

import uuid
from typing import Any

from durable_queue.errors import Conflict, NotFound


def raise_run_outcome(
    row: dict[str, Any], run_id: uuid.UUID, action: str, claim_token: str | None = None
) -> None:
    """The fence's answer for a transition that needs the run's claim."""
    if row["outcome"] == "not_found":
        raise NotFound(f"run {run_id} not found")
    if row["outcome"] == "conflict":
        raise Conflict(not_claimed_message(run_id, row["status"], action, claim_token))
    if row["outcome"] == "stale_token":
        raise Conflict(stale_token_message(run_id, action))


def not_claimed_message(
    run_id: uuid.UUID, status: str, action: str, claim_token: str | None
) -> str:
    if claim_token is None:
        return f"run {run_id} is {status}, not claimed: cannot {action}"
    return (
        f"run {run_id} is {status}, not claimed, so claim_token names no live claim: "
        f"cannot {action}"
    )


def stale_token_message(run_id: uuid.UUID, action: str) -> str:
    return (
        f"run {run_id} is claimed under another claim_token: the claim of this one ended "
        f"(the run slept or was released, and was claimed again); cannot {action}"
    )
