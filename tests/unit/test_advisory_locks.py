"""Each elected loop has an advisory lock of its own.

A session-level advisory lock elects the one process that runs a job (maintenance, the
history sampler, the scheduler); two jobs on one key would elect one process for both,
and the job whose loop lost the race would never run anywhere.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from durable_queue.resources import resource_dir

TRY_LOCK = re.compile(r"pg_try_advisory_lock\((\d+),\s*(\d+)\)")


def election_keys() -> dict[tuple[int, int], list[str]]:
    """The key of every named query that tries an election lock, by key."""
    keys: dict[tuple[int, int], list[str]] = defaultdict(list)
    for path in sorted(Path(resource_dir("queries")).glob("*.sql")):
        name = None
        for line in path.read_text().splitlines():
            if line.startswith("-- name:"):
                name = line.split()[2].split("(")[0]
            for match in TRY_LOCK.finditer(line):
                keys[(int(match[1]), int(match[2]))].append(name or "?")
    return keys


def test_every_elected_loop_has_a_key_of_its_own() -> None:
    keys = election_keys()
    assert {name for names in keys.values() for name in names} >= {
        "try_lock_sweeper",
        "monitoring_try_lock_sampler",
        "try_lock_scheduler",
    }
    assert {key: names for key, names in keys.items() if len(names) > 1} == {}
    assert (7300, 1) not in keys  # the migration lock
