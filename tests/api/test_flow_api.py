"""Flow control over HTTP (issue 23): priority and concurrency keys on tasks, the task
PATCH, queue settings (create, get, PATCH), key overrides, and the stats' new counts.

The claim's semantics under load (limits exact across processes, fairness, rate limits)
are tested against the store and with several processes; these tests hold the wire.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import call, claim, error, make_queue, make_task

MISSING_ID = "01900000-0000-7000-8000-000000000000"
DEFAULT_TTL = 259200
NO_SETTINGS = {
    "max_concurrency": None,
    "key_concurrency": None,
    "rate_limit": None,
    "key_rate_limit": None,
    "paused": False,
}
SETTINGS = {
    "max_concurrency": 25,
    "key_concurrency": 2,
    "rate_limit": {"limit": 50, "period_seconds": 1.0},
    "key_rate_limit": {"limit": 5, "period_seconds": 60.0},
    "paused": True,
}


@pytest.fixture
async def queue(client) -> dict[str, Any]:
    return await make_queue(client, "q")


def settings_of(summary: dict[str, Any]) -> dict[str, Any]:
    return {name: summary[name] for name in NO_SETTINGS}


# -- tasks: priority and concurrency_key ------------------------------------------


async def test_task_priority_and_key_are_stored_and_returned(client, queue):
    created = await make_task(client, priority=7, concurrency_key="tenant-1")
    task = await call(client, "GET", f"/tasks/{created['task_id']}", 200)
    assert task["priority"] == 7
    assert task["concurrency_key"] == "tenant-1"
    [claimed] = await claim(client)
    assert claimed["task_id"] == created["task_id"]
    assert claimed["priority"] == 7
    assert claimed["concurrency_key"] == "tenant-1"


async def test_task_without_them_has_priority_0_and_no_key(client, queue):
    created = await make_task(client, priority=None, concurrency_key=None)
    task = await call(client, "GET", f"/tasks/{created['task_id']}", 200)
    assert task["priority"] == 0
    assert "concurrency_key" not in task
    [claimed] = await claim(client)
    assert claimed["priority"] == 0
    assert "concurrency_key" not in claimed


async def test_higher_priority_is_claimed_first(client, queue):
    low = await make_task(client, priority=-1000)
    default = await make_task(client)
    high = await make_task(client, priority=1000)
    claimed = await claim(client, limit=3)
    assert [t["task_id"] for t in claimed] == [
        high["task_id"],
        default["task_id"],
        low["task_id"],
    ]
    assert [t["priority"] for t in claimed] == [1000, 0, -1000]


async def test_batch_items_take_priority_and_key(client, queue):
    body = {
        "tasks": [
            {"task_name": "a", "priority": 3, "concurrency_key": "k" * 255},
            {"task_name": "b"},
            {"task_name": "c", "priority": -2, "concurrency_key": "é😀"},
        ]
    }
    created = (await call(client, "POST", "/queues/q/tasks/batch", 200, json=body))["tasks"]
    details = [await call(client, "GET", f"/tasks/{t['task_id']}", 200) for t in created]
    assert [d["priority"] for d in details] == [3, 0, -2]
    assert [d.get("concurrency_key") for d in details] == ["k" * 255, None, "é😀"]


TASK_FIELD_ERRORS = [
    ({"priority": 1001}, "priority must be between -1000 and 1000"),
    ({"priority": -1001}, "priority must be between -1000 and 1000"),
    ({"priority": True}, "priority must be an integer"),
    ({"priority": 1.5}, "priority must be an integer"),
    ({"priority": "1"}, "priority must be an integer"),
    ({"concurrency_key": ""}, "concurrency_key must be 1 to 255 characters long"),
    ({"concurrency_key": "k" * 256}, "concurrency_key must be 1 to 255 characters long"),
    ({"concurrency_key": 5}, "concurrency_key must be a string"),
    ({"concurrency_key": "a\u0000b"}, "concurrency_key must not contain NUL"),
]


@pytest.mark.parametrize(("given", "message"), TASK_FIELD_ERRORS)
async def test_task_create_refuses_bad_priority_or_key_by_name(client, queue, given, message):
    body = {"task_name": "t", **given}
    got = await error(client, "POST", "/queues/q/tasks", 400, "VALIDATION_ERROR", json=body)
    assert got.startswith(message), got


@pytest.mark.parametrize(("given", "message"), TASK_FIELD_ERRORS)
async def test_batch_create_names_the_bad_item(client, queue, given, message):
    body = {"tasks": [{"task_name": "ok"}] * 3 + [{"task_name": "t", **given}]}
    got = await error(client, "POST", "/queues/q/tasks/batch", 400, "VALIDATION_ERROR", json=body)
    assert got.startswith(f"tasks[3].{message}"), got
    assert (await call(client, "GET", "/tasks", 200))["tasks"] == []


# -- PATCH /tasks/{task_id} -------------------------------------------------------


async def test_patch_task_priority(client, queue):
    first = await make_task(client)
    second = await make_task(client)
    task = await call(client, "PATCH", f"/tasks/{second['task_id']}", 200, json={"priority": 5})
    assert task["id"] == second["task_id"]
    assert task["priority"] == 5
    assert task["status"] == "pending"
    again = await call(client, "GET", f"/tasks/{second['task_id']}", 200)
    assert again == task
    claimed = await claim(client, limit=2)
    assert [t["task_id"] for t in claimed] == [second["task_id"], first["task_id"]]
    assert claimed[0]["priority"] == 5


async def test_patch_task_unknown_is_404(client, queue):
    await error(client, "PATCH", f"/tasks/{MISSING_ID}", 404, "NOT_FOUND", json={"priority": 1})


async def test_patch_finished_task_is_409(client, queue):
    created = await make_task(client)
    await call(client, "POST", f"/tasks/{created['task_id']}/cancel", 200)
    path = f"/tasks/{created['task_id']}"
    await error(client, "PATCH", path, 409, "CONFLICT", json={"priority": 1})
    assert (await call(client, "GET", path, 200))["priority"] == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "priority is required"),
        ({"priority": None}, "priority may not be null"),
        ({"priority": False}, "priority must be an integer"),
        ({"priority": 2000}, "priority must be between -1000 and 1000"),
    ],
)
async def test_patch_task_validation(client, queue, body, message):
    created = await make_task(client)
    path = f"/tasks/{created['task_id']}"
    got = await error(client, "PATCH", path, 400, "VALIDATION_ERROR", json=body)
    assert got.startswith(message), got


async def test_patch_task_bad_id_is_400(client):
    got = await error(client, "PATCH", "/tasks/nope", 400, "VALIDATION_ERROR", json={"priority": 1})
    assert got.startswith("task_id"), got


# -- queue settings ---------------------------------------------------------------


async def test_queue_without_settings_has_none(client):
    created = await make_queue(client, "plain")
    assert settings_of(created) == NO_SETTINGS
    got = await call(client, "GET", "/queues/plain", 200)
    assert got == created


async def test_create_queue_with_settings_and_read_them_back(client):
    created = await make_queue(client, "flow", cleanup={"task_ttl_seconds": 60}, **SETTINGS)
    assert settings_of(created) == SETTINGS
    assert created["cleanup"] == {"task_ttl_seconds": 60, "event_ttl_seconds": DEFAULT_TTL}
    assert await call(client, "GET", "/queues/flow", 200) == created
    assert await call(client, "GET", "/queues", 200) == {"queues": [created]}


async def test_create_queue_null_settings_are_absent(client):
    nulls = {**NO_SETTINGS, "paused": None}
    created = await make_queue(client, "nulls", **nulls)
    assert settings_of(created) == NO_SETTINGS


async def test_get_unknown_queue_is_404(client):
    await error(client, "GET", "/queues/nope", 404, "NOT_FOUND")


async def test_patch_queue_changes_only_what_is_given(client):
    await make_queue(client, "p", cleanup={"task_ttl_seconds": 60, "event_ttl_seconds": 70})
    got = await call(client, "PATCH", "/queues/p", 200, json={"max_concurrency": 3})
    assert settings_of(got) == {**NO_SETTINGS, "max_concurrency": 3}
    assert got["cleanup"] == {"task_ttl_seconds": 60, "event_ttl_seconds": 70}
    got = await call(client, "PATCH", "/queues/p", 200, json={**SETTINGS, "max_concurrency": 9})
    assert settings_of(got) == {**SETTINGS, "max_concurrency": 9}
    assert await call(client, "GET", "/queues/p", 200) == got
    same = await call(client, "PATCH", "/queues/p", 200, json={})
    assert same == got


async def test_patch_queue_null_clears(client):
    await make_queue(client, "p", **SETTINGS)
    got = await call(client, "PATCH", "/queues/p", 200, json={"rate_limit": None, "paused": None})
    assert settings_of(got) == {**SETTINGS, "rate_limit": None, "paused": False}
    nulls = dict.fromkeys(NO_SETTINGS)
    got = await call(client, "PATCH", "/queues/p", 200, json=nulls)
    assert settings_of(got) == NO_SETTINGS


async def test_patch_queue_cleanup(client):
    await make_queue(client, "p", max_concurrency=4)
    body = {"cleanup": {"task_ttl_seconds": 0, "event_ttl_seconds": 30}}
    got = await call(client, "PATCH", "/queues/p", 200, json=body)
    assert got["cleanup"] == {"task_ttl_seconds": 0, "event_ttl_seconds": 30}
    assert got["max_concurrency"] == 4
    body = {"cleanup": {"event_ttl_seconds": None}}
    got = await call(client, "PATCH", "/queues/p", 200, json=body)
    assert got["cleanup"] == {"task_ttl_seconds": 0, "event_ttl_seconds": DEFAULT_TTL}
    got = await call(client, "PATCH", "/queues/p", 200, json={"cleanup": None})
    assert got["cleanup"] == {"task_ttl_seconds": DEFAULT_TTL, "event_ttl_seconds": DEFAULT_TTL}


async def test_patch_unknown_queue_is_404(client):
    await error(client, "PATCH", "/queues/nope", 404, "NOT_FOUND", json={"paused": True})


QUEUE_SETTING_ERRORS = [
    ({"max_concurrency": 0}, "max_concurrency must be between 1 and 1000000"),
    ({"max_concurrency": 1_000_001}, "max_concurrency must be between 1 and 1000000"),
    ({"max_concurrency": True}, "max_concurrency must be an integer"),
    ({"key_concurrency": -1}, "key_concurrency must be between 1 and 1000000"),
    ({"key_concurrency": "2"}, "key_concurrency must be an integer"),
    ({"rate_limit": 5}, "rate_limit must be an object"),
    ({"rate_limit": {"period_seconds": 1}}, "rate_limit.limit is required"),
    ({"rate_limit": {"limit": 1}}, "rate_limit.period_seconds is required"),
    ({"rate_limit": {"limit": 0, "period_seconds": 1}}, "rate_limit.limit must be between 1"),
    (
        {"rate_limit": {"limit": 1, "period_seconds": 0}},
        "rate_limit.period_seconds must be more than 0 and at most 86400",
    ),
    (
        {"key_rate_limit": {"limit": 1, "period_seconds": 86400.5}},
        "key_rate_limit.period_seconds must be more than 0 and at most 86400",
    ),
    (
        {"key_rate_limit": {"limit": 1, "period_seconds": "1"}},
        "key_rate_limit.period_seconds must be a number",
    ),
    ({"key_rate_limit": {"limit": None, "period_seconds": 1}}, "key_rate_limit.limit may not"),
    ({"paused": 1}, "paused must be a boolean"),
    ({"paused": "true"}, "paused must be a boolean"),
    ({"cleanup": {"task_ttl_seconds": -1}}, "cleanup.task_ttl_seconds"),
]


@pytest.mark.parametrize(("given", "message"), QUEUE_SETTING_ERRORS)
async def test_create_queue_refuses_bad_settings_by_name(client, given, message):
    body = {"name": "bad", **given}
    got = await error(client, "POST", "/queues", 400, "VALIDATION_ERROR", json=body)
    assert got.startswith(message), got
    assert await call(client, "GET", "/queues", 200) == {"queues": []}


@pytest.mark.parametrize(("given", "message"), QUEUE_SETTING_ERRORS)
async def test_patch_queue_refuses_bad_settings_by_name(client, given, message):
    before = await make_queue(client, "p", max_concurrency=2)
    got = await error(client, "PATCH", "/queues/p", 400, "VALIDATION_ERROR", json=given)
    assert got.startswith(message), got
    assert await call(client, "GET", "/queues/p", 200) == before


async def test_patch_queue_bad_name_is_400(client):
    got = await error(client, "PATCH", "/queues/has%20space", 400, "VALIDATION_ERROR", json={})
    assert got.startswith("queue_name"), got


async def test_paused_queue_hands_out_nothing_until_resumed(client):
    await make_queue(client, "p", paused=True)
    created = await make_task(client, "p")
    assert await claim(client, "p") == []
    await call(client, "PATCH", "/queues/p", 200, json={"paused": False})
    [claimed] = await claim(client, "p")
    assert claimed["task_id"] == created["task_id"]


# -- stats --------------------------------------------------------------------------


async def test_stats_count_runs_held_back_by_the_queue_limit(client):
    await make_queue(client, "s", max_concurrency=1)
    for _ in range(3):
        await make_task(client, "s")
    stats = await call(client, "GET", "/queues/s/stats", 200)
    assert stats["max_concurrency"] == 1
    assert stats["held_back_runs"] == 0
    assert len(await claim(client, "s", limit=3)) == 1
    stats = await call(client, "GET", "/queues/s/stats", 200)
    assert stats["held_back_runs"] == 2
    assert stats["claimed_runs"] == 1


async def test_stats_of_a_queue_without_limits(client, queue):
    await make_task(client)
    stats = await call(client, "GET", "/queues/q/stats", 200)
    assert stats["max_concurrency"] is None
    assert stats["held_back_runs"] == 0


async def test_stats_count_runs_held_back_by_a_paused_queue(client):
    await make_queue(client, "s", paused=True)
    for _ in range(2):
        await make_task(client, "s")
    stats = await call(client, "GET", "/queues/s/stats", 200)
    assert stats["held_back_runs"] == 2


# -- concurrency keys -----------------------------------------------------------------


async def test_put_key_override_and_list_it(client):
    await make_queue(
        client, "k", key_concurrency=3, key_rate_limit={"limit": 9, "period_seconds": 1}
    )
    override = {"max_concurrency": 1, "rate_limit": {"limit": 2, "period_seconds": 10.0}}
    got = await call(client, "PUT", "/queues/k/keys/tenant-a", 200, json=override)
    assert got == {
        "key": "tenant-a",
        "in_flight": 0,
        "pending": 0,
        "max_concurrency": 1,
        "rate_limit": {"limit": 2, "period_seconds": 10.0},
        "override": override,
    }
    listed = await call(client, "GET", "/queues/k/keys", 200)
    assert listed["keys"] == [got]


async def test_override_of_one_limit_keeps_the_queue_default_for_the_other(client):
    await make_queue(
        client, "k", key_concurrency=3, key_rate_limit={"limit": 9, "period_seconds": 1}
    )
    got = await call(client, "PUT", "/queues/k/keys/a", 200, json={"max_concurrency": 5})
    assert got["max_concurrency"] == 5
    assert got["rate_limit"] == {"limit": 9, "period_seconds": 1.0}
    assert got["override"] == {"max_concurrency": 5, "rate_limit": None}


async def test_key_without_override_lists_the_queue_defaults_and_its_runs(client):
    await make_queue(client, "k", key_concurrency=3)
    for _ in range(2):
        await make_task(client, "k", concurrency_key="busy")
    await make_task(client, "k")  # no key: not listed
    [claimed] = await claim(client, "k")
    assert claimed["concurrency_key"] == "busy"
    listed = await call(client, "GET", "/queues/k/keys", 200)
    assert listed["keys"] == [
        {
            "key": "busy",
            "in_flight": 1,
            "pending": 1,
            "max_concurrency": 3,
            "rate_limit": None,
            "override": None,
        }
    ]


async def test_list_keys_pages_in_text_order(client):
    await make_queue(client, "k")
    names = ["a", "b", "c", "d", "e"]
    for name in reversed(names):
        await make_task(client, "k", concurrency_key=name)
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        query: dict[str, Any] = {"limit": "2"}
        if cursor is not None:
            query["cursor"] = cursor
        page = await call(client, "GET", "/queues/k/keys", 200, params=query)
        pages += 1
        assert len(page["keys"]) <= 2
        seen += [key["key"] for key in page["keys"]]
        cursor = page.get("next_cursor")
        if cursor is None or not page["keys"]:
            break
        assert cursor == page["keys"][-1]["key"]
        assert pages < 10
    assert seen == names
    first = await call(client, "GET", "/queues/k/keys", 200, params={"limit": "2"})
    assert [key["key"] for key in first["keys"]] == ["a", "b"]
    assert first["next_cursor"] == "b"
    after = await call(client, "GET", "/queues/k/keys", 200, params={"cursor": "b"})
    assert [key["key"] for key in after["keys"]] == ["c", "d", "e"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"limit": "0"}, "limit must be between 1 and 1000"),
        ({"limit": "1001"}, "limit must be between 1 and 1000"),
        ({"limit": "x"}, "limit must be an integer"),
        ({"cursor": "k" * 256}, "cursor must be 1 to 255 characters long"),
    ],
)
async def test_list_keys_validation(client, queue, query, message):
    got = await error(client, "GET", "/queues/q/keys", 400, "VALIDATION_ERROR", params=query)
    assert got.startswith(message), got


async def test_list_keys_of_unknown_queue_is_404(client):
    await error(client, "GET", "/queues/nope/keys", 404, "NOT_FOUND")


async def test_key_path_is_url_decoded(client, queue):
    got = await call(client, "PUT", "/queues/q/keys/a%2Fb%20%C3%A9", 200, json={})
    assert got["key"] == "a/b é"
    listed = await call(client, "GET", "/queues/q/keys", 200)
    assert [key["key"] for key in listed["keys"]] == ["a/b é"]
    await call(client, "DELETE", "/queues/q/keys/a%2Fb%20%C3%A9", 204)


async def test_put_key_replaces_the_override(client, queue):
    await call(client, "PUT", "/queues/q/keys/a", 200, json={"max_concurrency": 2})
    body = {"rate_limit": {"limit": 1, "period_seconds": 2}}
    got = await call(client, "PUT", "/queues/q/keys/a", 200, json=body)
    assert got["override"] == {
        "max_concurrency": None,
        "rate_limit": {"limit": 1, "period_seconds": 2.0},
    }
    assert got["max_concurrency"] is None


async def test_delete_key_override(client, queue):
    await call(client, "PUT", "/queues/q/keys/a", 200, json={"max_concurrency": 2})
    assert await call(client, "DELETE", "/queues/q/keys/a", 204) is None
    assert (await call(client, "GET", "/queues/q/keys", 200))["keys"] == []
    await error(client, "DELETE", "/queues/q/keys/a", 404, "NOT_FOUND")


async def test_key_routes_of_unknown_queue_are_404(client):
    await error(client, "PUT", "/queues/nope/keys/a", 404, "NOT_FOUND", json={})
    await error(client, "DELETE", "/queues/nope/keys/a", 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("method", "path", "body", "message"),
    [
        ("PUT", "/queues/q/keys/" + "k" * 256, {}, "key must be 1 to 255 characters long"),
        ("DELETE", "/queues/q/keys/" + "k" * 256, None, "key must be 1 to 255 characters long"),
        ("PUT", "/queues/q/keys/a%00b", {}, "key must not contain NUL"),
        ("PUT", "/queues/q/keys/a", {"max_concurrency": 0}, "max_concurrency must be between"),
        ("PUT", "/queues/q/keys/a", {"rate_limit": {"limit": 1}}, "rate_limit.period_seconds"),
        ("PUT", "/queues/q/keys/a", {"rate_limit": []}, "rate_limit must be an object"),
        ("PUT", "/queues/has%20space/keys/a", {}, "queue_name"),
    ],
)
async def test_key_routes_validation(client, queue, method, path, body, message):
    kwargs = {} if body is None else {"json": body}
    got = await error(client, method, path, 400, "VALIDATION_ERROR", **kwargs)
    assert got.startswith(message), got
    assert (await call(client, "GET", "/queues/q/keys", 200))["keys"] == []
