"""What a browser page may make the server do: a Host the server does not answer to is a 421
(DNS rebinding), a state-changing request from another site a 403; curl and the SDKs,
which send neither Origin nor Sec-Fetch-Site, are served as before."""

from __future__ import annotations

import pytest

from durable_queue.api.browser_guard import (
    HostAllowList,
    answered_hosts,
    normal_origin,
    same_origin,
    split_host,
)
from durable_queue.app import create_app
from durable_queue.config import Settings
from tests.helpers import API, call, error, make_queue


async def served(aiohttp_client, database_url: str, **settings: object):
    return await aiohttp_client(create_app(Settings(database_url=database_url, **settings)))


async def queue_names(client) -> list[str]:
    return [q["name"] for q in (await call(client, "GET", "/queues", 200))["queues"]]


# -- Host ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "127.0.0.1:8080", "localhost", "LocalHost:1234", "localhost.", "[::1]:80", "::1"],
)
async def test_a_loopback_bind_answers_the_loopback_names_on_any_port(client, host):
    resp = await client.get(f"{API}/queues", headers={"Host": host})
    assert resp.status == 200, (host, await resp.text())


@pytest.mark.parametrize(
    "host", ["attacker.example", "attacker.example:8080", "127.0.0.1.nip.io", "[::2]", "x:y"]
)
async def test_a_loopback_bind_refuses_any_other_host_with_421(client, host):
    message = await error(
        client, "GET", "/queues", 421, "MISDIRECTED_REQUEST", headers={"Host": host}
    )
    assert "DURABLE_ALLOWED_HOSTS" in message
    assert "localhost" in message and "127.0.0.1" in message
    # a write too, and before anything else: nothing is created
    resp = await client.post(f"{API}/queues", json={"name": "rebound"}, headers={"Host": host})
    assert resp.status == 421
    assert await queue_names(client) == []


async def test_the_dashboard_and_docs_are_guarded_too_the_probes_are_not(client):
    for path in ("/ui", "/docs", "/metrics", "/"):
        resp = await client.get(path, headers={"Host": "attacker.example"})
        assert resp.status == 421, path
        assert (await resp.json())["code"] == "MISDIRECTED_REQUEST"
    # an orchestrator probes by address; up or ready tells a rebinding page nothing
    for path in ("/healthz", "/readyz"):
        resp = await client.get(path, headers={"Host": "10.1.2.3:8080"})
        assert resp.status == 200, path


async def test_allowed_hosts_replace_the_default(aiohttp_client, database_url):
    client = await served(
        aiohttp_client, database_url, allowed_hosts=("queue.example", "other.example:9000")
    )
    for host in ("queue.example", "QUEUE.example:8443", "other.example:9000"):
        assert (await client.get(f"{API}/queues", headers={"Host": host})).status == 200, host
    for host in ("other.example", "other.example:9001", "localhost", "attacker.example"):
        assert (await client.get(f"{API}/queues", headers={"Host": host})).status == 421, host


async def test_a_non_loopback_bind_answers_any_host_unless_a_list_is_set(
    aiohttp_client, database_url
):
    # the app is served on 127.0.0.1 either way; what counts is the address it was told
    open_bind = await served(aiohttp_client, database_url, host="0.0.0.0")
    resp = await open_bind.get(f"{API}/queues", headers={"Host": "queue.example"})
    assert resp.status == 200
    listed = await served(
        aiohttp_client, database_url, host="0.0.0.0", allowed_hosts=("queue.example",)
    )
    assert (await listed.get(f"{API}/queues", headers={"Host": "queue.example"})).status == 200
    assert (await listed.get(f"{API}/queues", headers={"Host": "evil.example"})).status == 421


async def test_a_star_answers_every_host(aiohttp_client, database_url):
    client = await served(aiohttp_client, database_url, allowed_hosts=("*",))
    assert (await client.get(f"{API}/queues", headers={"Host": "any.example"})).status == 200


def test_host_parsing():
    assert split_host("Example.COM:8080") == ("example.com", 8080)
    assert split_host("[::1]:8080") == ("::1", 8080)
    assert split_host("[::1]") == ("::1", None)
    assert split_host("::1") == ("::1", None)
    assert split_host("localhost.") == ("localhost", None)
    assert split_host("a:b")[1] is None
    assert split_host("localhost:\u00b2")[1] is None  # a digit to str.isdigit, not to int()
    assert split_host("localhost:\u0661")[1] is None  # ARABIC-INDIC ONE: int() reads it
    hosts = HostAllowList.for_bind("127.0.0.2", ())
    assert hosts is not None and hosts.allows("127.0.0.2:1") and hosts.allows("[::1]")
    assert not hosts.allows("127.0.0.3")
    assert HostAllowList.for_bind("0.0.0.0", ()) is None
    assert HostAllowList.for_bind("127.0.0.1", ("*",)) is None
    # what the serving log line says
    assert answered_hosts("127.0.0.1", ()) == "127.0.0.1, localhost, [::1]"
    assert answered_hosts("0.0.0.0", ()) == "any"
    assert answered_hosts("0.0.0.0", ("q.example:8443", "q.example")) == "q.example:8443, q.example"


