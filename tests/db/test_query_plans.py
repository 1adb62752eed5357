"""Query plans at scale: every named query stays off sequential scans of the large tables.

One database per module is seeded in bulk (tests/db/plans.sql, generate_series) and
ANALYZEd. Two checks:

- plans: EXPLAIN (FORMAT JSON) of each listing and sweep query, with its parameters
  bound as the server binds them (literals), uses the index named and never a Seq Scan
  on tasks, runs, checkpoints, events or event_waits;
- scans: each named query, state-change functions and foreign-key cascades included,
  is run in a transaction that is rolled back, and PostgreSQL's own per-transaction
  counters (pg_stat_xact_user_tables) must show no sequential scan of those tables.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiosql
import psycopg2
import psycopg2.extensions
import psycopg2.extras
import pytest

from durable_queue.resources import resource_dir
from tests import pg
from tests.helpers import create_task_args

LARGE_TABLES = {"tasks", "runs", "checkpoints", "events", "event_waits"}
FINISHED, PENDING = 20_000, 2_000  # queue "big"
SMALL_FINISHED, SMALL_PENDING = 400, 40  # queue "small": a selective filter value
MEDIUM_FINISHED = 4_000  # queue "medium": deleted in batches

Q = aiosql.from_path(resource_dir("queries"), "psycopg2")
T = aiosql.from_path(Path(__file__).with_name("plans.sql"), "psycopg2")


class Seeded:
    """The seeded database: a connection and the ids the cases refer to."""

    def __init__(self, conn: psycopg2.extensions.connection) -> None:
        self.conn = conn
        self.ids: dict[str, Any] = {}

    def one(self, query: Callable, **params: Any) -> Any:
        return query(self.conn, **params)


@pytest.fixture(scope="module")
def seeded(postgres: pg.TestPostgres) -> Iterator[Seeded]:
    name, url = postgres.new_database()
    conn = psycopg2.connect(url, cursor_factory=psycopg2.extras.DictCursor)  # rows by name or index
    conn.autocommit = True
    db = Seeded(conn)
    ids = db.ids
    ids["big"] = Q.insert_queue(conn, name="big", task_ttl_seconds=0, event_ttl_seconds=0)["id"]
    # finished tasks of "small" are completed 30 s to 430 s ago: the older ones are due
    ids["small"] = Q.insert_queue(
        conn, name="small", task_ttl_seconds=200, event_ttl_seconds=86400
    )["id"]
    ids["workflow_run"] = Q.insert_workflow_run(
        conn, workflow_name="wf", workflow_version=None, inputs=None, created_by=None, tags=None
    )["id"]
    ids["medium"] = Q.insert_queue(conn, name="medium", task_ttl_seconds=0, event_ttl_seconds=0)[
        "id"
    ]
    for queue, finished, pending in (  # in this order: ids grow with it
        ("medium", MEDIUM_FINISHED, 0),
        ("big", FINISHED, PENDING),
        ("small", SMALL_FINISHED, SMALL_PENDING),
    ):
        T.seed_queue(
            conn,
            queue_name=queue,
            finished=finished,
            pending=pending,
            workflow_run_id=ids["workflow_run"],
        )
    T.seed_events(conn, count=5_000)
    T.create_explain_function(conn)
    T.analyze(conn)
    ids["medium_middle"] = T.task_at(conn, position=MEDIUM_FINISHED // 2)
    ids["middle"] = T.task_at(conn, position=MEDIUM_FINISHED + FINISHED // 2)  # deep cursors
    failed = T.failed_task_of_queue(conn, queue_id=ids["small"])
    ids["finished_task"], ids["finished_run"] = failed["task_id"], failed["run_id"]
    yield db
    conn.close()
    postgres.drop_database(name)


def plan_nodes(plan: dict) -> Iterator[dict]:
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)


def explain(db: Seeded, query_name: str, params: dict[str, Any]) -> list[dict]:
    """The plan's nodes, with the parameters bound as literals, as the server sends them."""
    with db.conn.cursor() as cur:
        statement = cur.mogrify(getattr(Q, query_name).sql, params).decode()
    plan = T.explain(db.conn, statement=statement)
    if isinstance(plan, str):
        plan = json.loads(plan)
    return list(plan_nodes(plan[0]["Plan"]))


