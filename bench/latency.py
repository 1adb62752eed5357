"""Latency percentiles and their table, shared by the benchmarks."""

from __future__ import annotations

import statistics


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    """p50, p95 and p99 of `samples` (inclusive method; one sample is all three)."""
    if len(samples) == 1:
        return samples[0], samples[0], samples[0]
    q = statistics.quantiles(sorted(samples), n=100, method="inclusive")
    return q[49], q[94], q[98]


def print_table(first_column: str, rows: list[tuple[str, float, float, float]]) -> None:
    """Rows of (label, p50, p95, p99) in milliseconds, aligned under a heading."""
    width = max(len(first_column), *(len(row[0]) for row in rows)) + 2
    print(f"{first_column:<{width}} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for label, p50, p95, p99 in rows:
        print(f"{label:<{width}} {p50:>8.2f} {p95:>8.2f} {p99:>8.2f}")
