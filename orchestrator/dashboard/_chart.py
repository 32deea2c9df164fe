"""The jobs-and-failovers chart, drawn as SVG by our own code (no front-end library):
one bar per minute for finished jobs, a mark above it for each minute with failovers."""

from __future__ import annotations

from collections.abc import Sequence

WIDTH = 600
HEIGHT = 140
#: Room for the axis labels.
BOTTOM = 18
LEFT = 28


def chart_svg(minutes: Sequence[tuple[int, int, int]]) -> str:
    """``minutes``: ``(minute, jobs finished, failovers)``, oldest first."""
    peak = max([1, *(jobs for _, jobs, _ in minutes), *(moves for _, _, moves in minutes)])
    plot_height = HEIGHT - BOTTOM - 8
    slot = (WIDTH - LEFT) / max(1, len(minutes))
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        'aria-labelledby="chart-title" xmlns="http://www.w3.org/2000/svg">',
        '<title id="chart-title">Jobs finished (bars) and failovers (dots) per minute, '
        "last hour</title>",
        f'<line class="axis" x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH}" '
        f'y2="{HEIGHT - BOTTOM}"/>',
        f'<text class="label" x="{LEFT - 4}" y="14" text-anchor="end">{peak}</text>',
        f'<text class="label" x="{LEFT - 4}" y="{HEIGHT - BOTTOM}" text-anchor="end">0</text>',
        f'<text class="label" x="{LEFT}" y="{HEIGHT - 4}">-{len(minutes)} min</text>',
        f'<text class="label" x="{WIDTH}" y="{HEIGHT - 4}" text-anchor="end">now</text>',
    ]
    for index, (_, jobs, failovers) in enumerate(minutes):
        x = LEFT + index * slot
        if jobs:
            height = plot_height * jobs / peak
            parts.append(
                f'<rect class="jobs" x="{x + 1:.1f}" y="{HEIGHT - BOTTOM - height:.1f}" '
                f'width="{max(1.0, slot - 2):.1f}" height="{height:.1f}">'
                f"<title>{jobs} job{'s' * (jobs != 1)} finished</title></rect>"
            )
        if failovers:
            y = HEIGHT - BOTTOM - plot_height * failovers / peak
            parts.append(
                f'<circle class="failovers" cx="{x + slot / 2:.1f}" cy="{y:.1f}" r="3.5">'
                f"<title>{failovers} failover{'s' * (failovers != 1)}</title></circle>"
            )
    parts.append("</svg>")
    return "".join(parts)
