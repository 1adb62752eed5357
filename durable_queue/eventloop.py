"""The event loop `durable-queue` and `durablectl` run on: uvloop where it is installed
(a dependency of the server package wherever it builds: CPython, not on Windows), else
asyncio's own.

The commands start the loop here rather than through asyncclick's `Command.__call__`, which
picks uvloop only when anyio happens to be importable (a plain install has no anyio)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory, or None (asyncio's default loop) where uvloop is missing."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` to its end on a new loop (uvloop where installed), like `asyncio.run`."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)


def loop_name() -> str:
    """ "uvloop" or "asyncio": the running loop's kind, as the startup logs name it."""
    return type(asyncio.get_running_loop()).__module__.split(".")[0]
