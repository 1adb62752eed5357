"""The server's pool hands out the free connection released last (LifoPool)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiopg
import pytest

from durable_queue.db import LifoPool, create_pool


@contextlib.asynccontextmanager
async def open_pool(database_url: str, maxsize: int) -> AsyncIterator[aiopg.Pool]:
    """The server's pool, empty at first, closed and waited for afterwards."""
    pool = await create_pool(database_url, minsize=0, maxsize=maxsize)
    try:
        yield pool
    finally:
        pool.close()
        await pool.wait_closed()


async def _backend_pid(conn: aiopg.Connection) -> int:
    async with conn.cursor() as cur:
        await cur.execute("SELECT pg_backend_pid()")
        (pid,) = await cur.fetchone()
    return pid


async def test_the_connection_released_last_is_handed_out_first(database_url: str) -> None:
    async with open_pool(database_url, maxsize=3) as pool:
        assert isinstance(pool, LifoPool)
        first, second, third = [await pool.acquire() for _ in range(3)]
        pids = [await _backend_pid(c) for c in (first, second, third)]
        assert len(set(pids)) == 3
        for conn in (first, second, third):
            await pool.release(conn)
        # last in, first out: third, then second; aiopg's own order would give first
        again = await pool.acquire()
        assert await _backend_pid(again) == pids[2]
        after = await pool.acquire()
        assert await _backend_pid(after) == pids[1]
        await pool.release(after)
        await pool.release(again)
        # one request at a time keeps using one backend
        seen = set()
        for _ in range(5):
            conn = await pool.acquire()
            seen.add(await _backend_pid(conn))
            await pool.release(conn)
        assert seen == {pids[2]}
        assert pool.size == 3 and pool.freesize == 3


async def test_a_full_pool_waits_for_a_release(database_url: str) -> None:
    async with open_pool(database_url, maxsize=1) as pool:
        held = await pool.acquire()
        waiting = asyncio.ensure_future(pool.acquire())
        await asyncio.sleep(0)
        assert not waiting.done()
        await pool.release(held)
        conn = await asyncio.wait_for(waiting, 10)
        assert conn is held
        await pool.release(conn)


async def test_a_connection_released_inside_a_transaction_is_closed(database_url: str) -> None:
    async with open_pool(database_url, maxsize=2) as pool:
        conn = await pool.acquire()
        async with conn.cursor() as cur:
            await cur.execute("BEGIN")
        with pytest.warns(ResourceWarning, match="Invalid transaction status"):
            await pool.release(conn)
        assert conn.closed and pool.size == 0
        fresh = await pool.acquire()  # a new connection, not the closed one
        assert fresh is not conn and not fresh.closed
        await pool.release(fresh)


async def test_closing_waits_for_the_connection_in_use(database_url: str) -> None:
    pool = await create_pool(database_url, minsize=1, maxsize=2)
    held = await pool.acquire()
    pool.close()
    closed = asyncio.ensure_future(pool.wait_closed())
    await asyncio.sleep(0)
    assert not closed.done()  # wait_closed waits on the pool's condition for `held`
    await pool.release(held)  # closed, as the pool is closing, and the waiter notified
    await asyncio.wait_for(closed, 10)
    assert held.closed and pool.size == 0
