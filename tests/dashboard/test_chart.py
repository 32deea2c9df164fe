"""The SVG chart: well-formed, one bar per minute with jobs, one mark per minute with failovers."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

from orchestrator.dashboard._chart import chart_svg

SVG = "{http://www.w3.org/2000/svg}"


def test_bars_and_marks_follow_the_counts() -> None:
    """Tallest bar for the busiest minute; a failover minute gets a circle."""
    minutes = [(1, 0, 0), (2, 4, 1), (3, 2, 0)]
    root = ElementTree.fromstring(chart_svg(minutes))
    bars = root.findall(f"{SVG}rect")
    marks = root.findall(f"{SVG}circle")
    assert len(bars) == 2
    assert len(marks) == 1
    heights = [float(bar.attrib["height"]) for bar in bars]
    assert heights[0] == 2 * heights[1]
    assert "4 jobs finished" in ElementTree.tostring(bars[0], encoding="unicode")
    assert root.find(f"{SVG}title") is not None  # read out by screen readers


def test_an_empty_hour_draws_axes_only() -> None:
    """No activity: no bars, no marks, and no division by zero."""
    root = ElementTree.fromstring(chart_svg([(minute, 0, 0) for minute in range(60)]))
    assert root.findall(f"{SVG}rect") == []
    assert root.findall(f"{SVG}circle") == []
