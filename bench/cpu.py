"""CPU time per process, read from /proc: where a measurement's time went.

Linux only. A role is one process tree (the process and its live descendants, e.g. a
server started with --workers N) or every process named `postgres` (the database's
backends, its listener's and the bench's connections included). CPU of a process that
exits during the measurement is lost, so roles are processes that outlive it; the one
exception is PostgreSQL, whose postmaster is charged with the CPU of every backend it has
reaped (a worker's connection that closed before the measurement ended).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


def _stat_seconds(pid: int, *, reaped_children: bool = False) -> float:
    """utime + stime of one process (all its threads), in seconds; 0 when it is gone.
    With `reaped_children`, plus cutime + cstime: its children that exited and were waited
    for."""
    try:
        fields = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0.0
    ticks = int(fields[11]) + int(fields[12])  # fields 14 and 15 of stat
    if reaped_children:
        ticks += int(fields[13]) + int(fields[14])  # fields 16 and 17
    return ticks / CLOCK_TICKS


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(FileNotFoundError):
        for task in (PROC / str(pid) / "task").iterdir():
            with contextlib.suppress(FileNotFoundError):
                found += [int(c) for c in (task / "children").read_text().split()]
    return found


def tree_seconds(pid: int) -> float:
    """CPU seconds of `pid` and its live descendants."""
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        total += _stat_seconds(current)
        pending += _children(current)
    return total


def postgres_seconds() -> float:
    """CPU seconds of every live process named postgres, and of the backends that exited
    (charged to the postmaster, which reaps them; a backend reaps nothing)."""
    total = 0.0
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                if (entry / "comm").read_text().strip() == "postgres":
                    total += _stat_seconds(int(entry.name), reaped_children=True)
    return total


class CpuMeter:
    """CPU per task of each role over measured sections: `role → ms per task`."""

    def __init__(self) -> None:
        self.roles: dict[str, Callable[[], float]] = {}

    def add_process(self, role: str, pid: int, *, tree: bool = True) -> None:
        """`pid` with its descendants (tree), or alone (a bench whose children are roles)."""
        self.roles[role] = (lambda: tree_seconds(pid)) if tree else (lambda: _stat_seconds(pid))

    def add_postgres(self) -> None:
        self.roles["postgres"] = postgres_seconds

    @contextlib.contextmanager
    def measure(self, into: dict[str, float], tasks: Callable[[], int]) -> Iterator[None]:
        """Fill `into` with each role's CPU ms per task (`tasks()` read at the end)."""
        before = {role: read() for role, read in self.roles.items()}
        yield
        count = max(tasks(), 1)
        for role, read in self.roles.items():
            into[role] = (read() - before[role]) * 1000 / count
