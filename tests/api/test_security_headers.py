"""Security headers on every answer: nosniff and no framing everywhere, a Content-Security-
Policy fitting each page (the dashboard and the docs page carry no inline script or style,
so their policies need no 'unsafe-inline'), and a policy allowing nothing elsewhere.
Whether the pages still render under their policies is tests/e2e/test_ui_browser.py's."""

from __future__ import annotations

import re
import uuid

import pytest

from durable_queue.api.security_headers import DASHBOARD_POLICY, DOCS_POLICY
from tests.helpers import API, make_queue, make_task

DASHBOARD_PAGES = [
    "/ui",
    "/ui/tasks",
    "/ui/tasks?status=bogus",  # the 400 page
    "/ui/tasks/{task_id}",
    f"/ui/tasks/{uuid.uuid4()}",  # the 404 page
    "/ui/workflow-runs",
    "/ui/workflow-runs/{flow_id}",
    "/ui/events",
    "/ui/schedules",
    "/ui/schedules/nope",  # the 404 page
    "/ui/style.css",
]
OTHER_ANSWERS = [
    f"{API}/openapi.json",
    f"{API}/queues",
    f"{API}/tasks/{{task_id}}",
    f"{API}/tasks/{uuid.uuid4()}",  # an error body
    "/nope",
    "/metrics",
    "/healthz",
    "/docs/init.js",
    "/docs/page.css",
    "/docs/static/swagger-ui-bundle.js",
]
NO_INLINE = re.compile(r"<style|\sstyle=|<script(?![^>]*\ssrc=)|\son\w+=", re.IGNORECASE)


@pytest.fixture
async def ids(client) -> dict[str, str]:
    await make_queue(client, "q")
    flow = await client.post(f"{API}/workflow-runs", json={"workflow_name": "w"})
    flow_id = (await flow.json())["workflow_run_id"]
    task = await make_task(client, "q", workflow_run_id=flow_id)
    return {"task_id": task["task_id"], "flow_id": flow_id}


async def get(client, path: str):
    resp = await client.get(path, allow_redirects=False)
    assert resp.status < 500, (path, resp.status)
    assert resp.headers["X-Content-Type-Options"] == "nosniff", path
    assert resp.headers["X-Frame-Options"] == "DENY", path
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"], path
    return resp


@pytest.mark.parametrize("template", DASHBOARD_PAGES)
async def test_dashboard_pages_carry_their_policy_and_nothing_inline(client, ids, template):
    resp = await get(client, template.format(**ids))
    assert resp.headers["Content-Security-Policy"] == DASHBOARD_POLICY
    assert "unsafe" not in DASHBOARD_POLICY
    if resp.content_type == "text/html":
        page = await resp.text()
        assert not NO_INLINE.search(page), NO_INLINE.search(page)
        assert '<link rel="stylesheet" href="/ui/style.css">' in page


async def test_the_docs_page_carries_its_policy_and_runs_no_inline_script(client):
    resp = await get(client, "/docs")
    assert resp.headers["Content-Security-Policy"] == DOCS_POLICY
    assert "unsafe" not in DOCS_POLICY
    page = await resp.text()
    assert not NO_INLINE.search(page), NO_INLINE.search(page)
    assert 'src="/docs/init.js"' in page and 'data-spec-url="/api/v1/openapi.json"' in page
    assert "validatorUrl: null" in await (await client.get("/docs/init.js")).text()


@pytest.mark.parametrize("template", OTHER_ANSWERS)
async def test_everything_else_allows_nothing(client, ids, template):
    resp = await get(client, template.format(**ids))
    assert resp.headers["Content-Security-Policy"].startswith("default-src 'none';")
    assert "script-src" not in resp.headers["Content-Security-Policy"]


async def test_a_write_and_a_redirect_carry_them_too(client):
    resp = await client.post(f"{API}/queues", json={"name": "h"})
    assert resp.status == 201
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    await get(client, "/")


async def test_the_docs_static_folder_is_a_404_not_a_403(client):
    for path in ("/docs/static/", "/docs/static", "/docs/static/nope.js"):
        resp = await client.get(path)
        assert resp.status == 404, path
        body = await resp.json()
        assert body["code"] == "NOT_FOUND", (path, body)
