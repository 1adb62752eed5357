"""End to end in a real browser: headless Chromium opens /ui, sees a queue created by the
test with its pending count, follows the link to a task page, and saves a screenshot.

Chromium is driven over the DevTools protocol with aiohttp's own WebSocket client (no
browser-automation dependency): navigate, read the DOM, click a link as a user would,
wait for the page it loads, capture a PNG. `.ci/run` installs Debian's `chromium`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import aiopg
import pytest
from aiohttp.test_utils import TestClient

from durable_queue.api.keys import SETTINGS
from durable_queue.monitoring.keys import SAMPLER
from tests.helpers import call, claim, eventually, make_queue, make_task

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"
# An hour of history for the picture's charts (the sampler would take an hour to draw it).
PICTURE_HISTORY = """
INSERT INTO queue_samples (queue_id, sampled_at, pending, scheduled, claimed, sleeping,
                           oldest_pending_age_seconds, tasks_created, runs_completed,
                           runs_failed, runs_expired, runs_retried)
SELECT q.id, now() - make_interval(secs => 10 * g),
       greatest(0, round(%(depth)s * (1 + sin(g / %(period)s::float8)))),
       0, 4, 0, 0.5, 40, round(%(rate)s * (1.2 + cos(g / 23.0))), 0, 0, 0
FROM queues q, generate_series(1, 359) g
WHERE q.name = %(queue)s
"""

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")


class Page:
    """One browser tab over the DevTools protocol."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self._events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._answers: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            data = json.loads(message.data)
            if "id" in data:
                self._answers.pop(data["id"]).set_result(data)
            else:
                await self._events.put(data)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        ident = next(self._ids)
        answer = asyncio.get_running_loop().create_future()
        self._answers[ident] = answer
        await self.ws.send_json({"id": ident, "method": method, "params": params})
        data = await asyncio.wait_for(answer, 30)
        assert "error" not in data, data
        return data["result"]

    async def _loaded(self) -> None:
        while (await self._events.get())["method"] != "Page.loadEventFired":
            pass

    async def goto(self, url: str) -> None:
        loaded = asyncio.create_task(self._loaded())
        await self.send("Page.navigate", url=url)
        await asyncio.wait_for(loaded, 30)

    async def next_load(self) -> None:
        """Wait for the next page the tab loads (one the page itself navigates to)."""
        await asyncio.wait_for(self._loaded(), 30)

    async def watch_csp(self) -> None:
        """Record every Content-Security-Policy violation of the pages loaded from now on
        in `window.cspViolations` (the script DevTools adds is exempt from the policy)."""
        await self.send(
            "Page.addScriptToEvaluateOnNewDocument",
            source=(
                "window.cspViolations = [];"
                "document.addEventListener('securitypolicyviolation', e => "
                "window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));"
            ),
        )

    async def csp_violations(self) -> list[str]:
        return await self.evaluate("window.cspViolations")

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    async def click(self, selector: str) -> None:
        """Click the element as a user would and wait for the page the click loads."""
        loaded = asyncio.create_task(self._loaded())
        await self.evaluate(f"document.querySelector({json.dumps(selector)}).click()")
        await asyncio.wait_for(loaded, 30)

    async def click_only(self, selector: str) -> None:
        """Click the element, without waiting for a page load (a click the page handles)."""
        await self.evaluate(f"document.querySelector({json.dumps(selector)}).click()")

    async def screenshot(self) -> bytes:
        """The page as a PNG."""
        shot = await self.send("Page.captureScreenshot", format="png")
        return base64.b64decode(shot["data"])

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()


