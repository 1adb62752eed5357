"""Printing results: indented JSON (as the original CLI), or plain-text tables for humans."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

# Preferred column order of list tables; other scalar keys follow in their own order.
COLUMNS: dict[str, list[str]] = {
    "queues": ["name", "created_at", "cleanup"],
    "tasks": ["id", "task_id", "run_id", "task_name", "status", "queue_name", "attempt"],
    "runs": ["id", "task_id", "attempt", "status", "error", "created_at", "completed_at"],
    "workflow_runs": ["id", "workflow_run_id", "workflow_name", "status", "created_at"],
    "checkpoints": ["step_name", "updated_at", "state"],
    "keys": ["key", "in_flight", "pending", "max_concurrency", "rate_limit", "override"],
    "schedules": [
        "name", "queue", "task_name", "cron", "interval_seconds", "timezone", "paused",
        "next_fire_at", "last_fired_at", "last_task_status",
    ],
}  # fmt: skip
LIST_KEYS = tuple(COLUMNS)
OVERRIDE_KEYS = frozenset({"max_concurrency", "rate_limit"})  # a concurrency key's override


def render_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if _is_rate(value):
        return f"{value['limit']}/{float(value['period_seconds']):g}s"
    if isinstance(value, dict) and value and set(value) <= OVERRIDE_KEYS:
        return " ".join(f"{k}={cell(v)}" for k, v in value.items())
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return " ".join(str(value).split())


def _is_rate(value: Any) -> bool:
    """A rate limit (`{"limit": n, "period_seconds": s}`), shown in a table as `n/ss`."""
    return isinstance(value, dict) and set(value) == {"limit", "period_seconds"}


def without_alias(record: dict[str, Any]) -> dict[str, Any]:
    """The record without `workflow_run_id` when it only repeats `id` (the server sends
    both spellings for workflow runs; a table shows the id once)."""
    if "id" in record and record.get("workflow_run_id") == record["id"]:
        return {k: v for k, v in record.items() if k != "workflow_run_id"}
    return record


def table(rows: Sequence[dict[str, Any]], preferred: Sequence[str] = ()) -> str:
    """Rows as aligned columns under an upper-case header; "(none)" for no rows."""
    if not rows:
        return "(none)"
    rows = [without_alias(row) for row in rows]
    columns = [c for c in preferred if any(c in r for r in rows)]
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    cells = [[cell(row.get(c)) for c in columns] for row in rows]
    header = [c.upper() for c in columns]
    widths = [max(len(x) for x in col) for col in zip(header, *cells, strict=True)]
    lines = [header, *cells]
    return "\n".join(
        "  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )


def key_values(data: dict[str, Any]) -> str:
    """A record as `key  value` lines; its lists of records follow as their own tables."""
    data = without_alias(data)
    scalars = {k: v for k, v in data.items() if not _is_record_list(v)}
    lists = {k: v for k, v in data.items() if _is_record_list(v)}
    width = max((len(k) for k in scalars), default=0)
    parts = ["\n".join(f"{k.ljust(width)}  {cell(v)}" for k, v in scalars.items())]
    for key, rows in lists.items():
        parts.append(f"{key}:\n{table(rows, COLUMNS.get(key, ()))}")
    return "\n\n".join(p for p in parts if p)


def _is_record_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def render_table(data: Any) -> str:
    """A listing (`{"tasks": [...], "next_cursor": ...}`) as a table with the cursor below
    it; any other record as key/value lines."""
    if isinstance(data, dict):
        key = next((k for k in LIST_KEYS if isinstance(data.get(k), list)), None)
        if key is not None and set(data) <= {key, "next_cursor"}:
            text = table(data[key], COLUMNS[key])
            if data.get("next_cursor"):
                text += f"\n\nnext cursor: {data['next_cursor']}"
            return text
        return key_values(data)
    if isinstance(data, list):
        return table([d if isinstance(d, dict) else {"value": d} for d in data])
    return cell(data)


def render(data: Any, fmt: str) -> str:
    return render_table(data) if fmt == "table" else render_json(data)
