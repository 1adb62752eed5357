"""The API tokens from the environment: DURABLE_API_TOKENS (comma-separated) and
DURABLE_API_TOKENS_FILE (one per line). Read by the settings (durable_queue/config.py),
checked per request by api/auth.py."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from durable_queue.errors import ValidationError

TOKENS_ENV = "DURABLE_API_TOKENS"
TOKENS_FILE_ENV = "DURABLE_API_TOKENS_FILE"

# RFC 6750's b64token: what may follow "Bearer " in the header.
_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def tokens_from_env(env: Mapping[str, str]) -> tuple[str, ...]:
    """The tokens of DURABLE_API_TOKENS and DURABLE_API_TOKENS_FILE together; () when neither
    is set (auth off). A variable that is set but names no usable token stops the start
    rather than leaving the server open by mistake; messages never quote a token."""
    tokens: list[str] = []
    listed = env.get(TOKENS_ENV, "")
    if listed:
        from_list = _checked(listed.split(","), TOKENS_ENV, "item")
        if not from_list:
            raise ValidationError(f"{TOKENS_ENV} is set but holds no token")
        tokens += from_list
    path = env.get(TOKENS_FILE_ENV, "")
    if path:
        try:
            with open(path, encoding="utf-8") as file:
                lines = file.read().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise ValidationError(f"{TOKENS_FILE_ENV}: cannot read {path}: {reason}") from exc
        from_file = _checked(lines, TOKENS_FILE_ENV, "line")
        if not from_file:
            raise ValidationError(f"{TOKENS_FILE_ENV}: {path} holds no token")
        tokens += from_file
    return tuple(dict.fromkeys(tokens))


def _checked(entries: Iterable[str], source: str, unit: str) -> list[str]:
    """Stripped, non-blank entries (lines starting with # are comments), each a valid
    bearer token; a bad one is named by its position."""
    tokens = []
    for number, raw in enumerate(entries, start=1):
        token = raw.strip()
        if not token or token.startswith("#"):
            continue
        if not _TOKEN.fullmatch(token):
            raise ValidationError(
                f"{source}: {unit} {number} is not a valid bearer token "
                "(letters, digits and - . _ ~ + / only, optionally ending in =)"
            )
        tokens.append(token)
    return tokens
