"""Bearer-token auth: every route family refused without a token (or with a wrong one) and
served with one; the probes and the docs page open; tokens from the environment and a file;
never logged; the client and durablectl sending them."""

from __future__ import annotations

import base64
import logging
import re
from pathlib import Path

import pytest
from asyncclick.testing import CliRunner
from durable_queue_client import DurableClient
from durable_queue_client.errors import Unauthorized

from durable_queue.api.auth import (
    BASIC_CHALLENGE,
    OPEN_ROUTES,
    basic_password,
    bearer_auth,
    bearer_token,
    token_matches,
)
from durable_queue.api.routes import API, API_ROUTES
from durable_queue.app import create_app
from durable_queue.config import Settings
from durable_queue.errors import ValidationError
from durable_queue.logs import JsonFormatter
from durable_queue.tokens import tokens_from_env
from durablectl.cli import cli
from tests.helpers import make_queue

TOKENS = ("tok-A.1", "tok-B~2")
WRONG = "tok-A.2"
MISSING_ID = "01900000-0000-7000-8000-000000000000"
OPEN_PATHS = ["/healthz", "/readyz", "/docs", "/docs/init.js", "/docs/page.css", "/"]


def concrete(path: str) -> str:
    """A route template with each {parameter} filled in."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        return MISSING_ID if name.endswith("_id") else "q" if name == "queue_name" else "s"

    return re.sub(r"{(\w+)}", fill, path)


API_CALLS = [
    (method, f"{API}{concrete(path)}") for path, methods in API_ROUTES.items() for method in methods
] + [("GET", f"{API}/openapi.json")]


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, api_tokens=TOKENS)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def assert_unauthorized(resp) -> None:
    assert resp.status == 401, await resp.text()
    assert resp.headers["WWW-Authenticate"] == "Bearer"
    body = await resp.json()
    assert body["code"] == "UNAUTHORIZED" and set(body) == {"error", "code"}


@pytest.mark.parametrize(("method", "path"), API_CALLS)
async def test_every_api_route_needs_a_known_token(client, method, path):
    await assert_unauthorized(await client.request(method, path))
    await assert_unauthorized(await client.request(method, path, headers=bearer(WRONG)))
    await assert_unauthorized(await client.request(method, path, headers={"Authorization": "x"}))
    basic = {"Authorization": "Basic dG9rLUEuMTo="}
    await assert_unauthorized(await client.request(method, path, headers=basic))
    for token in TOKENS:
        resp = await client.request(method, path, headers=bearer(token), json={})
        assert resp.status != 401, (method, path, await resp.text())


async def test_every_route_outside_the_open_ones_needs_a_token(client, app):
    """/metrics, /ui and whatever else the app serves besides /api/v1 and the open routes."""
    checked = 0
    for route in app.router.routes():
        resource = route.resource
        if resource is None or route.method == "HEAD" or resource.canonical in OPEN_ROUTES:
            continue
        path = concrete(resource.canonical)
        await assert_unauthorized(await client.request(route.method, path))
        resp = await client.request(route.method, path, headers=bearer(TOKENS[0]), json={})
        assert resp.status != 401, (route.method, path)
        checked += 1
    assert checked >= len(API_CALLS)  # every /api/v1 operation, and more


async def test_a_known_token_gets_the_real_answer(client):
    resp = await client.post(f"{API}/queues", json={"name": "q"}, headers=bearer(TOKENS[1]))
    assert resp.status == 201
    # the scheme is case-insensitive (RFC 7235)
    resp = await client.get(f"{API}/queues", headers={"Authorization": f"bearer {TOKENS[0]}"})
    assert [q["name"] for q in (await resp.json())["queues"]] == ["q"]


async def test_refused_before_the_body_is_validated(client):
    # a malformed body from a stranger gets 401, not a 400 describing the schema
    resp = await client.post(f"{API}/queues", data=b"{not json")
    await assert_unauthorized(resp)


def basic(user: str, password: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


async def test_the_dashboard_takes_a_token_as_basic_password_and_asks_the_browser(client):
    resp = await client.get("/ui")
    await assert_unauthorized(resp)
    assert resp.headers.getall("WWW-Authenticate") == ["Bearer", BASIC_CHALLENGE]
    await assert_unauthorized(await client.get("/ui", headers=basic("me", WRONG)))
    await assert_unauthorized(await client.get("/ui", headers=basic(TOKENS[0], "")))
    resp = await client.get("/ui", headers=basic("anyone", TOKENS[1]))
    assert resp.status == 200 and "text/html" in resp.headers["Content-Type"]


async def test_basic_credentials_open_nothing_but_the_dashboard_and_its_metrics_link(client):
    resp = await client.get(f"{API}/queues", headers=basic("me", TOKENS[0]))
    await assert_unauthorized(resp)
    assert resp.headers.getall("WWW-Authenticate") == ["Bearer"]  # no browser prompt
    await assert_unauthorized(await client.post(f"{API}/queues", headers=basic("me", TOKENS[0])))
    await assert_unauthorized(await client.get("/uinot", headers=basic("me", TOKENS[0])))


async def test_the_dashboards_metrics_link_works_with_its_basic_credentials(client):
    """The dashboard links to /metrics: the browser's Basic credentials for the realm open it,
    and its 401 asks for them as the dashboard's does."""
    page = await (await client.get("/ui", headers=basic("me", TOKENS[0]))).text()
    assert 'href="/metrics"' in page
    resp = await client.get("/metrics")
    await assert_unauthorized(resp)
    assert resp.headers.getall("WWW-Authenticate") == ["Bearer", BASIC_CHALLENGE]
    await assert_unauthorized(await client.get("/metrics", headers=basic("me", WRONG)))
    resp = await client.get("/metrics", headers=basic("anyone", TOKENS[1]))
    assert resp.status == 200
    assert "durable_queue_" in await resp.text()


