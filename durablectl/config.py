"""The CLI's config file (`~/.durablectl/config.json`, or `$DURABLECTL_CONFIG`) and the
server URL resolution: `--server`/`$DURABLE_SERVER`, then the file's "server", then the
default."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

DEFAULT_SERVER = "http://localhost:8080"
CONFIG_ENV = "DURABLECTL_CONFIG"


def config_path() -> Path:
    override = os.environ.get(CONFIG_ENV)
    if override:
        return Path(override)
    return Path.home() / ".durablectl" / "config.json"


def load_config() -> dict[str, Any]:
    """The config file's object; {} when it is missing or unreadable (as the original)."""
    try:
        data = json.loads(config_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_config(config: dict[str, Any]) -> Path:
    path = config_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    tmp.chmod(0o600)
    tmp.replace(path)
    return path


def resolve_server(flag: str | None) -> tuple[str, str]:
    """(server URL, where it came from: "flag", "config" or "default")."""
    if flag:
        return flag, "flag"
    configured = load_config().get("server")
    if isinstance(configured, str) and configured:
        return configured, "config"
    return DEFAULT_SERVER, "default"
