"""The dashboard's pages: server-rendered HTML (Jinja2, autoescaped), no JavaScript.

Each handler reads through the existing `Store` where a read method fits (task and
workflow-run listings and details; a queue's settings, stats and busiest keys; the
schedules listing and a schedule with its next slots) and through `MonitoringStore`
for what only the dashboard needs (gauges, history, run timings, waits, latest
events, a schedule's latest tasks, a task's latest children, a workflow run's tree). Query
strings are checked here: a bad filter is a 400 page naming it, an unknown or
malformed id a 404 page.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp_jinja2
import attrs
from aiohttp import web

from durable_queue.api.keys import STORE
from durable_queue.deep_json import dumps_iteratively
from durable_queue.errors import NotFound
from durable_queue.jsonvalue import JSON_NULL
from durable_queue.monitoring.charts import BUCKET_SECONDS, SPAN_SECONDS, queue_chart
from durable_queue.monitoring.keys import METRICS, MONITORING_STORE
from durable_queue.monitoring.store import BUSIEST_KEYS
from durable_queue.schedule_times import CalendarError, zone
from durable_queue.wire import TASK_STATUSES, WORKFLOW_STATUSES, Schedule

PAGE_SIZE = 50
RECENT_SCHEDULE_TASKS = 10
CHILDREN_SHOWN = 50  # a task page lists its latest children, and counts them all
TREE_TASKS = 500  # a workflow run page nests its first tasks into a tree
TREE_DEPTH_SHOWN = 12  # deeper nodes are drawn at this depth, marked with their own
UPCOMING_SLOTS = 5
REFRESH_SECONDS = 5
MAX_FILTER_LENGTH = 1024


class BadFilter(Exception):
    """A query-string value the page cannot use; the message names it."""


async def overview(request: web.Request) -> web.Response:
    """Every queue: live counts, lag, totals and its last hour as a chart."""
    queues = await request.app[METRICS].snapshot.get()
    history = await request.app[MONITORING_STORE].history(SPAN_SECONDS, BUCKET_SECONDS)
    rows = [{"q": q, "chart": queue_chart(history.get(q.queue_name, []))} for q in queues]
    return _render(request, "overview.html", {"rows": rows, "refresh": REFRESH_SECONDS})


async def queue(request: web.Request) -> web.Response:
    """One queue: its flow-control settings, in flight against its limit, held-back runs,
    its busiest keys, its counts and its last hour, read as the API answers them."""
    name = request.match_info["queue_name"]
    store = request.app[STORE]
    try:
        found = await store.get_queue(name)
        stats = await store.queue_stats(name)
        keys = await store.busiest_keys(name, limit=BUSIEST_KEYS)
    except NotFound:
        return _not_found(request, f"No queue is named {name}.")
    history = await request.app[MONITORING_STORE].history(SPAN_SECONDS, BUCKET_SECONDS)
    return _render(
        request,
        "queue.html",
        {
            "queue": found,
            "flow": found.flow,
            "stats": stats,
            "keys": keys,
            "busiest": BUSIEST_KEYS,
            "chart": queue_chart(history.get(name, [])),
            "refresh": REFRESH_SECONDS,
        },
    )


async def tasks(request: web.Request) -> web.Response:
    """Tasks newest first, filtered by queue, status and name, a page at a time."""
    try:
        queue = _text(request, "queue")
        status = _choice(request, "status", TASK_STATUSES)
        name = _text(request, "name")
        cursor = _uuid_param(request, "cursor")
    except BadFilter as exc:
        return _bad_filter(request, exc)
    page = await request.app[STORE].list_tasks(
        queue_name=queue, status=status, task_name=name, cursor=cursor, limit=PAGE_SIZE
    )
    filters = {"queue": queue, "status": status, "name": name}
    return _render(
        request,
        "tasks.html",
        {
            "tasks": page.items,
            "filters": filters,
            "statuses": TASK_STATUSES,
            "next_href": page.next_cursor and _page_href("/ui/tasks", filters, page.next_cursor),
            "first_href": _page_href("/ui/tasks", filters, None),
            "paged": cursor is not None,
        },
    )


async def task(request: web.Request) -> web.Response:
    """One task: its fields, params, headers, every run with timings, checkpoints, waits."""
    task_id = _path_uuid(request, "task_id")
    store, monitoring = request.app[STORE], request.app[MONITORING_STORE]
    try:
        if task_id is None:
            raise NotFound("malformed id")
        detail = await store.get_task(task_id)
        checkpoints = await store.list_checkpoints(task_id)
    except NotFound:
        return _not_found(request, f"No task has the id {request.match_info['task_id']}.")
    runs = await monitoring.task_runs(task_id)
    waits = await monitoring.task_waits(task_id)
    parent_id = getattr(detail, "parent_task_id", None)
    parent = await monitoring.task_brief(parent_id) if parent_id is not None else None
    counts = child_counts(getattr(detail, "children", None))
    children = await monitoring.task_children(task_id, CHILDREN_SHOWN) if counts else []
    return _render(
        request,
        "task.html",
        {
            "task": detail,
            "runs": runs,
            "checkpoints": checkpoints,
            "waits": waits,
            "parent_id": parent_id,
            "parent": parent,
            "child_counts": counts,
            "children_total": sum(counts.values()),
            "children": children,
            "children_shown": CHILDREN_SHOWN,
        },
    )


async def workflow_runs(request: web.Request) -> web.Response:
    """Workflow runs newest first, filtered by name and status, a page at a time."""
    try:
        name = _text(request, "name")
        status = _choice(request, "status", WORKFLOW_STATUSES)
        cursor = _uuid_param(request, "cursor")
    except BadFilter as exc:
        return _bad_filter(request, exc)
    page = await request.app[STORE].list_workflow_runs(
        workflow_name=name, status=status, cursor=cursor, limit=PAGE_SIZE
    )
    filters = {"name": name, "status": status}
    return _render(
        request,
        "workflow_runs.html",
        {
            "runs": page.items,
            "filters": filters,
            "statuses": WORKFLOW_STATUSES,
            "next_href": page.next_cursor
            and _page_href("/ui/workflow-runs", filters, page.next_cursor),
            "first_href": _page_href("/ui/workflow-runs", filters, None),
            "paged": cursor is not None,
        },
    )


async def workflow_run(request: web.Request) -> web.Response:
    """One workflow run with its task counts by status and the tree of its first
    TREE_TASKS tasks (each child under its parent)."""
    run_id = _path_uuid(request, "workflow_run_id")
    try:
        if run_id is None:
            raise NotFound("malformed id")
        detail = await request.app[STORE].get_workflow_run(run_id)
    except NotFound:
        return _not_found(
            request, f"No workflow run has the id {request.match_info['workflow_run_id']}."
        )
    tasks = await request.app[MONITORING_STORE].workflow_run_tree(run_id, TREE_TASKS)
    return _render(
        request,
        "workflow_run.html",
        {
            "run": detail,
            "tree": tree_rows(tasks),
            "tree_limit": TREE_TASKS,
            "total": sum(detail.task_counts.values()),
        },
    )


async def events(request: web.Request) -> web.Response:
    """The latest events, of one name when `name` is given."""
    try:
        name = _text(request, "name")
    except BadFilter as exc:
        return _bad_filter(request, exc)
    latest = await request.app[MONITORING_STORE].latest_events(name, PAGE_SIZE)
    return _render(request, "events.html", {"events": latest, "name": name})


async def schedules(request: web.Request) -> web.Response:
    """Schedules by name, of one queue when `queue` is given, a page at a time, read as
    the API lists them: calendar, next fire, last fire with its task's outcome (its
    status now), paused state and note, counters."""
    try:
        queue = _text(request, "queue")
        cursor = _text(request, "cursor")
    except BadFilter as exc:
        return _bad_filter(request, exc)
    page = await request.app[STORE].schedules.list(queue, cursor, PAGE_SIZE)
    filters = {"queue": queue}
    return _render(
        request,
        "schedules.html",
        {
            "schedules": page.schedules,
            "filters": filters,
            "next_href": page.next_cursor
            and _page_href("/ui/schedules", filters, page.next_cursor),
            "first_href": _page_href("/ui/schedules", filters, None),
            "paged": cursor is not None,
            "refresh": REFRESH_SECONDS,
        },
    )


async def schedule(request: web.Request) -> web.Response:
    """One schedule as `GET /api/v1/schedules/{name}?preview=5` answers it (definition,
    state, next slots), and its latest tasks by slot."""
    name = request.match_info["schedule_name"]
    try:
        found = await request.app[STORE].schedules.get(name, preview=UPCOMING_SLOTS)
    except NotFound:
        return _not_found(request, f"No schedule is named {name}.")
    except ValueError:  # a calendar this server cannot read (the scheduler pauses it)
        found = await request.app[STORE].schedules.get(name)
    recent = await request.app[MONITORING_STORE].schedule_tasks(name, RECENT_SCHEDULE_TASKS)
    return _render(
        request,
        "schedule.html",
        {"s": found, "recent": recent, "most": RECENT_SCHEDULE_TASKS, "refresh": REFRESH_SECONDS},
    )


# -- helpers -------------------------------------------------------------------------


def child_counts(value: Any) -> dict[str, int]:
    """A task's children by status ({} for a task without children), in the order of the
    statuses, whether the detail carries them as a mapping or as an attrs object."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        value = attrs.asdict(value) if attrs.has(type(value)) else dict(value)
    counts = {status: int(value.get(status) or 0) for status in TASK_STATUSES}
    return counts if any(counts.values()) else {}


