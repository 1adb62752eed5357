"""Settings from the environment (and command-line flags), in one frozen record."""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlsplit

import attrs
import platformdirs
import psycopg2.extensions

from durable_queue.errors import ValidationError
from durable_queue.tokens import tokens_from_env

DATABASE_URL_FORM = "postgresql://user:password@host:5432/dbname"


def default_data_dir() -> str:
    """Where the embedded database keeps its data unless DURABLE_DATA_DIR or --data-dir say
    otherwise: the user's data directory (~/.local/share/durable-queue on Linux), the same
    whatever the working directory the server starts in."""
    return str(platformdirs.user_data_path("durable-queue", appauthor=False))


@attrs.frozen
class Settings:
    database_url: str | None = None
    data_dir: str = attrs.field(factory=default_data_dir)
    host: str = "127.0.0.1"  # loopback unless asked (docker-compose and the Dockerfile ask)
    port: int = 8080
    max_body_bytes: int = 1024 * 1024
    pool_min_size: int = 1
    pool_max_size: int = 10
    log_level: str = "INFO"
    listener_probe_seconds: int = 5
    maintenance_interval: float = 1.0
    max_claim_expiries: int = 10
    # how late a due slot may fire and still be on time, not missed (docs/schedules.md)
    schedule_grace_seconds: float = 10.0
    api_tokens: tuple[str, ...] = attrs.field(default=(), repr=False)  # () = auth off
    max_waiters: int = 4000  # long polls per process (0 = no limit)
    read_timeout: float = 30.0  # seconds for a request head or body to arrive
    workers: int = 1  # server processes sharing the port (`serve --workers`)
    # Host header values accepted; () = the bound address, plus the loopback names on a
    # loopback bind (SECURITY.md, "Browsers")
    allowed_hosts: tuple[str, ...] = ()
    # origins whose browser pages may send state-changing requests; () = none cross-site
    allowed_origins: tuple[str, ...] = ()
    require_claim_tokens: bool = False  # holder calls without claim_token answer 409
    max_inflight_body_bytes: int = 64 * 1024 * 1024  # request bodies held at once, per process

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        env = os.environ if env is None else env
        values: dict[str, object] = {
            "database_url": _database_url(env.get("DATABASE_URL") or None),
            "data_dir": env.get("DURABLE_DATA_DIR") or default_data_dir(),
            "host": env.get("DURABLE_HOST") or "127.0.0.1",
            "port": _int(env, "DURABLE_PORT", 8080),
            "max_body_bytes": _int(env, "DURABLE_MAX_BODY_BYTES", 1024 * 1024),
            "pool_min_size": _int(env, "DURABLE_POOL_MIN_SIZE", 1),
            "pool_max_size": _int(env, "DURABLE_POOL_MAX_SIZE", 10),
            "log_level": (env.get("DURABLE_LOG_LEVEL") or "INFO").upper(),
            "listener_probe_seconds": _int(env, "DURABLE_LISTENER_PROBE_SECONDS", 5),
            "maintenance_interval": _float(env, "DURABLE_MAINTENANCE_INTERVAL", 1.0),
            "max_claim_expiries": _int(env, "DURABLE_MAX_CLAIM_EXPIRIES", 10),
            "schedule_grace_seconds": _float(env, "DURABLE_SCHEDULE_GRACE_SECONDS", 10.0),
            "api_tokens": tokens_from_env(env),
            "max_waiters": _int(env, "DURABLE_MAX_WAITERS", 4000),
            "read_timeout": _float(env, "DURABLE_READ_TIMEOUT", 30.0),
            "workers": _int(env, "DURABLE_WORKERS", 1),
            "allowed_hosts": _list(env, "DURABLE_ALLOWED_HOSTS"),
            "allowed_origins": _list(env, "DURABLE_ALLOWED_ORIGINS"),
            "require_claim_tokens": _bool(env, "DURABLE_REQUIRE_CLAIM_TOKENS"),
            "max_inflight_body_bytes": _int(
                env, "DURABLE_MAX_INFLIGHT_BODY_BYTES", 64 * 1024 * 1024
            ),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        if not isinstance(values["workers"], int) or values["workers"] < 1:
            workers = values["workers"]
            raise ValidationError(f"DURABLE_WORKERS must be at least 1, got {workers}")
        values["data_dir"] = os.path.abspath(os.path.expanduser(str(values["data_dir"])))
        return cls(**values)


def _database_url(raw: str | None) -> str | None:
    """DATABASE_URL, refused at start (one line, no traceback) unless libpq can parse it as
    a postgresql:// URL. The value is not echoed: it may hold a password."""
    if raw is None:
        return None
    if urlsplit(raw).scheme not in ("postgresql", "postgres"):
        raise ValidationError(f"DATABASE_URL must be a URL like {DATABASE_URL_FORM}")
    try:
        psycopg2.extensions.parse_dsn(raw)
    except psycopg2.ProgrammingError as exc:
        reason = str(exc).strip().splitlines()[0]
        raise ValidationError(f"DATABASE_URL is not a valid PostgreSQL URL: {reason}") from exc
    return raw


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValidationError(f"{name} must be an integer, got {raw!r}") from exc
    if value < 0:
        raise ValidationError(f"{name} must not be negative, got {value}")
    return value


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """A comma-separated list; blanks around items are dropped, and so are empty items."""
    raw = env.get(name) or ""
    return tuple(item.strip() for item in raw.split(",") if item.strip())


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


def _bool(env: Mapping[str, str], name: str) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ValidationError(f"{name} must be one of 1/true/yes/on or 0/false/no/off, got {raw!r}")


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ValidationError(f"{name} must be a number, got {raw!r}") from exc
    if not value > 0:
        raise ValidationError(f"{name} must be greater than 0, got {raw}")
    return value
