"""Composition on the dashboard: a task page shows its parent (a link, its status, and
what its parent_close does) and its children (counted by status, the latest listed with
links), bounded; a workflow run page draws its tasks as a tree, each child under its
parent, bounded; every value is escaped; the statements read the children's and the
run's indexes, never a large table row by row."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import psycopg2
import psycopg2.extras
from aiohttp.test_utils import TestClient
from markupsafe import escape

from durable_queue.api.security_headers import DASHBOARD_POLICY
from durable_queue.monitoring import views
from durable_queue.resources import resource_dir
from tests.api.test_metrics import LARGE_TABLES, SCANS, SEED
from tests.api.test_security_headers import NO_INLINE
from tests.api.test_ui import links, page
from tests.helpers import call, claim, make_queue, make_task

EVIL = '<script>alert("c")</script>'


async def child(client: TestClient, parent: str, queue: str = "q", **body: Any) -> dict[str, Any]:
    return await make_task(client, queue, parent_task_id=parent, **body)


async def finish(client: TestClient, queue: str, outcome: str, **body: Any) -> dict[str, Any]:
    """Claim the next run of `queue` and complete or fail it."""
    (run,) = await claim(client, queue)
    await call(client, "POST", f"/runs/{run['run_id']}/{outcome}", 200, json=body)
    return run


def table(text: str, table_id: str) -> str:
    found = re.search(rf'<table id="{table_id}">(.*?)</table>', text, re.S)
    assert found, f"no table {table_id}"
    return found.group(1)


def rows(text: str, table_id: str) -> list[str]:
    return re.findall(r"<tr[^>]*>(.*?)</tr>", table(text, table_id).split("</thead>", 1)[1], re.S)


def task_ids(fragment: str) -> list[str]:
    return re.findall(r'href="/ui/tasks/([0-9a-f-]{36})"', fragment)


# -- a task page ---------------------------------------------------------------------


async def family(client: TestClient) -> dict[str, str]:
    """Queue "q": a parent with three children on "q" and "side" (one abandon), one of
    them completed, one failed; the first child has a child of its own."""
    await make_queue(client, "q")
    await make_queue(client, "side")
    parent = (await make_task(client, "q", task_name="parent"))["task_id"]
    (held,) = await claim(client, "q")
    assert held["task_id"] == parent
    first = (await child(client, parent, task_name="first"))["task_id"]
    second = (await child(client, parent, "side", task_name="second"))["task_id"]
    third = (await child(client, parent, task_name="third", parent_close="abandon"))["task_id"]
    grandchild = (await child(client, first, "side", task_name="grandchild"))["task_id"]
    done = await finish(client, "q", "complete", result={"ok": 1})
    assert done["task_id"] == first
    failed = await finish(client, "side", "fail", error="no luck")
    assert failed["task_id"] == second
    return {
        "parent": parent,
        "parent_run": held["run_id"],
        "first": first,
        "second": second,
        "third": third,
        "grandchild": grandchild,
    }


async def test_a_task_page_lists_its_children_and_counts_them(client: TestClient) -> None:
    ids = await family(client)
    text = await page(client, f"/ui/tasks/{ids['parent']}")
    assert "<h2>Children</h2>" in text
    counts = re.search(r'<p id="child-counts">(.*?)</p>', text, re.S).group(1)
    assert re.search(r'status-pending">pending</span> 1\b', counts)
    assert re.search(r'status-completed">completed</span> 1\b', counts)
    assert re.search(r'status-failed">failed</span> 1\b', counts)
    assert "canceled" not in counts  # statuses without children are left out
    assert "3 in all" in counts
    listed = rows(text, "children")
    # newest first, with the child's own status and its parent_close
    assert [task_ids(row)[0] for row in listed] == [ids["third"], ids["second"], ids["first"]]
    assert "status-pending" in listed[0] and ">abandon<" in listed[0]
    assert "status-failed" in listed[1] and ">side<" in listed[1] and ">cancel<" in listed[1]
    assert "status-completed" in listed[2]
    assert 'id="children-more"' not in text
    assert ids["grandchild"] not in text  # a grandchild is its own parent's

    api = await call(client, "GET", f"/tasks/{ids['parent']}", 200)
    assert api["children"] == {"pending": 1, "completed": 1, "failed": 1, "canceled": 0}
    assert 'id="parent"' not in text  # a task without a parent


async def test_a_child_page_links_its_parent(client: TestClient) -> None:
    ids = await family(client)
    text = await page(client, f"/ui/tasks/{ids['second']}")
    parent = re.search(r'<dd id="parent">(.*?)</dd>', text, re.S).group(1)
    assert task_ids(parent) == [ids["parent"]]
    assert "parent" in parent and 'status-pending">pending<' in parent
    assert "this task is canceled" in parent and "parent_close cancel" in parent
    abandoned = await page(client, f"/ui/tasks/{ids['third']}")
    parent = re.search(r'<dd id="parent">(.*?)</dd>', abandoned, re.S).group(1)
    assert "this task keeps running" in parent and "parent_close abandon" in parent

    grandchild = await page(client, f"/ui/tasks/{ids['grandchild']}")
    assert task_ids(re.search(r'<dd id="parent">(.*?)</dd>', grandchild, re.S).group(1)) == [
        ids["first"]
    ]
    first = await page(client, f"/ui/tasks/{ids['first']}")
    assert [task_ids(row)[0] for row in rows(first, "children")] == [ids["grandchild"]]
    assert 'id="children"' not in grandchild


async def test_canceling_the_parent_shows_on_its_children(client: TestClient) -> None:
    ids = await family(client)
    fourth = (await child(client, ids["parent"], task_name="fourth"))["task_id"]
    await call(client, "POST", f"/tasks/{ids['parent']}/cancel", 200)
    text = await page(client, f"/ui/tasks/{ids['parent']}")
    counts = re.search(r'<p id="child-counts">(.*?)</p>', text, re.S).group(1)
    # the unfinished cancel child is canceled, the abandon one keeps running, the
    # finished ones keep their outcome
    assert re.search(r'status-canceled">canceled</span> 1\b', counts)
    assert re.search(r'status-pending">pending</span> 1\b', counts)
    assert re.search(r'status-completed">completed</span> 1\b', counts)
    assert "4 in all" in counts
    (canceled,) = [row for row in rows(text, "children") if fourth in row]
    assert "status-canceled" in canceled
    kid = await page(client, f"/ui/tasks/{fourth}")
    assert "parent canceled" in kid  # its error
    parent = re.search(r'<dd id="parent">(.*?)</dd>', kid, re.S).group(1)
    assert 'status-canceled">canceled<' in parent


async def test_a_deleted_parent_shows_its_id_without_a_link(
    client: TestClient, database_url: str
) -> None:
    ids = await family(client)
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM tasks WHERE id = %s", (ids["parent"],))
    conn.close()
    text = await page(client, f"/ui/tasks/{ids['third']}")
    parent = re.search(r'<dd id="parent">(.*?)</dd>', text, re.S).group(1)
    assert f"<code>{ids['parent']}</code>" in parent and "(deleted)" in parent
    assert not task_ids(parent)


async def test_the_children_listed_are_bounded(client: TestClient) -> None:
    await make_queue(client, "q")
    parent = (await make_task(client, "q", task_name="parent"))["task_id"]
    items = [{"task_name": f"c-{i:03}", "parent_task_id": parent} for i in range(57)]
    created = await call(client, "POST", "/queues/q/tasks/batch", 200, json={"tasks": items})
    made = [item["task_id"] for item in created["tasks"]]
    text = await page(client, f"/ui/tasks/{parent}")
    listed = [task_ids(row)[0] for row in rows(text, "children")]
    assert len(listed) == views.CHILDREN_SHOWN == 50
    assert listed == sorted(made, reverse=True)[:50]  # the newest
    more = re.search(r'<p class="muted" id="children-more">(.*?)</p>', text, re.S).group(1)
    assert "The 50 newest of 57 children" in more
    assert f"parent_task_id={parent}" in more
    assert "57 in all" in text


# -- a workflow run page -------------------------------------------------------------


async def run_tree(client: TestClient) -> dict[str, str]:
    """A workflow run: root A with children A1 (with A1a, A1b) and A2; root B; and
    a task created in the run with no parent after them (C)."""
    await make_queue(client, "tree")
    flow = await call(client, "POST", "/workflow-runs", 201, json={"workflow_name": "tree"})
    run_id = flow["workflow_run_id"]
    ids = {"run": run_id}
    ids["A"] = (await make_task(client, "tree", task_name="A", workflow_run_id=run_id))["task_id"]
    ids["B"] = (await make_task(client, "tree", task_name="B", workflow_run_id=run_id))["task_id"]
    ids["A1"] = (await child(client, ids["A"], task_name="A1", queue="tree"))["task_id"]
    ids["A2"] = (await child(client, ids["A"], task_name="A2", queue="tree"))["task_id"]
    ids["A1a"] = (await child(client, ids["A1"], task_name="A1a", queue="tree"))["task_id"]
    ids["A1b"] = (await child(client, ids["A1"], task_name="A1b", queue="tree"))["task_id"]
    ids["C"] = (await make_task(client, "tree", task_name="C", workflow_run_id=run_id))["task_id"]
    return ids


async def test_a_workflow_run_page_draws_its_tree(client: TestClient) -> None:
    ids = await run_tree(client)
    detail = await call(client, "GET", f"/tasks/{ids['A1a']}", 200)
    assert detail["workflow_run_id"] == ids["run"]  # a child is in its parent's run
    text = await page(client, f"/ui/workflow-runs/{ids['run']}")
    drawn = re.findall(
        r'<tr data-depth="(\d+)">\s*<td class="tree">(.*?)</td>\s*<td class="task-name">(.*?)</td>',
        table(text, "tree"),
        re.S,
    )
    assert [(int(depth), name) for depth, _, name in drawn] == [
        (0, "A"),
        (1, "A1"),
        (2, "A1a"),
        (2, "A1b"),
        (1, "A2"),
        (0, "B"),
        (0, "C"),
    ]
    for (depth, cell, name), key in zip(
        drawn, ("A", "A1", "A1a", "A1b", "A2", "B", "C"), strict=True
    ):
        assert task_ids(cell) == [ids[key]], name
        assert cell.count("\u2514") == (1 if int(depth) else 0)
        assert cell.startswith("\u00a0" * 3 * max(0, int(depth) - 1))
    assert "Each child under its parent" in text
    assert "The first" not in text  # every task is drawn
    assert re.search(r'status-pending">pending</span> 7', text)  # the counts stay


async def test_a_task_whose_parent_is_in_another_run_is_a_root(
    client: TestClient, database_url: str
) -> None:
    ids = await run_tree(client)
    other = await call(client, "POST", "/workflow-runs", 201, json={"workflow_name": "other"})
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute(
            "UPDATE tasks SET workflow_run_id = %s WHERE id = %s",
            (other["workflow_run_id"], ids["A1"]),
        )
    conn.close()
    text = await page(client, f"/ui/workflow-runs/{other['workflow_run_id']}")
    (row,) = rows(text, "tree")
    assert f'child of <a href="/ui/tasks/{ids["A"]}">' in row and "not in this run" in row
    first = await page(client, f"/ui/workflow-runs/{ids['run']}")
    names = re.findall(r'<td class="task-name">(.*?)</td>', table(first, "tree"))
    assert names == ["A", "A2", "B", "A1a", "A1b", "C"]  # A1's children: roots here
    assert first.count("not in this run") == 2


async def test_the_tree_is_bounded(client: TestClient) -> None:
    await make_queue(client, "q")
    flow = await call(client, "POST", "/workflow-runs", 201, json={"workflow_name": "wide"})
    run_id = flow["workflow_run_id"]
    root = (await make_task(client, "q", task_name="root", workflow_run_id=run_id))["task_id"]
    items = [{"task_name": f"leaf-{i}", "parent_task_id": root} for i in range(views.TREE_TASKS)]
    await call(client, "POST", "/queues/q/tasks/batch", 200, json={"tasks": items})
    text = await page(client, f"/ui/workflow-runs/{run_id}")
    drawn = rows(text, "tree")
    assert len(drawn) == views.TREE_TASKS == 500
    assert task_ids(drawn[0]) == [root]
    note = re.search(r'<p class="muted" id="tree-note">(.*?)</p>', text, re.S).group(1)
    assert "The first 500 of 501 tasks" in note


def test_tree_rows_nest_deep_chains_and_survive_odd_input() -> None:
    chain = [{"id": i, "parent_task_id": i - 1 if i else None} for i in range(40)]
    drawn = views.tree_rows(chain)
    assert [row["id"] for row in drawn] == list(range(40))
    assert [row["depth"] for row in drawn] == list(range(40))
    deepest = drawn[-1]
    assert deepest["deeper"] and not drawn[views.TREE_DEPTH_SHOWN]["deeper"]
    assert deepest["prefix"] == drawn[views.TREE_DEPTH_SHOWN]["prefix"]  # drawn no deeper
    assert drawn[1]["prefix"] == "\u2514\u00a0" and drawn[0]["prefix"] == ""
    # a cycle (no real run has one) and a self-parent still show every task once
    odd = [
        {"id": "a", "parent_task_id": "b"},
        {"id": "b", "parent_task_id": "a"},
        {"id": "c", "parent_task_id": "c"},
    ]
    assert sorted(row["id"] for row in views.tree_rows(odd)) == ["a", "b", "c"]
    assert views.tree_rows([]) == []


def test_child_counts_read_a_mapping_or_an_object() -> None:
    from durable_queue.wire import ChildCounts

    assert views.child_counts(None) == {}
    assert views.child_counts(ChildCounts()) == {}
    assert views.child_counts(ChildCounts(pending=2, failed=1)) == {
        "pending": 2,
        "completed": 0,
        "failed": 1,
        "canceled": 0,
    }
    assert views.child_counts({"completed": 3}) == {
        "pending": 0,
        "completed": 3,
        "failed": 0,
        "canceled": 0,
    }


# -- escaping, links, headers --------------------------------------------------------


async def test_values_are_escaped(client: TestClient) -> None:
    await make_queue(client, "q")
    flow = await call(client, "POST", "/workflow-runs", 201, json={"workflow_name": EVIL})
    parent = await make_task(client, "q", task_name=EVIL, workflow_run_id=flow["workflow_run_id"])
    kid = await child(client, parent["task_id"], task_name=EVIL)
    for path in (
        f"/ui/tasks/{parent['task_id']}",
        f"/ui/tasks/{kid['task_id']}",
        f"/ui/workflow-runs/{flow['workflow_run_id']}",
    ):
        text = await page(client, path)
        assert "<script>" not in text, path
        assert str(escape(EVIL)) in text, path


async def test_every_link_of_the_composition_pages_answers(client: TestClient) -> None:
    ids = await family(client)
    tree = await run_tree(client)
    seen: set[str] = set()
    todo = [f"/ui/tasks/{ids['parent']}", f"/ui/workflow-runs/{tree['run']}"]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        resp = await client.get(path)
        assert resp.status == 200, path
        if path.startswith(("/ui/tasks/", "/ui/workflow-runs/")):
            todo.extend(h for h in links(await resp.text()) if h.startswith("/ui"))
    expected = {f"/ui/tasks/{ids[k]}" for k in ("first", "second", "third", "grandchild")}
    assert expected | {f"/ui/tasks/{tree[k]}" for k in ("A1a", "A2", "C")} <= seen


async def test_the_pages_carry_the_dashboard_policy_and_nothing_inline(
    client: TestClient,
) -> None:
    ids = await family(client)
    tree = await run_tree(client)
    for path in (
        f"/ui/tasks/{ids['parent']}",
        f"/ui/tasks/{ids['second']}",
        f"/ui/workflow-runs/{tree['run']}",
    ):
        resp = await client.get(path)
        assert resp.headers["Content-Security-Policy"] == DASHBOARD_POLICY, path
        assert not NO_INLINE.search(await resp.text()), path


# -- the statements stay bounded -----------------------------------------------------

FAMILY_SEED = """
INSERT INTO workflow_runs (id, workflow_name) VALUES (%(run)s, 'seeded');
UPDATE tasks SET parent_task_id = %(parent)s, parent_close = 'cancel'
WHERE id IN (SELECT id FROM tasks WHERE task_name = 'bulk' AND id <> %(parent)s
             ORDER BY id DESC LIMIT 3000);
