"""An embedded PostgreSQL (the `pgserver` package) for when DATABASE_URL is unset.

Its data lives in a persistent directory (`Settings.data_dir`), so queues and tasks survive
a restart. pgserver stops the server when the last process using it exits.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger("durable_queue.embedded")


def holds_database(path: Path) -> bool:
    """Whether `path` already holds a PostgreSQL data directory (initdb writes PG_VERSION)."""
    return (path / "PG_VERSION").is_file()


def start_embedded_postgres(data_dir: str) -> str:
    """Start (or join) the embedded PostgreSQL in `data_dir`; returns its connection URI.

    A data directory without a database is said loudly (a warning): it is either the very
    first start, or the server is looking somewhere other than where the queues live."""
    import pgserver  # imported lazily: only needed without DATABASE_URL

    path = Path(data_dir).resolve()
    if not holds_database(path):
        log.warning(
            "no database in the data directory: creating a new, empty one "
            "(set DURABLE_DATA_DIR or --data-dir if your queues live elsewhere)",
            extra={"data_dir": str(path)},
        )
    path.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(path, cleanup_mode="stop")
    uri = server.get_uri()
    log.info("embedded postgres started", extra={"data_dir": str(path)})
    return uri