def page(query_name: str, **given: Any) -> dict[str, Any]:
    """Parameters of a listing query: those given, None for the other filters, limit 51."""
    params = dict.fromkeys(getattr(Q, query_name).parameters or (), None)
    return {**params, "limit": 51, **given}


def listing(query_name: str, index: str, **given: Any) -> tuple[str, Callable, str]:
    """A plan case of a listing query; `given` values name seeded ids ("@small")."""

    def params(ids: dict) -> dict:
        resolved = {k: ids[v[1:]] if str(v).startswith("@") else v for k, v in given.items()}
        return page(query_name, **resolved)

    return query_name, params, index


# (query, parameters from the seeded ids, the index the plan must use: one of a|b)
PLAN_CASES: dict[str, tuple[str, Callable[[dict], dict], str]] = {
    "all tasks": listing("list_tasks", "tasks_pkey"),
    "all tasks, deep cursor": listing("list_tasks", "tasks_pkey", cursor="@middle"),
    "tasks by status": listing("list_tasks_by_status", "tasks_by_status", status="failed"),
    "tasks by status, deep cursor": listing(
        "list_tasks_by_status", "tasks_by_status", status="failed", cursor="@middle"
    ),
    # the pending tasks are the newest: an id-order scan from the cursor would find none
    "pending tasks, deep cursor": listing(
        "list_tasks_by_status", "tasks_by_status", status="pending", cursor="@middle"
    ),
    "tasks of a queue": listing("list_tasks_of_queue", "tasks_by_queue", queue_id="@small"),
    "tasks of a queue, deep cursor": listing(
        "list_tasks_of_queue", "tasks_by_queue", queue_id="@small", cursor="@middle"
    ),
    # most tasks are big's, but newer ones are small's: still its own index
    "tasks of the largest queue": listing("list_tasks_of_queue", "tasks_by_queue", queue_id="@big"),
    # two filters, two indexes: the planner takes the narrower range (here the name's)
    "tasks of a queue by name": listing(
        "list_tasks_of_queue", "tasks_by_queue|tasks_by_name", queue_id="@small", task_name="rare"
    ),
    "tasks of a queue by status": listing(
        "list_tasks_of_queue_by_status", "tasks_by_queue_status", queue_id="@small", status="failed"
    ),
    "pending tasks of a queue, deep cursor": listing(
        "list_tasks_of_queue_by_status",
        "tasks_by_queue_status",
        queue_id="@big",
        status="pending",
        cursor="@middle",
    ),
    "tasks by name": listing("list_tasks_by_name", "tasks_by_name", task_name="rare"),
    "tasks by name, deep cursor": listing(
        "list_tasks_by_name", "tasks_by_name", task_name="rare", cursor="@middle"
    ),
    "tasks by name and status": listing(
        "list_tasks_by_name", "tasks_by_name", task_name="task_3", status="failed"
    ),
    "tasks of a workflow run": listing(
        "list_tasks_of_workflow_run", "tasks_by_workflow_run", workflow_run_id="@workflow_run"
    ),
    "runs by status": listing("list_runs_by_status", "runs_by_status", status="failed"),
    "pending runs, deep cursor": listing(
        "list_runs_by_status", "runs_by_status", status="pending", cursor="@middle"
    ),
    "runs of a task": listing("list_runs", "runs_task_id_attempt_key", task_id="@finished_task"),
    "runs, deep cursor": listing("list_runs", "runs_pkey", cursor="@middle"),
    "task detail": ("get_task_detail", lambda i: {"task_id": i["finished_task"]}, "tasks_pkey"),
    "task runs": (
        "list_task_runs",
        lambda i: {"task_id": i["finished_task"]},
        "runs_task_id_attempt_key",
    ),
    "task checkpoints": (
        "list_task_checkpoints",
        lambda i: {"task_id": i["finished_task"]},
        "checkpoints_pkey",
    ),
    "checkpoint": (
        "get_checkpoint",
        lambda i: {"task_id": i["finished_task"], "step_name": "step"},
        "checkpoints_pkey",
    ),
    "workflow run task counts": (
        "workflow_task_counts",
        lambda i: {"workflow_run_id": i["workflow_run"]},
        "tasks_by_workflow_run",
    ),
    "stats: due and scheduled runs": (
        "queue_due_runs",
        lambda i: {"queue_id": i["big"]},
        "runs_claimable",
    ),
    "seconds until due": ("seconds_until_due", lambda i: {"queue_name": "big"}, "runs_claimable"),
    # (claim_runs_or_due is one call of dq_claim_v3: tests/db/test_claim_function.py reads
    # the plans of its statements)
    "keys of a queue": listing("list_key_names", "runs_keyed_pending", queue_id="@small"),
    "busiest keys": (
        "busiest_key_names",
        lambda i: {"queue_id": i["small"], "limit": 10},
        "runs_by_status|runs_claimed_expiry",
    ),
    "retention": ("delete_expired_tasks", lambda i: {"batch_size": 500}, "tasks_finished"),
    "event retention": ("delete_expired_events", lambda i: {"batch_size": 500}, "events_by_age"),
    "queue deletion batch": (
        "delete_queue_tasks",
        lambda i: {"queue_id": i["medium"], "after": None, "batch_size": 1000},
        "tasks_by_queue|tasks_pkey",  # both ordered: the planner weighs the queue's share
    ),
    "queue deletion batch, keyset": (
        "delete_queue_tasks",
        lambda i: {"queue_id": i["medium"], "after": i["medium_middle"], "batch_size": 1000},
        "tasks_by_queue|tasks_pkey",
    ),
    "wait timeouts": ("timeout_waits", lambda i: {"batch_size": 500}, "event_waits_timeout"),
    "task timeouts": ("timeout_tasks", lambda i: {"batch_size": 500}, "tasks_execution_deadline"),
    "task start deadlines": (
        "timeout_tasks",
        lambda i: {"batch_size": 500},
        "tasks_start_deadline",
    ),
    "scrape gauges": ("monitoring_queues", lambda i: {"busiest_keys": 10}, "runs_claimable"),
    # the dashboard's schedule page: the slot index backwards, the id by the name's key
    "latest tasks of a schedule": (
        "monitoring_schedule_tasks",
        lambda i: {"name": "s1", "limit": 10},
        "tasks_schedule_slot",
    ),
    # the dashboard's task page: a task's latest children, its children's index backwards
    "latest children of a task": (
        "monitoring_task_children",
        lambda i: {"task_id": i["finished_task"], "limit": 50},
        "tasks_by_parent",
    ),
    # the dashboard's workflow run page: the run's first tasks (its tree), its index forwards
    "tree of a workflow run": (
        "monitoring_workflow_run_tree",
        lambda i: {"workflow_run_id": i["workflow_run"], "limit": 500},
        "tasks_by_workflow_run",
    ),
}


