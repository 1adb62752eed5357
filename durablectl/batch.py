"""`tasks create --from-file`: a JSON-lines file of tasks, read and checked in full before
anything is sent, then sent in batches of at most `BATCH_SIZE`."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import attrs
import cattrs
from durable_queue_client import CreateTaskRequest, structure

BATCH_SIZE = 1000  # the most POST /queues/{queue}/tasks/batch takes at once

T = TypeVar("T")

_FIELDS = frozenset(a.name for a in attrs.fields(CreateTaskRequest))


class TaskFileError(ValueError):
    """A line of the tasks file that is not a task; the message names the line."""


def read_tasks(path: Path) -> list[CreateTaskRequest]:
    """Every task of `path`, one JSON object per line (blank lines skipped), with the fields
    of a single create (`task_name` required). An unknown key is refused, not dropped, so
    a misspelt field does not silently go missing."""
    tasks: list[CreateTaskRequest] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                tasks.append(_task(line, f"{path.name} line {number}"))
    if not tasks:
        raise TaskFileError(f"{path.name} holds no tasks")
    return tasks


def _task(line: str, where: str) -> CreateTaskRequest:
    try:
        data = json.loads(line)
    except ValueError as exc:
        raise TaskFileError(f"{where}: not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise TaskFileError(f"{where}: expected a JSON object")
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise TaskFileError(f"{where}: unknown field {unknown[0]!r}")
    if not isinstance(data.get("task_name"), str):
        raise TaskFileError(f"{where}: task_name is required (a string)")
    try:
        return structure(data, CreateTaskRequest)
    except (cattrs.BaseValidationError, ValueError, TypeError) as exc:
        detail = "; ".join(str(e) for e in getattr(exc, "exceptions", [exc]))
        raise TaskFileError(f"{where}: {detail}") from exc


def batches(items: Sequence[T], size: int = BATCH_SIZE) -> Iterator[Sequence[T]]:
    """`items` in consecutive slices of at most `size`."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
