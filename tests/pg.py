"""A real PostgreSQL for the tests: embedded (pgserver) unless TEST_DATABASE_URL is set.

A template database is migrated once per session; each test gets its own
database cloned from it (`CREATE DATABASE ... TEMPLATE`), which is fast and
fully isolated.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import tempfile
from urllib.parse import urlsplit, urlunsplit

import psycopg2

from durable_queue.migrate import apply_migrations

TEMPLATE = f"dq_template_{os.getpid()}"
_counter = itertools.count()


def with_database(url: str, dbname: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{dbname}"))


def _admin(url: str, *statements: str) -> None:
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    finally:
        conn.close()


class TestPostgres:
    """The server the suite runs on, with its migrated template."""

    def __init__(self) -> None:
        self._embedded = None
        url = os.environ.get("TEST_DATABASE_URL")
        if not url:
            import pgserver

            data_dir = tempfile.mkdtemp(prefix="durable-queue-test-pg-")
            self._embedded = pgserver.get_server(data_dir, cleanup_mode="delete")
            url = self._embedded.get_uri()
        self.admin_url = url
        _admin(url, f'DROP DATABASE IF EXISTS "{TEMPLATE}"', f'CREATE DATABASE "{TEMPLATE}"')
        asyncio.run(apply_migrations(with_database(url, TEMPLATE)))

    def new_database(self) -> tuple[str, str]:
        """A database cloned from the migrated template: its name and URL."""
        name = f"dq_test_{os.getpid()}_{next(_counter)}"
        _admin(self.admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
        return name, with_database(self.admin_url, name)

    def new_empty_database(self) -> tuple[str, str]:
        """A database with nothing in it, not migrated: its name and URL."""
        name = f"dq_test_{os.getpid()}_{next(_counter)}"
        _admin(self.admin_url, f'CREATE DATABASE "{name}" TEMPLATE template0')
        return name, with_database(self.admin_url, name)

    def drop_database(self, name: str) -> None:
        _admin(self.admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        _admin(self.admin_url, f'DROP DATABASE IF EXISTS "{TEMPLATE}"')
        if self._embedded is not None:
            self._embedded.cleanup()
