"""The dashboard at /ui: every page renders for an empty and a busy database, values are
escaped, links lead where they say, and an unknown id is a friendly 404 page."""

from __future__ import annotations

import html
import re
import uuid

from aiohttp.test_utils import TestClient
from markupsafe import escape

from durable_queue.app import create_app
from durable_queue.config import Settings
from durable_queue.monitoring.charts import queue_chart
from durable_queue.monitoring.keys import SAMPLER
from durable_queue.monitoring.store import HistoryPoint
from tests.helpers import call, claim, make_queue, make_task

PAGES = ("/ui", "/ui/tasks", "/ui/workflow-runs", "/ui/events")
EVIL_NAME = '<script>alert("name")</script>'
EVIL_PARAM = "<img src=x onerror=alert(1)>&amp;"
EVIL_ERROR = "</pre><b>boom</b>"


async def page(client: TestClient, path: str, status: int = 200) -> str:
    resp = await client.get(path)
    text = await resp.text()
    assert resp.status == status, f"{path}: {resp.status} {text[:500]}"
    assert resp.content_type == "text/html"
    return text


def links(text: str) -> list[str]:
    return [html.unescape(h) for h in re.findall(r'href="([^"]+)"', text)]


async def test_pages_render_on_an_empty_database(client: TestClient) -> None:
    assert "No queue yet" in await page(client, "/ui")
    assert "No task matches" in await page(client, "/ui/tasks")
    assert "No workflow run matches" in await page(client, "/ui/workflow-runs")
    assert "No event" in await page(client, "/ui/events")


async def test_unknown_and_malformed_ids_are_a_friendly_404(client: TestClient) -> None:
    missing = uuid.uuid4()
    text = await page(client, f"/ui/tasks/{missing}", 404)
    assert f"No task has the id {missing}" in text
    assert 'href="/ui"' in text
    assert "No task has the id" in await page(client, "/ui/tasks/not-a-uuid", 404)
    text = await page(client, f"/ui/workflow-runs/{missing}", 404)
    assert f"No workflow run has the id {missing}" in text


async def test_bad_filters_are_a_400_page_naming_them(client: TestClient) -> None:
    assert "status must be one of" in await page(client, "/ui/tasks?status=bogus", 400)
    assert "cursor is not a UUID" in await page(client, "/ui/tasks?cursor=x", 400)
    assert "name is longer than" in await page(client, f"/ui/events?name={'n' * 2000}", 400)


async def busy(client: TestClient) -> dict[str, str]:
    """Two queues, a workflow run, a failed-and-retried task with a checkpoint and a wait,
    completed tasks, events."""
    await make_queue(client, "mail")
    await make_queue(client, "img")
    flow = await call(client, "POST", "/workflow-runs", 201, json={"workflow_name": "onboard"})
    flow_id = flow["workflow_run_id"]
    task = await make_task(
        client,
        "mail",
        task_name="send",
        params={"to": "a@example.com"},
        headers={"trace": "t-1"},
        max_attempts=3,
        workflow_run_id=flow_id,
    )
    (run,) = await claim(client, "mail")
    await call(client, "POST", f"/runs/{run['run_id']}/fail", 200, json={"error": "smtp down"})
    for i in range(3):
        await make_task(client, "img", task_name="resize", params={"i": i})
    *done, broken = await claim(client, "img", limit=3)
    for claimed in done:
        await call(client, "POST", f"/runs/{claimed['run_id']}/complete", 200, json={})
    await call(client, "POST", f"/runs/{broken['run_id']}/fail", 200, json={"error": "bad"})
    waiting = await make_task(client, "img", task_name="approve")
    (held,) = await claim(client, "img")
    assert held["task_id"] == waiting["task_id"]
    await call(
        client,
        "PUT",
        f"/tasks/{waiting['task_id']}/checkpoints/fetched",
        200,
        json={"state": {"rows": 12}, "owner_run": held["run_id"]},
    )
    await call(
        client,
        "POST",
        f"/runs/{held['run_id']}/wait-for-event",
        202,
        json={
            "task_id": waiting["task_id"],
            "event_name": "approved",
            "step_name": "approval",
            "timeout_seconds": 600,
        },
    )
    await call(client, "POST", "/events", 201, json={"event_name": "deployed", "payload": [1]})
    return {"task_id": task["task_id"], "flow_id": flow_id, "waiting": waiting["task_id"]}


