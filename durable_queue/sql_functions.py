"""Install the PL/pgSQL functions of migrations/functions/ (the function step of migrate).

Each function, and the triggers that call it, lives in one file of its own, so the
file's history is the function's history. Migrations change tables; this step puts
the current bodies in place after them, in one transaction, when the database holds
those of an older release (or, within one release, other bodies: a development
checkout). It never puts a release's bodies over a newer release's, so a server of the
previous release restarting during a rolling upgrade leaves the new bodies alone
(docs/upgrading.md has the rule the functions follow for that).
"""

from __future__ import annotations

import enum
import hashlib
import logging
from pathlib import Path

import aiopg
from packaging.version import InvalidVersion, Version

from durable_queue.db import queries
from durable_queue.resources import resource_dir

log = logging.getLogger("durable_queue.migrate")


class Verdict(enum.Enum):
    """What the function step does, given what the database holds."""

    INSTALL = "install"  # nothing installed, an older release's, or other bodies of ours
    CURRENT = "current"  # these very bodies
    NEWER = "newer"  # a newer release's: left alone


def function_files() -> list[Path]:
    """The function files, in name order (each defines one function and its triggers)."""
    return sorted(resource_dir("migrations").joinpath("functions").glob("*.sql"))


def function_sources() -> list[tuple[str, str]]:
    """Each function file's name and text, in name order: read once, hashed and installed."""
    return [(path.name, path.read_text()) for path in function_files()]


def checksum(sources: list[tuple[str, str]]) -> str:
    """A SHA-256 over the files' names and texts: any change to a body changes it."""
    digest = hashlib.sha256()
    for name, text in sources:
        digest.update(name.encode())
        digest.update(b"\0")
        digest.update(text.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def _release_key(release: str) -> Version | None:
    try:
        return Version(release)
    except InvalidVersion:
        return None


def verdict(installed: tuple[str, str] | None, release: str, digest: str) -> Verdict:
    """Whether a server of `release`, with bodies hashing to `digest`, installs them over
    `installed` (the recorded release and checksum, or None when there is none)."""
    if installed is None:
        return Verdict.INSTALL
    installed_release, installed_digest = installed
    ours, theirs = _release_key(release), _release_key(installed_release)
    if ours is not None and theirs is not None and theirs > ours:
        return Verdict.NEWER
    if installed_release == release and installed_digest == digest:
        return Verdict.CURRENT
    return Verdict.INSTALL  # recorded as ours from now on, even where the bodies are the same


async def install_functions(conn: aiopg.Connection, release: str) -> Verdict:
    """Run the function step on `conn` (autocommit, under the migration lock): install
    every function file in one transaction when `verdict` says so. Returns the verdict."""
    sources = function_sources()
    digest = checksum(sources)
    await queries.create_installed_functions(conn)
    async with conn.cursor() as cur:
        async with cur.begin():
            row = await queries.lock_installed_functions(conn)
            installed = (row["release"], row["checksum"]) if row else None
            decision = verdict(installed, release, digest)
            if decision is Verdict.INSTALL:
                await queries.defer_function_body_checks(conn)
                for _, text in sources:
                    await cur.execute(text)
                await queries.record_installed_functions(conn, release=release, checksum=digest)
    if decision is Verdict.INSTALL:
        log.info("functions installed", extra={"release": release, "count": len(sources)})
    elif decision is Verdict.NEWER:
        log.warning(
            "functions of a newer release kept",
            extra={"release": release, "installed_release": installed and installed[0]},
        )
    return decision
