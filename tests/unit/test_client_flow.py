"""Flow control on the client side, without a real server: the option syntax of durablectl
(limits, rates, ttls), PATCH bodies (an argument left out is not sent, None is JSON null),
concurrency keys percent-encoded in paths, and the requests the client and durablectl send
to a fake server that records them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import web
from asyncclick.testing import CliRunner
from durable_queue_client import (
    UNSET,
    ClaimedTask,
    ConcurrencyKey,
    ConcurrencyKeyPage,
    CreateTaskRequest,
    DurableClient,
    KeyLimits,
    QueueStats,
    QueueSummary,
    RateLimit,
    TaskDetail,
    structure,
    to_dict,
)
from durable_queue_client.client import _segment
from durable_queue_client.convert import encode
from durable_queue_client.models import CleanupPatch, SetKeyRequest, UpdateQueueRequest

from durablectl.cli import cli
from durablectl.flow import (
    FlowValueError,
    format_rate,
    parse_limit,
    parse_rate,
    parse_ttl,
)

NOW = "2026-11-28T10:00:00Z"
TASK = "01900000-0000-7000-8000-000000000001"
RUN = "01900000-0000-7000-8000-000000000002"

# -- option syntax ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [("1", 1), ("25", 25), (" 7 ", 7), ("1000000", 1_000_000), ("none", None), ("NONE", None)],
)
def test_parse_limit(text: str, value: int | None) -> None:
    assert parse_limit(text) == value


@pytest.mark.parametrize("text", ["0", "-1", "1000001", "2.5", "", "many", "1e3"])
def test_parse_limit_refuses(text: str) -> None:
    with pytest.raises(FlowValueError):
        parse_limit(text)


@pytest.mark.parametrize(
    ("text", "limit", "period"),
    [
        ("50/1", 50, 1.0),
        ("50/s", 50, 1.0),
        ("50/1s", 50, 1.0),
        ("600/1m", 600, 60.0),
        ("600/min", 600, 60.0),
        ("10/0.5", 10, 0.5),
        ("10/.5", 10, 0.5),
        ("1000/1h", 1000, 3600.0),
        ("5/d", 5, 86400.0),
        (" 3 / 2 ", 3, 2.0),
        ("100/86400", 100, 86400.0),
    ],
)
def test_parse_rate(text: str, limit: int, period: float) -> None:
    assert parse_rate(text) == RateLimit(limit=limit, period_seconds=period)


@pytest.mark.parametrize(
    "text",
    ["50", "50/", "/1", "0/1", "50/0", "50/-1", "50/2d", "50/86401", "50/1x", "a/1", "50/1/2"],
)
def test_parse_rate_refuses(text: str) -> None:
    with pytest.raises(FlowValueError):
        parse_rate(text)


def test_parse_rate_clears_with_none() -> None:
    assert parse_rate("none") is None


@pytest.mark.parametrize(
    "rate", [RateLimit(limit=50, period_seconds=1.0), {"limit": 3, "period_seconds": 0.25}]
)
def test_format_rate_reads_back(rate: Any) -> None:
    text = format_rate(rate)
    parsed = parse_rate(text)
    assert parsed is not None
    assert to_dict(parsed) == (rate if isinstance(rate, dict) else to_dict(rate))


def test_parse_ttl() -> None:
    assert parse_ttl("0") == 0
    assert parse_ttl("3600") == 3600
    assert parse_ttl("default") is None
    for bad in ("-1", "none", "1.5"):
        with pytest.raises(FlowValueError):
            parse_ttl(bad)


# -- bodies and paths ---------------------------------------------------------------------


def test_a_patch_sends_only_what_is_given_and_none_as_null() -> None:
    assert json.loads(encode(UpdateQueueRequest())) == {}
    request = UpdateQueueRequest(
        max_concurrency=None,
        key_concurrency=3,
        rate_limit=RateLimit(limit=5, period_seconds=1.0),
        cleanup=CleanupPatch(task_ttl_seconds=None),
    )
    expected = {
        "max_concurrency": None,
        "key_concurrency": 3,
        "rate_limit": {"limit": 5, "period_seconds": 1.0},
        "cleanup": {"task_ttl_seconds": None},
    }
    assert json.loads(encode(request)) == expected
    assert to_dict(request) == expected
    # without a null in it the body takes the fast (orjson) path: the same JSON
    fast = UpdateQueueRequest(paused=True, key_rate_limit=RateLimit(limit=1, period_seconds=60))
    assert json.loads(encode(fast)) == {
        "paused": True,
        "key_rate_limit": {"limit": 1, "period_seconds": 60},
    }


def test_unset_is_falsy_and_named() -> None:
    assert not UNSET
    assert repr(UNSET) == "UNSET"


def test_a_key_override_is_sent_whole() -> None:
    assert json.loads(encode(SetKeyRequest())) == {"max_concurrency": None, "rate_limit": None}
    assert json.loads(encode(SetKeyRequest(max_concurrency=2))) == {
        "max_concurrency": 2,
        "rate_limit": None,
    }


def test_create_task_request_leaves_out_unset_flow_fields() -> None:
    assert json.loads(encode(CreateTaskRequest(task_name="a"))) == {"task_name": "a"}
    both = CreateTaskRequest(task_name="a", priority=-5, concurrency_key="tenant/1")
    assert json.loads(encode(both)) == {
        "task_name": "a",
        "priority": -5,
        "concurrency_key": "tenant/1",
    }


@pytest.mark.parametrize(
    ("key", "segment"),
    [
        ("tenant-1", "tenant-1"),
        ("a/b", "a%2Fb"),
        ("x y", "x%20y"),
        ("100%", "100%25"),
        ("é", "%C3%A9"),
        ("a?b#c", "a%3Fb%23c"),
        (".", "%2E"),
        ("..", "%2E%2E"),
        ("...x", "...x"),
    ],
)
def test_keys_are_one_encoded_path_segment(key: str, segment: str) -> None:
    assert _segment(key) == segment


# -- responses ----------------------------------------------------------------------------

QUEUE = {
    "name": "q",
    "created_at": NOW,
    "cleanup": {"task_ttl_seconds": 259200, "event_ttl_seconds": 259200},
    "max_concurrency": 25,
    "key_concurrency": None,
    "rate_limit": {"limit": 50, "period_seconds": 1},
    "key_rate_limit": None,
    "paused": True,
}
KEY = {
    "key": "a/b",
    "in_flight": 2,
    "pending": 10,
    "max_concurrency": 2,
    "rate_limit": None,
    "override": {"max_concurrency": 2, "rate_limit": None},
}


def test_queue_summary_reads_the_settings_and_prints_null_limits() -> None:
    queue = structure(QUEUE, QueueSummary)
    assert queue.max_concurrency == 25
    assert queue.rate_limit == RateLimit(limit=50, period_seconds=1.0)
    assert queue.key_concurrency is None
    assert queue.paused is True
    printed = to_dict(queue)
    assert printed["key_concurrency"] is None
    assert printed["rate_limit"] == {"limit": 50, "period_seconds": 1.0}


def test_a_queue_from_an_older_server_still_reads() -> None:
    queue = structure({"name": "q", "created_at": NOW}, QueueSummary)
    assert (queue.max_concurrency, queue.paused) == (None, None)


def test_concurrency_key_page_reads() -> None:
    page = structure({"keys": [KEY], "next_cursor": "a/b"}, ConcurrencyKeyPage)
    assert page.next_cursor == "a/b"
    [key] = page.keys
    assert key == ConcurrencyKey(
        key="a/b",
        in_flight=2,
        pending=10,
        max_concurrency=2,
        rate_limit=None,
        override=KeyLimits(max_concurrency=2, rate_limit=None),
    )


def test_claimed_task_and_task_detail_read_priority_and_key() -> None:
    claimed = structure(
        {
            "run_id": RUN,
            "task_id": TASK,
            "attempt": 1,
            "task_name": "t",
            "max_attempts": 1,
            "claim_expires_at": NOW,
            "claim_token": "tok",
            "priority": 7,
            "concurrency_key": "k",
        },
        ClaimedTask,
    )
    assert (claimed.priority, claimed.concurrency_key) == (7, "k")
    detail = structure(
        {
            "id": TASK,
            "task_name": "t",
            "status": "pending",
            "queue_name": "q",
            "max_attempts": 1,
            "created_at": NOW,
            "priority": -3,
        },
        TaskDetail,
    )
    assert (detail.priority, detail.concurrency_key) == (-3, None)


def test_stats_read_held_back_runs() -> None:
    stats = structure(
        {
            "queue_name": "q",
            "pending_runs": 5,
            "claimed_runs": 2,
            "completed_runs": 0,
            "oldest_pending_run_age_seconds": 1.5,
            "max_concurrency": 2,
            "held_back_runs": 3,
        },
        QueueStats,
    )
    assert (stats.max_concurrency, stats.held_back_runs) == (2, 3)


# -- requests, against a fake server -------------------------------------------------------


class Recorder:
    """Answers every request with a canned body by (method, route) and records
    (method, raw path, query, body). The first `failures` requests get a 503."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        self.failures = 0

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body = json.loads(raw) if raw else None
        path = request.raw_path.split("?", 1)[0]
        self.requests.append((request.method, path, dict(request.query), body))
        if self.failures > 0:
            self.failures -= 1
            return web.json_response({"error": "down", "code": "UNAVAILABLE"}, status=503)
        rest = path.removeprefix("/api/v1")
        if request.method == "DELETE":
            return web.Response(status=204)
        if rest.startswith("/tasks/"):
            return web.json_response(
                {
                    "id": TASK,
                    "task_name": "t",
                    "status": "pending",
                    "queue_name": "q",
                    "max_attempts": 1,
                    "created_at": NOW,
                    "priority": (body or {}).get("priority", 0),
                }
            )
        if rest.endswith("/tasks/batch"):
            items = [{"task_id": TASK, "run_id": RUN, "created": True} for _ in body["tasks"]]
            return web.json_response({"tasks": items}, status=201)
        if rest.endswith("/tasks"):
            return web.json_response({"task_id": TASK, "run_id": RUN}, status=201)
        if "/keys/" in rest:
            return web.json_response(KEY)
        if rest.endswith("/keys"):
            cursor = request.query.get("cursor")
            if cursor is None:
                return web.json_response({"keys": [KEY], "next_cursor": "a/b"})
            return web.json_response({"keys": [{**KEY, "key": "b"}], "next_cursor": None})
        return web.json_response(QUEUE, status=201 if request.method == "POST" else 200)


