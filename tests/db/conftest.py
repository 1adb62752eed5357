"""Fixtures of the db tier (the shared ones are in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from durable_queue.db import create_pool
from durable_queue.store import Store


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    """A Store on this test's database, with the queue "q" (a test may define its own)."""
    pool = await create_pool(database_url, maxsize=10)
    store = Store(pool)
    await store.create_queue("q", None, None)
    yield store
    pool.close()
    await pool.wait_closed()