def test_basic_header_parsing():
    assert basic_password(basic("u", "tok")["Authorization"]) == "tok"
    assert basic_password(basic("", "a:b")["Authorization"]) == "a:b"
    assert basic_password(basic("u", "")["Authorization"]) is None
    assert basic_password("Basic not-base64!") is None
    assert basic_password("Basic " + base64.b64encode(b"\xff:\xfe").decode()) is None
    assert basic_password("Bearer tok") is None
    assert basic_password(None) is None


@pytest.mark.parametrize("path", OPEN_PATHS)
async def test_probes_and_docs_page_stay_open(client, path):
    resp = await client.get(path, allow_redirects=False)
    assert resp.status in (200, 302), (path, resp.status)


async def test_docs_assets_stay_open(client):
    page = await (await client.get("/docs")).text()
    assets = re.findall(r'(?:src|href)="(/docs/static/[^"]+)"', page)
    assert assets, page[:500]
    for asset in assets:
        assert (await client.get(asset)).status == 200, asset


async def test_unknown_paths_are_refused_without_a_token(client):
    await assert_unauthorized(await client.get("/nope"))
    assert (await client.get("/nope", headers=bearer(TOKENS[0]))).status == 404


async def test_tokens_never_reach_the_logs(client, caplog):
    caplog.set_level(logging.DEBUG)
    await client.get(f"{API}/queues", headers=bearer(TOKENS[0]))
    await client.get(f"{API}/queues", headers=bearer(WRONG))
    await client.post(f"{API}/queues", data=b"{bad", headers=bearer(TOKENS[1]))
    formatter = JsonFormatter()
    logged = "\n".join(formatter.format(record) for record in caplog.records)
    assert "request" in logged  # the access log did run
    for secret in (*TOKENS, WRONG):
        assert secret not in logged
    assert TOKENS[0] not in repr(Settings(api_tokens=TOKENS))


async def test_openapi_document_declares_the_scheme_when_tokens_are_set(client):
    doc = await (await client.get(f"{API}/openapi.json", headers=bearer(TOKENS[0]))).json()
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert doc["paths"][f"{API}/queues"]["get"]["security"] == [{"bearerAuth": []}]


# -- the client and durablectl -------------------------------------------------------------


async def test_client_sends_its_token(server_url):
    async with DurableClient(server_url, token=TOKENS[0]) as dq:
        await dq.create_queue("q")
        assert [q.name for q in await dq.list_queues()] == ["q"]
    async with DurableClient(server_url) as dq:
        with pytest.raises(Unauthorized):
            await dq.list_queues()
    async with DurableClient(server_url, token=WRONG) as dq:
        with pytest.raises(Unauthorized):
            await dq.list_queues()


