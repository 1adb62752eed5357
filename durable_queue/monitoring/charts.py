"""Small server-side SVG charts of a queue's last hour: depth as a line, completions as bars.

Pure functions of numbers (no user text is drawn), returned as markup the templates
insert as is. The history arrives in buckets (bucket 0 = the newest), one per two
pixels, so a chart costs the same however often the sampler runs.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup

from durable_queue.monitoring.store import HistoryPoint

WIDTH, HEIGHT = 240, 56
SPAN_SECONDS = 3600.0
BUCKETS = WIDTH // 2
BUCKET_SECONDS = SPAN_SECONDS / BUCKETS
PLOT_TOP = 4  # room above the highest point
_STEP = WIDTH / BUCKETS


def queue_chart(points: Sequence[HistoryPoint]) -> Markup:
    """Depth (deepest pending count per bucket, line) and completions per bucket (bars),
    each on its own scale, over the last SPAN_SECONDS; the newest bucket at the right."""
    plot_height = HEIGHT - PLOT_TOP
    max_depth = max((p.pending for p in points), default=0)
    max_done = max((p.runs_completed for p in points), default=0)
    bars = []
    if max_done:
        for p in points:
            if p.runs_completed:
                h = round(p.runs_completed / max_done * plot_height, 1)
                x = round(WIDTH - (p.bucket + 1) * _STEP, 1)
                bars.append(
                    f'<rect class="done" x="{x}" y="{HEIGHT - h}" width="{_STEP}" height="{h}"/>'
                )
    line = ""
    if points:
        scale = plot_height / max_depth if max_depth else 0.0
        coords = " ".join(
            f"{round(WIDTH - (p.bucket + 0.5) * _STEP, 1)},{round(HEIGHT - p.pending * scale, 1)}"
            for p in points
        )
        line = f'<polyline class="depth" points="{coords}"/>'
    label = (
        f"last hour: depth up to {max_depth}, up to {max_done} completions per {BUCKET_SECONDS:g} s"
        if points
        else "no samples yet"
    )
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-label="{label}"><title>{label}</title>'
        f'<rect class="frame" x="0" y="0" width="{WIDTH}" height="{HEIGHT}"/>'
        f"{''.join(bars)}{line}</svg>"
    )