@pytest.fixture
async def recorder(aiohttp_server: Any) -> tuple[str, Recorder]:
    recorder = Recorder()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", recorder.handle)
    running = await aiohttp_server(app)
    return str(running.make_url("")).rstrip("/"), recorder


async def test_client_flow_requests(recorder: tuple[str, Recorder]) -> None:
    url, rec = recorder
    async with DurableClient(url, retries=0) as dq:
        await dq.create_queue(
            "q", max_concurrency=25, rate_limit=RateLimit(limit=50, period_seconds=1), paused=True
        )
        await dq.get_queue("q")
        await dq.update_queue("q")
        await dq.update_queue(
            "q", max_concurrency=None, key_rate_limit=RateLimit(limit=5, period_seconds=60)
        )
        await dq.update_queue("q", task_ttl_seconds=None, event_ttl_seconds=0)
        await dq.pause_queue("q")
        await dq.resume_queue("q")
        await dq.set_task_priority(TASK, -5)
        await dq.create_task("q", "t", priority=3, concurrency_key="tenant/1")
        await dq.create_tasks(
            "q", [CreateTaskRequest(task_name="t", priority=1, concurrency_key="k")]
        )
        key = await dq.set_key("q", "a/b c", max_concurrency=2)
        assert key.override == KeyLimits(max_concurrency=2)
        await dq.set_key("q", "é", rate_limit=RateLimit(limit=1, period_seconds=0.5))
        await dq.delete_key("q", "a/b c")
        page = await dq.list_keys("q", cursor="x", limit=10)
        assert [k.key for k in page.keys] == ["b"]
        assert [k.key async for k in dq.iter_keys("q", page_size=1)] == ["a/b", "b"]
    sent = [(method, path, query, body) for method, path, query, body in rec.requests]
    assert sent[0] == (
        "POST",
        "/api/v1/queues",
        {},
        {
            "name": "q",
            "max_concurrency": 25,
            "rate_limit": {"limit": 50, "period_seconds": 1},
            "paused": True,
        },
    )
    assert sent[1][:2] == ("GET", "/api/v1/queues/q")
    assert sent[2] == ("PATCH", "/api/v1/queues/q", {}, {})
    assert sent[3][3] == {
        "max_concurrency": None,
        "key_rate_limit": {"limit": 5, "period_seconds": 60},
    }
    assert sent[4][3] == {"cleanup": {"task_ttl_seconds": None, "event_ttl_seconds": 0}}
    assert sent[5][3] == {"paused": True}
    assert sent[6][3] == {"paused": False}
    assert sent[7] == ("PATCH", f"/api/v1/tasks/{TASK}", {}, {"priority": -5})
    assert sent[8][3]["priority"] == 3
    assert sent[8][3]["concurrency_key"] == "tenant/1"
    assert sent[9][3]["tasks"][0]["priority"] == 1
    assert sent[9][3]["tasks"][0]["concurrency_key"] == "k"
    assert sent[10] == (
        "PUT",
        "/api/v1/queues/q/keys/a%2Fb%20c",
        {},
        {"max_concurrency": 2, "rate_limit": None},
    )
    assert sent[11][:2] == ("PUT", "/api/v1/queues/q/keys/%C3%A9")
    assert sent[11][3] == {
        "max_concurrency": None,
        "rate_limit": {"limit": 1, "period_seconds": 0.5},
    }
    assert sent[12][:2] == ("DELETE", "/api/v1/queues/q/keys/a%2Fb%20c")
    assert sent[13][:3] == ("GET", "/api/v1/queues/q/keys", {"cursor": "x", "limit": "10"})
    assert [s[2] for s in sent[14:]] == [{"limit": "1"}, {"cursor": "a/b", "limit": "1"}]


