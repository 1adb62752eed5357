"""The database a benchmark runs on: the one given, else a throw-away embedded PostgreSQL."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable, Coroutine
from typing import Any


def run_on_database(
    database_url: str | None,
    main: Callable[[str], Coroutine[Any, Any, None]],
    *,
    uvloop: bool = False,
) -> None:
    """Run `main(url)` on `database_url`, or on an embedded PostgreSQL deleted afterwards;
    on uvloop when asked and installed, else on asyncio's own loop."""
    run = asyncio.run
    if uvloop:
        try:
            import uvloop as uvloop_module
        except ImportError:
            pass
        else:
            run = uvloop_module.run
    if database_url:
        run(main(database_url))
        return
    import pgserver

    server = pgserver.get_server(
        tempfile.mkdtemp(prefix="durable-queue-bench-"), cleanup_mode="delete"
    )
    try:
        run(main(server.get_uri()))
    finally:
        server.cleanup()
