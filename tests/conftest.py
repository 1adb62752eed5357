"""Shared fixtures: a fresh migrated database per test, the app, a client, a live server.

Every test is marked with its tier, the folder it lives in (tests/unit, tests/db,
tests/api, tests/e2e, tests/faults): `pytest -m unit` runs one tier, like `pytest
tests/unit`. CONTRIBUTING.md says what goes where.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg2.extensions
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from durable_queue.app import create_app
from durable_queue.config import Settings
from tests.helpers import connect_autocommit
from tests.pg import TestPostgres

TESTS = Path(__file__).resolve().parent
TIERS = ("unit", "db", "api", "e2e", "faults")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with its tier, from its folder under tests/."""
    for item in items:
        try:
            parts = item.path.resolve().relative_to(TESTS).parts
        except ValueError:
            continue  # not under tests/
        tier = parts[0] if len(parts) > 1 else None  # a file directly in tests/ has none
        if tier not in TIERS:
            raise pytest.UsageError(f"{item.nodeid}: tests belong in tests/{{{','.join(TIERS)}}}")
        if tier == "unit" and "postgres" in item.fixturenames:
            raise pytest.UsageError(f"{item.nodeid}: a unit test uses the database; move it to db")
        item.add_marker(tier)


@pytest.fixture(scope="session")
def postgres() -> Iterator[TestPostgres]:
    server = TestPostgres()
    yield server
    server.close()


@pytest.fixture
def database_url(postgres: TestPostgres) -> Iterator[str]:
    """A fresh, migrated database of its own for this test."""
    name, url = postgres.new_database()
    yield url
    postgres.drop_database(name)


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg2.extensions.connection]:
    """An autocommit connection to this test's database (rows readable by column name)."""
    conn = connect_autocommit(database_url)
    yield conn
    conn.close()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url)


@pytest.fixture
def app(settings: Settings) -> web.Application:
    return create_app(settings)


@pytest.fixture
async def client(aiohttp_client, app: web.Application) -> TestClient:
    """An HTTP client of the app, served in-process."""
    return await aiohttp_client(app)


@pytest.fixture
async def server_url(aiohttp_server, app: web.Application) -> AsyncIterator[str]:
    """Base URL (no trailing slash) of the app served on a free local port."""
    server = await aiohttp_server(app)
    yield str(server.make_url("")).rstrip("/")