async def test_setting_patches_are_retried(recorder: tuple[str, Recorder]) -> None:
    url, rec = recorder
    async with DurableClient(url, retries=2, backoff=0) as dq:
        rec.failures = 1
        await dq.update_queue("q", max_concurrency=3)
        rec.failures = 1
        await dq.set_task_priority(TASK, 1)
        rec.failures = 1
        await dq.set_key("q", "k", max_concurrency=1)
    assert [r[0] for r in rec.requests] == ["PATCH", "PATCH", "PATCH", "PATCH", "PUT", "PUT"]


# -- durablectl, against the fake server ----------------------------------------------------


async def ctl(url: str, *args: str) -> Any:
    result = await CliRunner().invoke(
        cli, ["--server", url, *args], env={"DURABLE_TOKEN": None}, catch_exceptions=False
    )
    return result


async def test_cli_sends_the_flow_options(recorder: tuple[str, Recorder]) -> None:
    url, rec = recorder
    runs = [
        (
            "queues",
            "create",
            "--name",
            "q",
            "--max-concurrency",
            "25",
            "--key-concurrency",
            "none",
            "--key-rate-limit",
            "10/s",
            "--paused",
        ),
        ("queues", "get", "q"),
        (
            "queues",
            "update",
            "q",
            "--max-concurrency",
            "none",
            "--rate-limit",
            "600/1m",
            "--pause",
            "--task-ttl",
            "default",
        ),
        ("queues", "update", "q", "--resume"),
        ("queues", "pause", "q"),
        ("queues", "resume", "q"),
        ("keys", "set", "q", "a/b c", "--max-concurrency", "2", "--rate-limit", "none"),
        ("keys", "delete", "q", "a/b c"),
        ("keys", "list", "q", "--limit", "5"),
        ("keys", "list", "q", "--all"),
        (
            "tasks",
            "create",
            "--queue",
            "q",
            "--name",
            "t",
            "--priority",
            "-5",
            "--concurrency-key",
            "tenant 1",
        ),
        ("tasks", "set-priority", TASK, "--priority", "-1000"),
    ]
    outputs = []
    for args in runs:
        result = await ctl(url, *args)
        assert result.exit_code == 0, (args, result.stdout, result.stderr)
        outputs.append(result.stdout)
    bodies = [(r[0], r[1], r[3]) for r in rec.requests]
    assert bodies[0] == (
        "POST",
        "/api/v1/queues",
        {
            "name": "q",
            "max_concurrency": 25,
            "key_rate_limit": {"limit": 10, "period_seconds": 1.0},
            "paused": True,
        },
    )
    assert bodies[1][:2] == ("GET", "/api/v1/queues/q")
    assert bodies[2] == (
        "PATCH",
        "/api/v1/queues/q",
        {
            "max_concurrency": None,
            "rate_limit": {"limit": 600, "period_seconds": 60.0},
            "paused": True,
            "cleanup": {"task_ttl_seconds": None},
        },
    )
    assert bodies[3][2] == {"paused": False}
    assert bodies[4][2] == {"paused": True}
    assert bodies[5][2] == {"paused": False}
    assert bodies[6] == (
        "PUT",
        "/api/v1/queues/q/keys/a%2Fb%20c",
        {"max_concurrency": 2, "rate_limit": None},
    )
    assert bodies[7][:2] == ("DELETE", "/api/v1/queues/q/keys/a%2Fb%20c")
    assert outputs[7].strip() == "deleted"
    assert rec.requests[8][2] == {"limit": "5"}
    assert json.loads(outputs[8]) == {"keys": [KEY], "next_cursor": "a/b"}
    assert [k["key"] for k in json.loads(outputs[9])["keys"]] == ["a/b", "b"]
    assert bodies[11][2]["priority"] == -5
    assert bodies[11][2]["concurrency_key"] == "tenant 1"
    assert bodies[12] == ("PATCH", f"/api/v1/tasks/{TASK}", {"priority": -1000})