@pytest.mark.parametrize("case", list(PLAN_CASES))
def test_plan_uses_its_index(seeded: Seeded, case: str) -> None:
    query_name, params, index = PLAN_CASES[case]
    nodes = explain(seeded, query_name, params(seeded.ids))
    seq_scans = {n["Relation Name"] for n in nodes if n["Node Type"] == "Seq Scan"} & LARGE_TABLES
    assert not seq_scans, f"{query_name} scans {seq_scans} sequentially"
    assert set(index.split("|")) & {n.get("Index Name") for n in nodes}, (
        f"{query_name} does not use {index}: "
        + ", ".join(f"{n['Node Type']} {n.get('Index Name', '')}" for n in nodes)
    )


def conditions(node: dict) -> str:
    return " ".join(node.get(key, "") for key in ("Index Cond", "Recheck Cond", "Filter"))


def test_event_retention_is_bounded_by_its_cutoff(seeded: Seeded) -> None:
    """The cutoff bounds the scan of events_by_age (an Index Cond). As a join's filter it
    let the scan walk every newer event, ten thousand a pass while none was due."""
    nodes = explain(seeded, "delete_expired_events", {"batch_size": 500})
    scans = [n for n in nodes if n.get("Index Name") == "events_by_age"]
    assert scans and all("created_at <=" in n.get("Index Cond", "") for n in scans), scans
    assert not [n for n in nodes if "created_at" in n.get("Join Filter", "")]


