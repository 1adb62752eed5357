"""An embedded PostgreSQL (the `pgserver` package) for when DATABASE_URL is unset.

Its data lives in a persistent directory, so queues and tasks survive a
restart. pgserver stops the server when the last process using it exits.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger("durable_queue.embedded")


def start_embedded_postgres(data_dir: str) -> str:
    """Start (or join) the embedded PostgreSQL in `data_dir`; returns its connection URI."""
    import pgserver  # imported lazily: only needed without DATABASE_URL

    path = Path(data_dir).resolve()
    path.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(path, cleanup_mode="stop")
    uri = server.get_uri()
    log.info("embedded postgres started", extra={"data_dir": str(path)})
    return uri
