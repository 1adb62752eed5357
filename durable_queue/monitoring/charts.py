"""Small server-side SVG charts of a queue's last hour: depth as a line, completions as bars.

Pure functions of numbers (no user text is drawn), returned as markup the templates
insert as is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from markupsafe import Markup

from durable_queue.monitoring.store import HistoryPoint

WIDTH, HEIGHT = 240, 56
PLOT_TOP = 4  # leave room so the line's peak is not clipped


def queue_chart(
    points: Sequence[HistoryPoint], *, now: dt.datetime, span_seconds: float = 3600.0
) -> Markup:
    """Depth (pending runs, line, left scale) and completions per sample (bars, right scale)
    over [now - span_seconds, now]."""
    start = now - dt.timedelta(seconds=span_seconds)
    plot_height = HEIGHT - PLOT_TOP

    def x(at: dt.datetime) -> float:
        return round(max(0.0, (at - start).total_seconds()) / span_seconds * WIDTH, 1)

    max_depth = max((p.pending for p in points), default=0)
    max_done = max((p.runs_completed for p in points), default=0)
    bars = []
    if max_done:
        for p in points:
            if p.runs_completed:
                h = round(p.runs_completed / max_done * plot_height, 1)
                bars.append(
                    f'<rect class="done" x="{x(p.sampled_at) - 1.5}" y="{HEIGHT - h}" '
                    f'width="3" height="{h}"/>'
                )
    line = ""
    if points:
        scale = plot_height / max_depth if max_depth else 0.0
        coords = " ".join(
            f"{x(p.sampled_at)},{round(HEIGHT - p.pending * scale, 1)}" for p in points
        )
        line = f'<polyline class="depth" points="{coords}"/>'
    label = (
        f"depth max {max_depth}, completions max {max_done} per sample"
        if points
        else "no samples yet"
    )
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-label="{label}"><title>{label}</title>'
        f'<rect class="frame" x="0" y="0" width="{WIDTH}" height="{HEIGHT}"/>'
        f"{''.join(bars)}{line}</svg>"
    )