def test_the_scrape_sums_the_counts_once(seeded: Seeded) -> None:
    """monitoring_queues reads queue_counts and queue_count_deltas once for every queue,
    not once per queue: per queue, its cost grew with queues x deltas (the deltas table
    grows between folds under load) past jit_above_cost."""
    per_queue = [
        f"{n['Node Type']} {n.get('Relation Name') or n.get('Index Name')}: {conditions(n)}"
        for n in explain(seeded, "monitoring_queues", {"busiest_keys": 10})
        if {n.get("Relation Name"), n.get("Index Name")}
        & {"queue_counts", "queue_counts_pkey", "queue_count_deltas", "queue_count_deltas_by_queue"}
        and "queue_id" in conditions(n)
    ]
    assert per_queue == []


# -- every named query, run: no sequential scan anywhere beneath it ------------------

NO_TABLES = {  # named queries that read none of the large tables
    "listen_claimable", "lock_migrations", "unlock_migrations", "ping", "try_lock_sweeper",
    "insert_queue", "list_queues", "get_queue_by_name", "lock_queue_by_name",
    "detached_queues", "insert_workflow_run", "update_workflow_run", "get_workflow_run",
    "list_workflow_runs",
    # the migrate step's bookkeeping (queries/schema.sql)
    "server_version_num", "create_installed_functions#", "lock_installed_functions",
    "record_installed_functions", "applied_migration_ids", "yoyo_tables_exist",
    "replace_applied_migrations", "defer_function_body_checks",
    "listen_schedules", "try_lock_scheduler", "database_now", "queue_exists",
    "listen_task_done",
}  # fmt: skip


def claimed(conn: Any, limit: int = 3, claim_timeout: int = 600) -> list[dict]:
    return list(Q.claim_runs(conn, queue_name="small", limit=limit, claim_timeout=claim_timeout))


def held(conn: Any) -> dict[str, Any]:
    """A run claimed now: its run_id, task_id and the claim_token (text) of that claim."""
    run = claimed(conn, 1)[0]
    return {"run_id": run["run_id"], "task_id": run["task_id"], "token": str(run["claim_token"])}


def new_task(**given: Any) -> dict[str, Any]:
    return create_task_args(
        **{"queue_name": "small", "params": '{"a": 1}', "max_attempts": 2, **given}
    )


def wait_on(conn: Any, event_name: str, timeout_seconds: int = 60) -> dict:
    run = held(conn)
    return Q.wait_for_event(
        conn, run_id=run["run_id"], task_id=run["task_id"], event_name=event_name,
        step_name="s", timeout_seconds=timeout_seconds, claim_token=run["token"],
    )  # fmt: skip


def schedule_row(conn: Any, name: str, **given: Any) -> dict:
    """A schedule of queue "small" made by create_schedule, due since a minute."""
    values = dict.fromkeys(Q.create_schedule.parameters, None)
    values.update(
        name=name, queue_name="small", task_name="t", max_attempts=1, priority=0,
        interval_seconds=60, timezone="UTC", anchor="2026-01-01T00:00:00Z", catchup="skip",
        catchup_window_seconds=3600, overlap="allow", paused=False,
        next_fire_at="2026-01-01T00:00:00Z",
    )  # fmt: skip
    values.update(given)
    return Q.create_schedule(conn, **values)