def tree_rows(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tasks of a workflow run (oldest first) in tree order: each task followed by its
    children (oldest first), depth first. A task whose parent is not among them (another
    run's task, or one deleted) is a root, with `outside` set. Each row gains `depth`
    (drawn at most TREE_DEPTH_SHOWN deep; `deeper` says it is more) and `prefix`, the
    indentation that draws it (text, as the pages allow no inline style)."""
    by_id = {task["id"]: task for task in tasks}
    children: dict[Any, list[dict[str, Any]]] = {}
    roots = []
    for task in tasks:
        parent = task.get("parent_task_id")
        if parent is not None and parent in by_id and parent != task["id"]:
            children.setdefault(parent, []).append(task)
        else:
            roots.append(task)
    rows: list[dict[str, Any]] = []
    seen: set[Any] = set()

    def walk(root: dict[str, Any]) -> None:
        stack = [(root, 0)]
        while stack:
            task, depth = stack.pop()
            if task["id"] in seen:
                continue
            seen.add(task["id"])
            shown = min(depth, TREE_DEPTH_SHOWN)
            parent = task.get("parent_task_id")
            rows.append(
                {
                    **task,
                    "depth": depth,
                    "deeper": depth > TREE_DEPTH_SHOWN,
                    "outside": parent is not None and parent not in by_id,
                    "prefix": "\u00a0\u00a0\u00a0" * (shown - 1) + "\u2514\u00a0" if shown else "",
                }
            )
            stack.extend((child, depth + 1) for child in reversed(children.get(task["id"], [])))

    for root in roots:
        walk(root)
    for task in tasks:  # a cycle (no real run has one) would leave tasks out: show them as roots
        if task["id"] not in seen:
            walk(task)
    return rows


def _render(
    request: web.Request, template: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    return aiohttp_jinja2.render_template(template, request, context, status=status)


def _not_found(request: web.Request, message: str) -> web.Response:
    return _render(request, "not_found.html", {"message": message}, status=404)


def _bad_filter(request: web.Request, exc: BadFilter) -> web.Response:
    return _render(request, "bad_request.html", {"message": str(exc)}, status=400)


def _path_uuid(request: web.Request, name: str) -> uuid.UUID | None:
    """The path id; None when malformed (shown as the same friendly 404 as an unknown id)."""
    try:
        return uuid.UUID(request.match_info[name])
    except ValueError:
        return None


def _text(request: web.Request, name: str) -> str | None:
    value = request.query.get(name, "").strip()
    if len(value) > MAX_FILTER_LENGTH:
        raise BadFilter(f"{name} is longer than {MAX_FILTER_LENGTH} characters")
    if "\x00" in value:
        raise BadFilter(f"{name} contains a NUL character")
    return value or None


def _choice(request: web.Request, name: str, allowed: tuple[str, ...]) -> str | None:
    value = _text(request, name)
    if value is not None and value not in allowed:
        raise BadFilter(f"{name} must be one of {', '.join(allowed)}")
    return value


def _uuid_param(request: web.Request, name: str) -> uuid.UUID | None:
    value = _text(request, name)
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise BadFilter(f"{name} is not a UUID") from None


def _page_href(path: str, filters: dict[str, str | None], cursor: uuid.UUID | str | None) -> str:
    """The listing's URL with its filters, at `cursor` (None: the first page)."""
    query = {k: v for k, v in filters.items() if v is not None}
    if cursor is not None:
        query["cursor"] = str(cursor)
    return f"{path}?{urlencode(query)}" if query else path


def segment(value: str) -> str:
    """A name as one path segment of a link: every reserved character quoted, "/" too
    (jinja's urlencode keeps it)."""
    return quote(value, safe="")


def pretty_json(value: Any) -> str:
    """A stored JSON value for display: indented; None (never given) as an empty string."""
    if value is None:
        return ""
    if value is JSON_NULL:
        return "null"
    try:
        return json.dumps(value, indent=2, ensure_ascii=False, default=_shown_as)
    except RecursionError:  # stored before the nesting limit (durable_queue/json_limits.py):
        # compact, as its indentation would grow with the square of its depth
        return dumps_iteratively(value, ensure_ascii=False, default=_shown_as)


def _shown_as(value: Any) -> Any:
    return None if value is JSON_NULL else str(value)


def rate(value: Any) -> str:
    """A rate limit for people: "50 per 1 s"; "none" when there is none."""
    if value is None:
        return "none"
    return f"{value.limit} per {value.period_seconds:g} s"


def timestamp(value: dt.datetime | None) -> str:
    """UTC, to the millisecond."""
    if value is None:
        return ""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def calendar(schedule: Schedule) -> str:
    """A schedule's calendar for people: "0 7 * * * (Europe/Amsterdam)" for a cron
    expression, read in its zone; "every 3600 s (1.0 h)" for an interval, which no zone
    applies to."""
    if schedule.cron is not None:
        return f"{schedule.cron} ({schedule.timezone})"
    every = schedule.interval_seconds
    if every is None:
        return ""
    return f"every {every} s" + (f" ({seconds(every)})" if every >= 60 else "")


def zoned(value: dt.datetime | None, name: str | None) -> str:
    """The wall-clock time of `value` in a schedule's IANA zone, with the zone's
    abbreviation ("2025-03-30 08:00:00 CEST"); empty when there is none or it is unknown
    to this server."""
    if value is None or not name:
        return ""
    try:
        local = value.astimezone(zone(name))
    except CalendarError:
        return ""
    return local.strftime("%Y-%m-%d %H:%M:%S %Z")


def seconds(value: float | None) -> str:
    """An age for people: 12.3 s, 4.2 min, 3.1 h."""
    if value is None:
        return "-"
    if value < 60:
        return f"{value:.1f} s"
    if value < 3600:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"
