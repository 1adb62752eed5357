"""A durable-queue server process a benchmark started: waiting until it answers /readyz."""

from __future__ import annotations

import asyncio
import contextlib
import time

import aiohttp


async def wait_until_ready(
    session: aiohttp.ClientSession,
    base: str,
    server: asyncio.subprocess.Process,
    *,
    poll: float = 0.1,
    within_seconds: float = 120,
) -> None:
    """Poll `base`/readyz until it answers 200; fail when the process exits first or
    `within_seconds` pass."""
    deadline = time.monotonic() + within_seconds
    while True:
        with contextlib.suppress(aiohttp.ClientError):
            async with session.get(f"{base}/readyz") as resp:
                if resp.status == 200:
                    return
        assert server.returncode is None, "the server exited at start"
        assert time.monotonic() < deadline, "the server never became ready"
        await asyncio.sleep(poll)
