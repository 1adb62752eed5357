"""Lines of Prometheus' text format (0.0.4), written directly.

prometheus_client writes a sample in about 12 µs (it escapes and checks the names of
every line): 25 ms of the event loop per scrape at 200 queues, ten samples per queue.
The per-queue families are a fixed set of names with one label, so `metrics.py` writes
them with these helpers: each name and label once, the values as prometheus_client
writes them (tests/unit/test_metrics_text.py compares the two texts).
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.utils import floatToGoString


def escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


def escape_label_value(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def number(value: float) -> str:
    """A sample's value as prometheus_client writes it (floatToGoString); integers below
    a million, the common case, without its float round trip."""
    if type(value) is int and -(10**15) < value < 10**6:
        return f"{value}.0"
    return floatToGoString(value)


def family(name: str, kind: str, help_text: str, samples: Iterable[tuple[str, float]]) -> str:
    """One family: its HELP and TYPE lines, then a line per (label text, value); the label
    text is `{queue="..."}` (escaped) or empty."""
    lines = [f"# HELP {name} {escape_help(help_text)}\n# TYPE {name} {kind}\n"]
    lines.extend(f"{name}{labels} {number(value)}\n" for labels, value in samples)
    return "".join(lines)
