"""JSON-lines logging: one object per line with time, level, logger, message and extras.

The access log writes one line per request, so its line is built by `access_line` in one
orjson call and handed to logging as a `JsonLine`, which the formatter passes through
as it is (no extras to collect, no second encoding). The record still carries the fields
as attributes, for any other handler.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import time
import warnings
from typing import Any

import orjson

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
ACCESS_LOGGER = "durable_queue.access"


class JsonLine(str):
    """A log message that is already a whole JSON log line (see `access_line`)."""

    __slots__ = ()


def _timestamp(created: float) -> str:
    return dt.datetime.fromtimestamp(created, dt.UTC).isoformat()


def _line(entry: dict[str, Any]) -> str:
    """One compact JSON line, ASCII only (whatever the encoding of the stream it goes to)."""
    try:
        line = orjson.dumps(entry, default=str)
        if line.isascii():
            return line.decode()
    except TypeError:  # a big integer, a lone surrogate, a non-string key
        pass
    return json.dumps(entry, default=str, separators=(",", ":"))


def access_line(fields: dict[str, Any]) -> JsonLine:
    """The access log's line for one request (`fields`: method, path, status, duration_ms),
    with the keys and order of any other line."""
    entry = {
        "time": _timestamp(time.time()),
        "level": "info",
        "logger": ACCESS_LOGGER,
        "message": "request",
        **fields,
    }
    return JsonLine(_line(entry))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        if type(record.msg) is JsonLine and not record.args:
            return record.msg
        entry = {
            "time": _timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _line(entry)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    logging.getLogger("yoyo").setLevel(logging.WARNING)  # "migrations applied" says it once
    logging.captureWarnings(True)
    # Nothing here writes where a line was logged from, or which thread or process:
    # skip collecting it for every record (the logging HOWTO's "Optimization").
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    warnings.filterwarnings("ignore", module="platformdirs")
