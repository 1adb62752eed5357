"""Backoff between explicit failures of a task."""

from __future__ import annotations

from typing import Any

DEFAULT_DELAY_SECONDS = 1.0


def retry_delay(strategy: dict[str, Any] | None, failures: int) -> float:
    """Seconds to wait before the retry that follows the `failures`-th failure (1-based).

    fixed: base_seconds; exponential: base_seconds * factor^(failures-1);
    both capped by max_seconds when given. No strategy: one second.
    """
    if not strategy:
        return DEFAULT_DELAY_SECONDS
    base = float(strategy["base_seconds"])
    if strategy["kind"] == "exponential":
        factor = float(strategy.get("factor") or 2.0)
        try:
            delay = base * factor ** (failures - 1)
        except OverflowError:
            delay = float("inf")
    else:
        delay = base
    max_seconds = strategy.get("max_seconds")
    if max_seconds is not None:
        delay = min(delay, float(max_seconds))
    # A delay past any sensible horizon (one year) is clamped so the timestamp stays valid.
    return min(delay, 365 * 24 * 3600.0)