UPDATE tasks SET workflow_run_id = %(run)s
WHERE id IN (SELECT id FROM tasks WHERE task_name = 'bulk' ORDER BY id LIMIT 2000);
ANALYZE;
"""


def statement_cases(q: Any, ids: dict[str, Any]) -> dict[str, tuple[Any, int]]:
    return {
        "a task's children": (
            lambda c: list(q.monitoring_task_children(c, task_id=ids["parent"], limit=50)),
            50,
        ),
        "a workflow run's tree": (
            lambda c: list(
                q.monitoring_workflow_run_tree(c, workflow_run_id=ids["run"], limit=500)
            ),
            500,
        ),
    }


def test_the_composition_statements_read_no_large_table_sequentially(
    database_url: str,
) -> None:
    """With 20,400 tasks, 3,000 children of one and 2,000 tasks in one run: no
    sequential scan of a large table; the children come from tasks_by_parent and the
    tree from tasks_by_workflow_run, in index order (no sort)."""
    import aiosql

    q = aiosql.from_path(resource_dir("queries"), "psycopg2")
    seed = psycopg2.connect(database_url, cursor_factory=psycopg2.extras.RealDictCursor)
    try:
        seed.autocommit = True
        with seed.cursor() as cur:
            cur.execute(SEED)
            cur.execute("SELECT id FROM tasks ORDER BY id LIMIT 1")
            ids = {"parent": cur.fetchone()["id"], "run": str(uuid.uuid4())}
            cur.execute(FAMILY_SEED, ids)
    finally:
        seed.close()

    for case, (run, expected) in statement_cases(q, ids).items():
        conn = psycopg2.connect(database_url, cursor_factory=psycopg2.extras.RealDictCursor)
        try:
            result = run(conn)
            with conn.cursor() as cur:
                cur.execute(SCANS)
                scans = {row["relname"]: row["seq_scan"] for row in cur.fetchall()}
        finally:
            conn.rollback()
            conn.close()
        assert len(result) == expected, case
        assert not [t for t in LARGE_TABLES if scans.get(t)], (case, scans)

    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            for query, given, index in (
                (q.monitoring_task_children, {"task_id": ids["parent"], "limit": 50},
                 "tasks_by_parent"),
                (q.monitoring_workflow_run_tree, {"workflow_run_id": ids["run"], "limit": 500},
                 "tasks_by_workflow_run"),
            ):  # fmt: skip
                statement = cur.mogrify(query.sql, given).decode()
                cur.execute(f"EXPLAIN (FORMAT JSON) {statement}")
                plan = json.dumps(cur.fetchone()[0])
                assert f'"Index Name": "{index}"' in plan, plan
                assert '"Node Type": "Sort"' not in plan, plan
    finally:
        conn.close()