async def test_durablectl_token_flag_and_environment(server_url, tmp_path):
    env = {"DURABLE_SERVER": server_url, "DURABLECTL_CONFIG": str(tmp_path / "c.json")}
    runner = CliRunner()
    refused = await runner.invoke(cli, ["queues", "list"], env={**env, "DURABLE_TOKEN": None})
    assert refused.exit_code == 1
    assert "missing bearer token" in refused.stderr
    # ... and what to do about it, as one line
    assert "pass --token TOKEN or set DURABLE_TOKEN" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    wrong = await runner.invoke(cli, ["--token", WRONG, "queues", "list"], env=env)
    assert wrong.exit_code == 1 and "unknown bearer token" in wrong.stderr
    assert "the server refused the token of --token/DURABLE_TOKEN" in wrong.stderr
    assert WRONG not in wrong.stderr + wrong.stdout
    by_flag = await runner.invoke(
        cli, ["--token", TOKENS[0], "queues", "create", "--name", "q"], env=env
    )
    assert by_flag.exit_code == 0, by_flag.stderr
    by_env = await runner.invoke(cli, ["queues", "list"], env={**env, "DURABLE_TOKEN": TOKENS[1]})
    assert by_env.exit_code == 0, by_env.stderr
    assert '"q"' in by_env.stdout


# -- configuration ---------------------------------------------------------------------------


def test_tokens_from_the_list_and_the_file(tmp_path: Path):
    file = tmp_path / "tokens"
    file.write_text("# rotated 2026-11\n\n  from-file-1  \nfrom-file-2\ntok-A.1\n")
    env = {"DURABLE_API_TOKENS": " tok-A.1, tok-B~2 ,", "DURABLE_API_TOKENS_FILE": str(file)}
    assert tokens_from_env(env) == ("tok-A.1", "tok-B~2", "from-file-1", "from-file-2")
    assert tokens_from_env({}) == ()
    assert tokens_from_env({"DURABLE_API_TOKENS": ""}) == ()
    settings = Settings.from_env({"DURABLE_API_TOKENS": "abc"}, database_url=None)
    assert settings.api_tokens == ("abc",)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DURABLE_API_TOKENS": " , "}, "DURABLE_API_TOKENS is set but holds no token"),
        ({"DURABLE_API_TOKENS": "good,bad token"}, "DURABLE_API_TOKENS: item 2 is not a valid"),
        ({"DURABLE_API_TOKENS": "sécret"}, "DURABLE_API_TOKENS: item 1 is not a valid"),
    ],
)
def test_unusable_token_lists_stop_the_start(env, message):
    with pytest.raises(ValidationError) as err:
        tokens_from_env(env)
    assert err.value.message.startswith(message)
    assert "bad token" not in err.value.message and "sécret" not in err.value.message


def test_unusable_token_files_stop_the_start(tmp_path: Path):
    missing = tmp_path / "missing"
    with pytest.raises(ValidationError, match="cannot read"):
        tokens_from_env({"DURABLE_API_TOKENS_FILE": str(missing)})
    empty = tmp_path / "empty"
    empty.write_text("# nothing yet\n\n")
    with pytest.raises(ValidationError, match="holds no token"):
        tokens_from_env({"DURABLE_API_TOKENS_FILE": str(empty)})
    bad = tmp_path / "bad"
    bad.write_text("fine\nnot fine\n")
    with pytest.raises(ValidationError, match="line 2 is not a valid bearer token") as err:
        tokens_from_env({"DURABLE_API_TOKENS_FILE": str(bad)})
    assert "not fine" not in err.value.message


def test_bearer_header_parsing_and_comparison():
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("BEARER   abc  ") == "abc"
    assert bearer_token("Bearer") is None
    assert bearer_token("Basic abc") is None
    assert bearer_token(None) is None
    assert token_matches("abc", ("x", "abc"))
    assert not token_matches("ab", ("abc",))
    assert not token_matches("abcd", ("abc",))
    assert not token_matches("é\udcff", ("abc",))  # non-ASCII compared, not raised on
    assert not token_matches("abc", ())


@pytest.mark.parametrize(
    ("tokens", "host", "warned"),
    [
        ((), "0.0.0.0", True),
        ((), "", True),
        ((), "10.1.2.3", True),
        ((), "127.0.0.1", False),
        ((), "::1", False),
        ((), "localhost", False),
        (("t",), "0.0.0.0", False),
    ],
)
def test_warning_when_auth_is_off_on_a_reachable_address(caplog, tokens, host, warned):
    caplog.set_level(logging.WARNING, logger="durable_queue.auth")
    bearer_auth(tokens, host)
    assert any("auth is off" in r.getMessage() for r in caplog.records) is warned


async def test_without_tokens_nothing_is_asked(aiohttp_client, database_url):
    client = await aiohttp_client(create_app(Settings(database_url=database_url)))
    await make_queue(client, "open")
    doc = await (await client.get(f"{API}/openapi.json")).json()
    assert "securitySchemes" not in doc.get("components", {})