@contextlib.asynccontextmanager
async def browser(profile: Path) -> AsyncIterator[Page]:
    """A headless Chromium with a fresh profile; its DevTools port is the one it reports."""
    process = await asyncio.create_subprocess_exec(
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--window-size=1280,800",
        "--remote-debugging-port=0",
        f"--user-data-dir={profile}",
        "about:blank",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        await eventually(
            lambda: port_file.exists() and port_file.read_text().strip(),
            what="Chromium's DevTools port",
        )
        port = port_file.read_text().split()[0]
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/json/list") as resp:
                targets = await resp.json()
            (tab,) = [t for t in targets if t["type"] == "page"]
            async with session.ws_connect(tab["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                page = Page(ws)
                await page.send("Page.enable")
                try:
                    yield page
                finally:
                    await page.close()
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


async def test_overview_in_chromium_links_to_a_task(
    aiohttp_server, aiohttp_client, app, tmp_path: Path
) -> None:
    # one server on a real port: the test sets up through its API, Chromium browses it
    client: TestClient = await aiohttp_client(await aiohttp_server(app))
    server_url = str(client.make_url("")).rstrip("/")
    await make_queue(client, "browser-q")
    tasks = [await make_task(client, "browser-q", params={"n": i}) for i in range(3)]
    await call(client, "POST", "/queues", 201, json={"name": "other-q"})

    async with browser(tmp_path / "profile") as page:
        await page.watch_csp()
        await page.goto(f"{server_url}/ui")
        assert await page.csp_violations() == []
        # styled by /ui/style.css under the page's policy
        assert (
            await page.evaluate("getComputedStyle(document.querySelector('header')).display")
            == "flex"
        )
        pending = await page.evaluate(
            "document.querySelector('tr[data-queue=\"browser-q\"] td.pending').textContent.trim()"
        )
        assert pending == "3"
        await page.click('tr[data-queue="browser-q"] td.pending a')
        assert await page.evaluate("location.pathname + location.search") == (
            "/ui/tasks?queue=browser-q&status=pending"
        )
        await page.click("a.task-link")
        path = await page.evaluate("location.pathname")
        assert path in {f"/ui/tasks/{t['task_id']}" for t in tasks}
        assert await page.evaluate("document.querySelector('.task-name').textContent") == "work"
        assert await page.csp_violations() == []
        # the watch does see a violation: an inline style is refused on these pages
        await page.evaluate(
            "document.head.insertAdjacentHTML('beforeend', '<style>body{color:red}</style>')"
        )
        await eventually(page.csp_violations, what="the inline style's violation")
        png = await page.screenshot()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    (tmp_path / "task.png").write_bytes(png)


async def test_docs_page_renders_swagger_ui_under_its_policy(
    aiohttp_server, aiohttp_client, app, tmp_path: Path
) -> None:
    client: TestClient = await aiohttp_client(await aiohttp_server(app))
    server_url = str(client.make_url("")).rstrip("/")
    async with browser(tmp_path / "profile") as page:
        await page.watch_csp()
        await page.goto(f"{server_url}/docs")
        # Swagger UI fetched the document and drew an operation block per operation
        count = await eventually(
            lambda: page.evaluate("document.querySelectorAll('.opblock').length"),
            what="Swagger UI's operations",
        )
        assert count >= 20
        title = await page.evaluate("document.querySelector('.info .title').textContent")
        assert "durable-queue" in title
        await page.click_only(".opblock-summary-control")  # open one: more of the UI renders
        await eventually(
            lambda: page.evaluate("document.querySelectorAll('.opblock-body').length"),
            what="an opened operation",
        )
        assert await page.csp_violations() == []


async def test_dashboard_screenshot(aiohttp_server, aiohttp_client, app, tmp_path: Path) -> None:
    """The overview with three busy queues; UPDATE_SCREENSHOT=1 writes docs/dashboard.png."""
    client: TestClient = await aiohttp_client(await aiohttp_server(app))
    server_url = str(client.make_url("")).rstrip("/")
    shapes = {"emails": (40, 30.0, 25), "thumbnails": (300, 12.0, 60), "reports": (5, 50.0, 3)}
    for queue in shapes:
        await make_queue(client, queue)
        for i in range(12):
            await make_task(client, queue, task_name=f"{queue[:-1]}.run", params={"i": i})
        held = await claim(client, queue, limit=5)
        for run in held[:3]:
            await call(client, "POST", f"/runs/{run['run_id']}/complete", 200, json={})
    await app[SAMPLER].sample_once(settle_seconds=0)
    async with aiopg.connect(app[SETTINGS].database_url) as conn, conn.cursor() as cur:
        for queue, (depth, period, rate) in shapes.items():
            await cur.execute(
                PICTURE_HISTORY, {"queue": queue, "depth": depth, "period": period, "rate": rate}
            )
    async with browser(tmp_path / "profile") as page:
        await page.goto(f"{server_url}/ui")
        assert await page.evaluate("document.querySelectorAll('svg.chart').length") == 3
        png = await page.screenshot()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    target = SCREENSHOT if os.environ.get("UPDATE_SCREENSHOT") else tmp_path / "dashboard.png"
    target.write_bytes(png)