async def test_cli_table_of_keys(recorder: tuple[str, Recorder]) -> None:
    url, _ = recorder
    result = await ctl(url, "-o", "table", "keys", "list", "q")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "KEY",
        "IN_FLIGHT",
        "PENDING",
        "MAX_CONCURRENCY",
        "RATE_LIMIT",
        "OVERRIDE",
    ]
    assert lines[1].split() == ["a/b", "2", "10", "2", "-", "max_concurrency=2", "rate_limit=-"]
    assert lines[-1] == "next cursor: a/b"
    result = await ctl(url, "-o", "table", "queues", "get", "q")
    assert "rate_limit       50/1s" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("queues", "update", "q"), "nothing to change"),
        (("queues", "update", "q", "--max-concurrency", "0"), "out of range"),
        (("queues", "update", "q", "--rate-limit", "5"), "N/SECONDS"),
        (("queues", "update", "q", "--key-rate-limit", "5/0"), "above 0"),
        (("queues", "update", "q", "--task-ttl", "-1"), "negative"),
        (("queues", "create", "--name", "q", "--key-concurrency", "x"), "whole number"),
        (("keys", "set", "q", "k"), "--max-concurrency and/or --rate-limit"),
        (("keys", "set", "q", "k" * 256, "--max-concurrency", "1"), "1 to 255"),
        (("keys", "delete", "q", ""), "1 to 255"),
        (("tasks", "create", "--queue", "q", "--name", "t", "--priority", "1001"), "range"),
        (("tasks", "create", "--queue", "q", "--name", "t", "--concurrency-key", ""), "1 to 255"),
        (("tasks", "set-priority", TASK), "--priority"),
        (("tasks", "set-priority", TASK, "--priority", "high"), "high"),
    ],
)
async def test_cli_refuses_bad_values_before_any_request(
    recorder: tuple[str, Recorder], args: tuple[str, ...], message: str
) -> None:
    url, rec = recorder
    result = await ctl(url, *args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert rec.requests == []


async def test_cli_from_file_refuses_flow_options(recorder, tmp_path) -> None:
    url, rec = recorder
    path = tmp_path / "tasks.jsonl"
    path.write_text(json.dumps({"task_name": "a", "priority": 5, "concurrency_key": "k"}) + "\n")
    result = await ctl(
        url, "tasks", "create", "--queue", "q", "--from-file", str(path), "--priority", "1"
    )
    assert result.exit_code == 2
    assert rec.requests == []
    result = await ctl(url, "tasks", "create", "--queue", "q", "--from-file", str(path))
    assert result.exit_code == 0, result.stderr
    assert rec.requests[0][3]["tasks"] == [
        {
            "task_name": "a",
            "priority": 5,
            "concurrency_key": "k",
            "idempotency_key": rec.requests[0][3]["tasks"][0]["idempotency_key"],
        }
    ]