# -- cross-site writes -----------------------------------------------------------------------

WRITES = [
    ("POST", "/queues", {"name": "x"}),
    ("POST", "/queues/q/tasks", {"task_name": "t"}),
    ("POST", "/queues/q/tasks/claim", {"limit": 1, "claim_timeout": 30}),
    ("DELETE", "/queues/q", None),
    ("PATCH", "/workflow-runs/01900000-0000-7000-8000-000000000000", {"status": "completed"}),
    ("PUT", "/tasks/01900000-0000-7000-8000-000000000000/checkpoints/s", {"state": 1}),
]
CROSS_SITE = [
    {"Origin": "http://evil.example"},
    {"Origin": "http://127.0.0.1:1"},  # another port of this machine: another origin
    {"Origin": "null"},  # a sandboxed page, a data: URL, a file
    {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "cross-site"},
]


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
@pytest.mark.parametrize("headers", CROSS_SITE)
async def test_state_changing_requests_from_another_site_are_403(
    client, method, path, body, headers
):
    await make_queue(client, "q")
    message = await error(
        client, method, path, 403, "CROSS_SITE_REQUEST", json=body, headers=headers
    )
    assert "cross-site request refused" in message and "DURABLE_ALLOWED_ORIGINS" in message
    assert await queue_names(client) == ["q"]  # nothing created, nothing deleted
    tasks = await call(client, "GET", "/tasks", 200)
    assert tasks["tasks"] == []


async def test_a_text_plain_form_post_from_another_site_creates_nothing(client):
    await make_queue(client, "q")
    form = {"Origin": "http://evil.example", "Content-Type": "text/plain"}
    resp = await client.post(
        f"{API}/queues/q/tasks", data='{"task_name": "forged", "x": "="}', headers=form
    )
    assert resp.status == 403
    assert (await call(client, "GET", "/tasks", 200))["tasks"] == []


async def test_same_origin_pages_curl_and_reads_are_served(client):
    host = client.server.host, client.server.port
    origin = f"http://{host[0]}:{host[1]}"
    await call(
        client,
        "POST",
        "/queues",
        201,
        json={"name": "same"},
        headers={"Origin": origin, "Sec-Fetch-Site": "same-origin"},
    )
    await call(client, "POST", "/queues", 201, json={"name": "plain"})  # curl, the SDKs
    # a cross-site read is served (the browser keeps the answer from the page: no CORS)
    resp = await client.get(f"{API}/queues", headers={"Origin": "http://evil.example"})
    assert resp.status == 200
    assert "Access-Control-Allow-Origin" not in resp.headers
    assert sorted(await queue_names(client)) == ["plain", "same"]


async def test_listed_origins_may_write(aiohttp_client, database_url):
    client = await served(
        aiohttp_client, database_url, allowed_origins=("https://ops.example", "null")
    )
    headers = {"Origin": "https://OPS.example:443", "Sec-Fetch-Site": "cross-site"}
    await call(client, "POST", "/queues", 201, json={"name": "ops"}, headers=headers)
    # another origin is still refused, and so is an opaque one even when listed
    for origin in ("https://ops.example:8443", "http://ops.example", "null"):
        resp = await client.post(f"{API}/queues", json={"name": "x"}, headers={"Origin": origin})
        assert resp.status == 403, origin


async def test_refused_before_auth_and_before_the_body_is_read(aiohttp_client, database_url):
    client = await served(aiohttp_client, database_url, api_tokens=("tok",))
    resp = await client.post(
        f"{API}/queues", data=b"{not json", headers={"Origin": "http://evil.example"}
    )
    assert resp.status == 403
    assert (await resp.json())["code"] == "CROSS_SITE_REQUEST"


def test_origin_parsing():
    assert normal_origin("http://Example.com") == ("http", "example.com", 80)
    assert normal_origin("https://example.com:8443") == ("https", "example.com", 8443)
    assert normal_origin("null") is None
    assert normal_origin("file://") is None
    assert normal_origin("http://x:99999") is None
    assert same_origin(("http", "localhost", 8080), "localhost:8080")
    assert same_origin(("https", "q.example", 443), "q.example")  # behind a TLS proxy
    assert not same_origin(("http", "localhost", 8080), "localhost:8081")
    assert not same_origin(("http", "localhost", 8080), "localhost")