def schedules(conn: Any, ids: dict) -> None:
    """Every schedule query: create, read, list, change, fire (planned, buffered, trigger,
    backfill), pause, delete."""
    first = schedule_row(conn, "s1", overlap="buffer_one")
    schedule_row(conn, "s2")
    Q.get_schedule(conn, name="s1")
    Q.lock_schedule(conn, name="s1")
    list(Q.list_schedules(conn, cursor=None, limit=10))
    list(Q.list_schedules_of_queue(conn, queue_name="small", cursor="a", limit=10))
    due = list(Q.due_schedules(conn, batch_size=10))
    plans = [{"id": str(row["id"]), "revision": row["revision"], "missed": 1,
              "slots": [row["next_fire_at"].isoformat()],
              "next_fire_at": "2100-01-01T00:00:00Z"} for row in due]  # fmt: skip
    list(Q.fire_schedules(conn, plans=json.dumps(plans)))
    Q.trigger_schedule(conn, name="s1")  # s1's last task is unfinished: backfill buffers
    Q.backfill_schedule(
        conn, schedule_id=first["id"], revision=first["revision"],
        slots=["2025-01-01T00:00:00Z", "2025-01-01T00:01:00Z"],
    )  # fmt: skip
    Q.cancel_task(conn, task_id=Q.get_schedule(conn, name="s1")["last_task_id"])
    list(Q.buffered_schedules(conn, batch_size=10))
    Q.release_buffered_slot(conn, schedule_id=first["id"])
    Q.seconds_until_next_slot(conn)
    values = {**Q.get_schedule(conn, name="s2"), "queue_name": "small", "next_fire_at": None}
    Q.update_schedule(conn, **{name: values.get(name) for name in Q.update_schedule.parameters})
    Q.pause_schedule(conn, schedule_id=first["id"], note="n")
    Q.pause_queue_schedules(conn, queue_name="small", note="n")
    Q.delete_schedule(conn, name="s2")


def composition(conn: Any, ids: dict) -> None:
    """Children (single and batch creates), their counts and listing, result reads, a join
    that sleeps, its members finishing (the trigger), its timeout, and parent-close."""
    parent = held(conn)
    first = Q.create_task(conn, **new_task(parent_task_id=parent["task_id"], priority=None))
    Q.create_tasks(
        conn,
        queue_name="small",
        tasks=json.dumps(
            [{"task_name": "c", "parent_task_id": str(parent["task_id"])} for _ in range(3)]
        ),
    )
    list(Q.child_counts(conn, task_id=parent["task_id"]))
    list(
        Q.list_tasks_of_parent(
            conn, parent_task_id=parent["task_id"], status=None, cursor=None, limit=50
        )
    )
    Q.await_task(conn, task_id=first["task_id"], watch=True)
    Q.wait_for_tasks(
        conn,
        run_id=parent["run_id"],
        task_ids=[first["task_id"]],
        timeout_seconds=0,
        claim_token=parent["token"],
    )
    Q.timeout_joins(conn, batch_size=500)
    Q.cancel_task(conn, task_id=parent["task_id"])  # parent-close cancels the children


def delete_queue_in_batches(conn: Any, ids: dict) -> None:

    Q.detach_queue(conn, queue_id=ids["small"])
    row = Q.delete_queue_tasks(conn, queue_id=ids["small"], after=None, batch_size=100)
    while row["deleted"]:
        row = Q.delete_queue_tasks(
            conn, queue_id=ids["small"], after=row["last_id"], batch_size=100
        )
    Q.delete_queue(conn, queue_id=ids["small"])


