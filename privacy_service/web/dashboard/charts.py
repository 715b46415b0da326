"""The numbers behind the server-rendered SVG bar charts: no script, no library.

Python lays the chart out (each bar's segments, their heights and tooltips, the totals); the
macros in ``templates/dashboard/_charts.html`` write the markup, escaped like any template
text. Each chart comes with a legend in HTML (dark text next to a colour swatch, so the text
meets contrast whatever the colour) and the pages show the same numbers in a table.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

# Colours with at least 3:1 contrast against white (WCAG non-text contrast) for the bars.
PALETTE = ("#0b4f6c", "#b35c00", "#a4161a", "#1d6f5f", "#5c3d99", "#555555")
# The drawing area: bars start at x=30, one every 60 units, 36 wide, at most 140 high, standing
# on y=170 (labels below, totals above).
LEFT, STEP, BASE, TALLEST = 30, 60, 170.0, 140


@dataclasses.dataclass(frozen=True)
class Segment:
    """One key's part of a bar: where it starts (top), how high, its colour and tooltip."""

    y: float
    height: float
    colour: str
    title: str


@dataclasses.dataclass(frozen=True)
class Bar:
    """One bar: its left edge, label, total, the top of its stack, and its segments."""

    x: int
    label: str
    total: int
    top: float
    segments: tuple[Segment, ...]


@dataclasses.dataclass(frozen=True)
class Chart:
    """A stacked bar chart: its accessible title, width and bars."""

    title: str
    width: int
    bars: tuple[Bar, ...]


@dataclasses.dataclass(frozen=True)
class Swatch:
    """A legend entry: a colour and what it stands for."""

    colour: str
    label: str


def stacked_bars(
    series: Sequence[tuple[str, Mapping[str, int]]],
    keys: Sequence[str],
    labels: Mapping[str, str],
    title: str,
) -> Chart:
    """One bar per (label, counts by key), stacked by key; the total is written above each bar."""
    colours = dict(zip(keys, PALETTE, strict=False))
    top = max([sum(counts.values()) for _, counts in series] + [1])
    bars = []
    for i, (label, counts) in enumerate(series):
        y, total, segments = BASE, 0, []
        for key in keys:
            n = counts.get(key, 0)
            total += n
            if n:
                h = TALLEST * n / top
                title_ = f"{label} {labels.get(key, key)}: {n}"
                segments.append(Segment(y - h, h, colours[key], title_))
                y -= h
        bars.append(Bar(LEFT + i * STEP, label, total, y, tuple(segments)))
    return Chart(title, max(400, STEP * len(series) + 40), tuple(bars))


def legend(keys: Sequence[str], labels: Mapping[str, str]) -> tuple[Swatch, ...]:
    """The legend's entries: each key's colour and label, in the chart's order."""
    colours = dict(zip(keys, PALETTE, strict=False))
    return tuple(Swatch(colours[k], labels.get(k, k)) for k in keys)
