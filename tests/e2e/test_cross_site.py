"""A page from another origin, open in the user's browser, cannot write to the server: in
headless Chromium, a page served on another port posts a task with a text/plain form and
with a no-cors fetch (neither needs a CORS preflight, and the API reads any body as JSON).

The same page first writes to a second server that lists its origin in
DURABLE_ALLOWED_ORIGINS, which proves the page's two writes do reach a server and would
create tasks; the server with the default settings refuses both, and the database shows
no task of theirs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiohttp import web

from durable_queue.app import create_app
from durable_queue.config import Settings
from tests.e2e.test_ui_browser import CHROMIUM, browser
from tests.helpers import API, make_queue

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")

# Once the page has loaded (so the test sees its load, then the next one): the fetch, then,
# once the server has answered it, the form, which navigates the tab to the server's answer. A text/plain form sends `name=value`: here
# {"task_name":"by-form","params":{"x":"="}} and a line break.
ATTACKER_PAGE = """<!doctype html>
<title>another site</title>
<form id="forged" method="POST" enctype="text/plain" action="{target}">
<input type="hidden" name='{{"task_name":"by-form","params":{{"x":"' value='"}}}}'>
</form>
<script>
window.addEventListener("load", function () {{
  fetch({target_js}, {{method: "POST", mode: "no-cors", body: '{{"task_name":"by-fetch"}}'}})
    .catch(function () {{}})
    .then(function () {{ document.getElementById("forged").submit(); }});
}});
</script>
"""


async def attacker_site(aiohttp_server) -> str:
    """A site of its own (another port: another origin) serving the forging page."""

    async def page(request: web.Request) -> web.Response:
        target = request.query["target"]
        text = ATTACKER_PAGE.format(target=target, target_js=json.dumps(target))
        return web.Response(text=text, content_type="text/html")

    site = web.Application()
    site.router.add_get("/", page)
    server = await aiohttp_server(site)
    return str(server.make_url("")).rstrip("/")


async def task_names(client) -> list[str]:
    resp = await client.get(f"{API}/tasks")
    assert resp.status == 200
    return sorted(t["task_name"] for t in (await resp.json())["tasks"])


async def test_a_page_of_another_origin_cannot_create_tasks(
    aiohttp_server, aiohttp_client, database_url, tmp_path: Path
) -> None:
    attacker = await attacker_site(aiohttp_server)
    guarded = await aiohttp_client(
        await aiohttp_server(create_app(Settings(database_url=database_url)))
    )
    # the same database, served by a server that trusts the attacker's origin
    trusting = await aiohttp_client(
        await aiohttp_server(
            create_app(Settings(database_url=database_url, allowed_origins=(attacker,)))
        )
    )
    await make_queue(guarded, "q")

    async with browser(tmp_path / "profile") as page:
        target = f"{trusting.make_url('')}".rstrip("/") + f"{API}/queues/q/tasks"
        await page.goto(f"{attacker}/?target={target}")
        await page.next_load()  # the form's answer
        assert json.loads(await page.evaluate("document.body.innerText"))["task_id"]
        assert await task_names(guarded) == ["by-fetch", "by-form"]  # both writes arrive

        target = f"{guarded.make_url('')}".rstrip("/") + f"{API}/queues/q/tasks"
        await page.goto(f"{attacker}/?target={target}")
        await page.next_load()
        answer = json.loads(await page.evaluate("document.body.innerText"))
        assert answer["code"] == "CROSS_SITE_REQUEST", answer
    # the fetch was answered before the form was sent: neither created anything
    assert await task_names(guarded) == ["by-fetch", "by-form"]
