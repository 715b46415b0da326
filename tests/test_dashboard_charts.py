"""The dashboard's bar charts: Python lays them out, a template macro draws them, escaped."""

from __future__ import annotations

import re

import pytest

from privacy_service.web.dashboard import charts

pytestmark = pytest.mark.dialect_neutral  # pages, HTTP, validation (conftest.py)

KEYS = ("access", "deletion")
LABELS = {"access": "访问 Access", "deletion": "删除 <b>Deletion</b>"}


def _draw(app, chart, swatches) -> tuple[str, str]:
    with app.app_context():
        macros = app.jinja_env.get_template("dashboard/_charts.html").module
        return str(macros.bar_chart(chart)), str(macros.legend(swatches))


def test_bars_are_stacked_to_scale_with_totals_and_tooltips(app):
    series = [("2026-W40", {"access": 3, "deletion": 1}), ("2026-W41", {})]
    chart = charts.stacked_bars(series, KEYS, LABELS, "每周 <Requests> & more")
    svg, legend = _draw(app, chart, charts.legend(KEYS, LABELS))
    assert svg.startswith('<svg role="img" aria-label="每周 &lt;Requests&gt; &amp; more"')
    assert 'viewBox="0 0 400 195"' in svg and svg.endswith("</svg>")
    # The tallest bar is 140 high: 3 of 4 is 105, stacked on the base line at 170.
    assert '<rect x="30" y="65.0" width="36" height="105.0" fill="#0b4f6c">' in svg
    assert "<title>2026-W40 访问 Access: 3</title>" in svg
    assert "<title>2026-W40 删除 &lt;b&gt;Deletion&lt;/b&gt;: 1</title>" in svg
    assert re.findall(
        r'y="[\d.]+" font-size="11" text-anchor="middle" fill="#1b1b1b">(\d+)<', svg
    ) == [
        "4",
        "0",
    ]
    assert svg.count("<rect") == 2, "an empty week draws no segment"
    assert "<b>" not in svg + legend
    assert legend.count("<li>") == 2 and "删除 &lt;b&gt;Deletion&lt;/b&gt;</li>" in legend
    assert 'fill="#b35c00"/></svg> 删除' in legend


def test_wide_series_widen_the_chart(app):
    series = [(f"W{i}", {"access": i}) for i in range(10)]
    svg, _ = _draw(app, charts.stacked_bars(series, KEYS, LABELS, "t"), ())
    assert 'viewBox="0 0 640 195" width="640"' in svg
    assert '<text x="588" y="186"' in svg
