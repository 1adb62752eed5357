"""Every connection of the server runs with JIT off (libpq `options` at connect), and
keeps the options a user gives in DATABASE_URL or PGOPTIONS, which win over ours."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import aiosql
import pytest

from durable_queue.db import connect, create_pool, session_options

S = aiosql.from_path(Path(__file__).with_name("session_options.sql"), "aiopg")


def with_options(url: str, options: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}options={quote(options)}"


async def settings(dsn: str) -> list[dict]:
    """The settings of a pooled connection and of a connection outside the pool."""
    pool = await create_pool(dsn, minsize=0, maxsize=1)
    try:
        async with pool.acquire() as conn:
            pooled = await S.settings(conn)
    finally:
        pool.close()
        await pool.wait_closed()
    conn = await connect(dsn, connect_timeout=10.0, application_name="durable-queue-test")
    try:
        return [pooled, await S.settings(conn)]
    finally:
        conn.close()


async def test_jit_is_off(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGOPTIONS", raising=False)
    assert [row["jit"] for row in await settings(database_url)] == ["off", "off"]


async def test_the_options_of_database_url_are_kept(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGOPTIONS", "-c statement_timeout=9s")  # libpq ignores it here
    dsn = with_options(database_url, "-c statement_timeout=5s")
    assert [dict(row) for row in await settings(dsn)] == [
        {"jit": "off", "statement_timeout": "5s"}
    ] * 2


async def test_pgoptions_is_kept(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGOPTIONS", "-c statement_timeout=7s")
    assert [dict(row) for row in await settings(database_url)] == [
        {"jit": "off", "statement_timeout": "7s"}
    ] * 2


async def test_a_user_may_turn_jit_on_again(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGOPTIONS", raising=False)
    dsn = with_options(database_url, "-c jit=on")
    assert [row["jit"] for row in await settings(dsn)] == ["on", "on"]


def test_session_options_puts_the_users_last(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGOPTIONS", raising=False)
    assert session_options("dbname=x") == "-c jit=off"
    assert session_options("dbname=x options='-c a=b'") == "-c jit=off -c a=b"
    assert session_options("postgresql:///x?options=-c%20a%3Db") == "-c jit=off -c a=b"
    monkeypatch.setenv("PGOPTIONS", "-c c=d")
    assert session_options("dbname=x") == "-c jit=off -c c=d"
    assert session_options("dbname=x options='-c a=b'") == "-c jit=off -c a=b"