# (what it runs, in a transaction rolled back afterwards; the named queries it covers)
SCAN_CASES: dict[str, tuple[Callable[[Any, dict], Any], set[str]]] = {
    "create one": (lambda c, i: Q.create_task(c, **new_task()), {"create_task"}),
    "create many": (
        lambda c, i: Q.create_tasks(c, queue_name="small", tasks='[{"task_name": "t"}]'),
        {"create_tasks"},
    ),
    "claim and complete": (
        lambda c, i: [
            Q.complete_run(c, run_id=run["run_id"], result='{"ok": 1}', claim_token=run["token"])
            for run in [held(c)]
        ],
        {"claim_runs", "complete_run"},
    ),
    "claim or learn when due": (
        lambda c, i: (
            list(Q.claim_runs_or_due(c, queue_name="small", limit=2, claim_timeout=60)),
            list(Q.claim_runs_or_due(c, queue_name="nosuch", limit=2, claim_timeout=60)),
        ),
        {"claim_runs_or_due"},
    ),
    "release claims": (
        lambda c, i: [
            Q.release_claims(
                c,
                run_ids=[r["run_id"] for r in runs],
                claim_tokens=[str(r["claim_token"]) for r in runs],
            )
            for runs in [claimed(c)]
        ],
        {"release_claims"},
    ),
    "complete many": (
        lambda c, i: list(
            Q.complete_runs(
                c,
                runs=json.dumps(
                    [
                        {"run_id": str(r["run_id"]), "claim_token": str(r["claim_token"])}
                        for r in claimed(c)
                    ]
                ),
            )
        ),
        {"complete_runs"},
    ),
    "fail and retry": (
        lambda c, i: [
            Q.fail_run(c, run_id=run["run_id"], error="boom", claim_token=run["token"])
            for run in [held(c)]
        ],
        {"fail_run"},
    ),
    "schedule": (
        lambda c, i: [
            Q.schedule_run(c, run_id=run["run_id"], run_at="2100-01-01", claim_token=run["token"])
            for run in [held(c)]
        ],
        {"schedule_run"},
    ),
    "heartbeat": (
        lambda c, i: [
            Q.extend_claim(c, run_id=run["run_id"], extend_by=60, claim_token=run["token"])
            for run in [held(c)]
        ],
        {"extend_claim"},
    ),
    "checkpoint": (
        lambda c, i: [
            Q.put_checkpoint(
                c,
                task_id=run["task_id"],
                step_name="s",
                state="{}",
                owner_run=run["run_id"],
                extend_claim_by=60,
                claim_token=run["token"],
            )
            for run in [held(c)]
        ],
        {"put_checkpoint"},
    ),
    "wait, then emit": (
        lambda c, i: (
            wait_on(c, "nobody_yet"),
            Q.emit_event(c, event_name="nobody_yet", payload="1"),
        ),
        {"wait_for_event", "emit_event"},
    ),
    "cancel": (lambda c, i: Q.cancel_task(c, task_id=claimed(c)[0]["task_id"]), {"cancel_task"}),
    "task summary": (
        lambda c, i: Q.get_task_summary(c, task_id=i["finished_task"]),
        {"get_task_summary"},
    ),
    "task detail": (
        lambda c, i: (
            Q.get_task_detail(c, task_id=i["finished_task"]),
            list(Q.list_task_runs(c, task_id=i["finished_task"])),
            list(Q.list_task_checkpoints(c, task_id=i["finished_task"])),
            Q.get_checkpoint(c, task_id=i["finished_task"], step_name="step"),
        ),
        {"get_task_detail", "list_task_runs", "list_task_checkpoints", "get_checkpoint"},
    ),
    "list tasks and runs": (
        lambda c, i: [
            list(getattr(Q, query)(c, **params(i)))
            for query, params, _ in PLAN_CASES.values()
            if query.startswith("list_")
        ],
        {query for query, _, _ in PLAN_CASES.values() if query.startswith("list_")},
    ),
    "workflow run counts": (
        lambda c, i: list(Q.workflow_task_counts(c, workflow_run_id=i["workflow_run"])),
        {"workflow_task_counts"},
    ),
    "stats": (
        lambda c, i: (
            list(Q.queue_counts(c, queue_id=i["big"])),
            Q.queue_due_runs(c, queue_id=i["big"]),
            Q.seconds_until_due(c, queue_name="big"),
        ),
        {"queue_counts", "queue_due_runs", "seconds_until_due"},
    ),
    "delete a queue in batches": (delete_queue_in_batches, {"detach_queue", "delete_queue_tasks"}),
    "delete a queue at once": (
        lambda c, i: Q.delete_queue(c, queue_id=i["small"]),
        {"delete_queue"},
    ),
    "expire claims": (
        lambda c, i: (claimed(c, 3, 0), Q.expire_claims(c, batch_size=500, max_expiries=3)),
        {"expire_claims"},
    ),
    "task timeouts": (
        lambda c, i: (
            Q.create_task(c, **new_task(start_timeout=0, execution_timeout=1)),
            Q.timeout_tasks(c, batch_size=500),
        ),
        {"timeout_tasks"},
    ),
    "wait timeouts": (
        lambda c, i: (wait_on(c, "never", 0), Q.timeout_waits(c, batch_size=500)),
        {"timeout_waits"},
    ),
    "retention": (
        lambda c, i: (
            Q.delete_expired_tasks(c, batch_size=500),
            Q.delete_expired_events(c, batch_size=500),
        ),
        {"delete_expired_tasks", "delete_expired_events"},
    ),
    "fold counts": (lambda c, i: Q.fold_queue_counts(c, batch_size=10_000), {"fold_queue_counts"}),
    "composition": (composition, {
        "child_counts", "list_tasks_of_parent", "await_task", "wait_for_tasks", "timeout_joins",
    }),
    "composition monitoring": (
        lambda c, i: (
            list(Q.monitoring_task_children(c, task_id=i["finished_task"], limit=50)),
            list(Q.monitoring_workflow_run_tree(c, workflow_run_id=i["workflow_run"], limit=500)),
        ),
        {"monitoring_task_children", "monitoring_workflow_run_tree"},
    ),
    "schedule monitoring": (
        lambda c, i: (
            schedule_row(c, "m1"),
            Q.trigger_schedule(c, name="m1"),
            list(Q.monitoring_schedule_totals(c)),
            list(Q.monitoring_schedule_tasks(c, name="m1", limit=10)),
        ),
        {"monitoring_schedule_totals", "monitoring_schedule_tasks"},
    ),
    "schedules": (
        schedules,
        {"create_schedule", "get_schedule", "list_schedules", "list_schedules_of_queue",
         "due_schedules", "fire_schedules", "trigger_schedule", "backfill_schedule",
         "buffered_schedules", "release_buffered_slot", "seconds_until_next_slot",
         "update_schedule", "pause_schedule", "pause_queue_schedules", "delete_schedule",
         "lock_schedule"},
    ),
    "flow control": (
        lambda c, i: (
            Q.update_queue(
                c, name="small", changes='{"max_concurrency": 5, "key_concurrency": 1, '
                '"rate_limit": {"limit": 10, "period_seconds": 1}}'
            ),
            Q.put_key(c, queue_name="small", key="k1", max_concurrency=2, rate_limit=None,
                      rate_period_seconds=None),
            i.update(keyed_task=Q.create_task(c, **new_task(concurrency_key="k1", priority=3))),
            Q.create_tasks(c, queue_name="small", tasks=json.dumps(
                [{"task_name": "t", "concurrency_key": f"k{n % 3}", "priority": n % 2}
                 for n in range(10)])),
            claimed(c, 5),
            Q.held_back_runs(c, queue_id=i["small"]),
            list(Q.key_rows(c, queue_id=i["small"], keys=["k1", "k2"])),
            Q.set_task_priority(c, task_id=i["keyed_task"]["task_id"], priority=7),
            Q.delete_key(c, queue_name="small", key="k1"),
            Q.purge_full_rate_buckets(c, batch_size=500),
        ),
        {"update_queue", "put_key", "held_back_runs", "key_rows", "set_task_priority",
         "delete_key", "purge_full_rate_buckets"},
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(SCAN_CASES))
def test_no_sequential_scan_of_a_large_table(seeded: Seeded, case: str) -> None:
    run, _ = SCAN_CASES[case]
    conn = seeded.conn
    conn.autocommit = False
    try:
        run(conn, seeded.ids)
        scans = {row["relname"]: row["seq_scan"] for row in T.scans_in_transaction(conn)}
    finally:
        conn.rollback()
        conn.autocommit = True
    assert not {table for table in LARGE_TABLES if scans.get(table)}, scans


def test_every_named_query_is_checked() -> None:
    """A new named query must get a plan or scan case here (or be declared table-free)."""
    names = {
        line.split()[2].split("(")[0]
        for path in Path(resource_dir("queries")).glob("*.sql")
        for line in path.read_text().splitlines()
        if line.startswith("-- name:")
    }
    covered = set().union(*(queries for _, queries in SCAN_CASES.values()))
    covered |= {query for query, _, _ in PLAN_CASES.values()} | NO_TABLES
    missing = {name for name in names - covered if not name.startswith("monitoring_")}
    assert not missing
