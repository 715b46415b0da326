"""Server-rendered SVG bar charts: no script, no library, values written on the chart.

Each chart comes with a legend in HTML (dark text next to a colour swatch, so the text meets
contrast whatever the colour) and the pages show the same numbers in a table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

# Colours with at least 3:1 contrast against white (WCAG non-text contrast) for the bars.
PALETTE = ("#0b4f6c", "#b35c00", "#a4161a", "#1d6f5f", "#5c3d99", "#555555")


def stacked_bars(
    series: Sequence[tuple[str, Mapping[str, int]]],
    keys: Sequence[str],
    labels: Mapping[str, str],
    title: str,
) -> str:
    """One bar per (label, counts by key), stacked by key; the total is written above each bar."""
    colours = dict(zip(keys, PALETTE, strict=False))
    width = max(400, 60 * len(series) + 40)
    top = max([sum(counts.values()) for _, counts in series] + [1])
    parts = []
    for i, (label, counts) in enumerate(series):
        x, y = 30 + i * 60, 170.0
        total = 0
        for key in keys:
            n = counts.get(key, 0)
            total += n
            h = 140 * n / top
            if n:
                parts.append(
                    f'<rect x="{x}" y="{y - h:.1f}" width="36" height="{h:.1f}" '
                    f'fill="{colours[key]}"><title>{escape(label)} '
                    f"{escape(labels.get(key, key))}: {n}</title></rect>"
                )
                y -= h
        parts.append(
            f'<text x="{x + 18}" y="{y - 4:.1f}" font-size="11" text-anchor="middle" '
            f'fill="#1b1b1b">{total}</text>'
        )
        parts.append(
            f'<text x="{x + 18}" y="186" font-size="11" text-anchor="middle" '
            f'fill="#1b1b1b">{escape(label)}</text>'
        )
    return (
        f'<svg role="img" aria-label="{escape(title)}" viewBox="0 0 {width} 195" '
        f'width="{width}" class="chart">{"".join(parts)}</svg>'
    )


def legend(keys: Sequence[str], labels: Mapping[str, str]) -> str:
    """The legend as an HTML list: a swatch, then the label in the page's text colour.

    Swatches are tiny SVGs rather than styled spans: the pages carry no style attributes.
    """
    colours = dict(zip(keys, PALETTE, strict=False))
    items = "".join(
        f'<li><svg width="14" height="14" aria-hidden="true"><rect width="14" height="14" '
        f'fill="{colours[k]}"/></svg> '
        f"{escape(labels.get(k, k))}</li>"
        for k in keys
    )
    return f'<ul class="legend">{items}</ul>'