async def test_pages_render_on_a_busy_database(client: TestClient, app) -> None:
    ids = await busy(client)
    await app[SAMPLER].sample_once(settle_seconds=0)
    overview = await page(client, "/ui")
    assert '<meta http-equiv="refresh"' in overview
    assert overview.count("<svg") == 2
    row = re.search(r'<tr data-queue="img">.*?</tr>', overview, re.S).group(0)
    # nothing pending (approve sleeps on its event); 4 created, 2 completed, 1 failed
    assert re.search(r'class="num pending"><a [^>]*>0</a>', row)
    numbers = re.findall(r'<td class="num">(\d+)</td>', row)
    # scheduled, claimed, held back .. retried (failed is linked)
    assert numbers == ["0", "0", "0", "1", "4", "2", "0", "0"]
    assert re.search(r'status=failed">1</a>', row)

    tasks = await page(client, "/ui/tasks?queue=mail")
    assert f"/ui/tasks/{ids['task_id']}" in links(tasks)
    assert "resize" not in tasks

    detail = await page(client, f"/ui/tasks/{ids['task_id']}")
    for expected in ("a@example.com", "t-1", "smtp down", f"/ui/workflow-runs/{ids['flow_id']}"):
        assert expected in detail
    assert detail.count("<code>") >= 3  # the task id and both runs

    waiting = await page(client, f"/ui/tasks/{ids['waiting']}")
    assert "fetched" in waiting and "&#34;rows&#34;: 12" in waiting
    assert "/ui/events?name=approved" in links(waiting)

    flow = await page(client, f"/ui/workflow-runs/{ids['flow_id']}")
    assert f"/ui/tasks/{ids['task_id']}" in links(flow)
    assert f"/ui/workflow-runs/{ids['flow_id']}" in links(await page(client, "/ui/workflow-runs"))
    events = await page(client, "/ui/events")
    assert "deployed" in events
    assert "No event named" in await page(client, "/ui/events?name=approved")


async def test_every_link_of_every_page_answers(client: TestClient) -> None:
    ids = await busy(client)
    seen: set[str] = set()
    todo = [*PAGES, f"/ui/tasks/{ids['task_id']}", f"/ui/workflow-runs/{ids['flow_id']}"]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        resp = await client.get(path)
        assert resp.status == 200, path
        if path.startswith("/ui"):
            todo.extend(h for h in links(await resp.text()) if h.startswith("/ui"))
    assert len(seen) > 15
    assert {"/ui/queues/mail", "/ui/queues/img"} <= seen


async def test_a_listing_pages_with_its_filters(client: TestClient) -> None:
    await make_queue(client, "many")
    await make_queue(client, "other")
    created = [(await make_task(client, "many"))["task_id"] for _ in range(55)]
    await make_task(client, "other")
    first = await page(client, "/ui/tasks?queue=many")
    (older,) = [h for h in links(first) if "cursor=" in h]
    assert "queue=many" in older
    second = await page(client, older)
    shown = set(re.findall(r"/ui/tasks/([0-9a-f-]{36})", first + second))
    assert shown == set(created)
    assert "cursor=" not in "".join(h for h in links(second) if "older" in h)
    assert "« newest" in second


async def test_user_data_is_escaped(client: TestClient) -> None:
    await make_queue(client, "evil")
    task = await make_task(
        client,
        "evil",
        task_name=EVIL_NAME,
        params={"html": EVIL_PARAM, EVIL_NAME: [EVIL_PARAM]},
        headers={"x": EVIL_NAME},
    )
    (run,) = await claim(client, "evil")
    await call(client, "POST", f"/runs/{run['run_id']}/fail", 200, json={"error": EVIL_ERROR})
    await call(
        client, "POST", "/events", 201, json={"event_name": EVIL_NAME, "payload": EVIL_PARAM}
    )
    pages = [
        await page(client, "/ui/tasks"),
        await page(client, f"/ui/tasks/{task['task_id']}"),
        await page(client, f"/ui/tasks?name={EVIL_NAME}"),
        await page(client, "/ui/events"),
        await page(client, "/ui/tasks?status=bogus&queue=x", 400),
    ]
    for text in pages:
        for raw in ("<script>", "<img", "<b>boom"):
            assert raw not in text
    detail = pages[1]
    assert escape(EVIL_NAME) in detail
    assert "&lt;img src=x onerror=alert(1)&gt;&amp;amp;" in detail
    assert "&lt;/pre&gt;&lt;b&gt;boom&lt;/b&gt;" in detail
    assert escape(EVIL_NAME) in pages[2]


async def test_dashboard_and_metrics_need_a_token_when_tokens_are_set(
    aiohttp_client, database_url: str
) -> None:
    settings = Settings(database_url=database_url, api_tokens=("ui-token",))
    client = await aiohttp_client(create_app(settings))
    for path in ("/ui", "/ui/tasks", f"/ui/tasks/{uuid.uuid4()}", "/ui/events", "/metrics"):
        resp = await client.get(path)
        assert resp.status == 401, path
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        authorized = await client.get(path, headers={"Authorization": "Bearer ui-token"})
        assert authorized.status in (200, 404), path


def test_chart_places_the_newest_bucket_at_the_right() -> None:
    assert "no samples yet" in queue_chart([])
    svg = queue_chart(
        [HistoryPoint(bucket=119, pending=10, runs_completed=0), HistoryPoint(0, 5, 4)]
    )
    # bucket 119 is the oldest (left edge), bucket 0 the newest (right edge); depth 10 tops
    assert 'points="1.0,4.0 239.0,30.0"' in svg
    assert svg.count('class="done"') == 1 and 'x="238.0" y="4.0"' in svg
    assert "depth up to 10, up to 4 completions per 30 s" in svg
