"""The adoption charts: whole-number ticks a reader can count against, and no script in the SVG."""

from __future__ import annotations

from lxml import etree

from docsign.reports.charts import bar_chart

SVG = "{http://www.w3.org/2000/svg}"


def _value_ticks(svg: bytes, axis_name: str = "y") -> list[str]:
    tree = etree.fromstring(svg)
    axis = next(g for g in tree.iter(f"{SVG}g") if g.get("class", "").split()[:2] == ["axis", axis_name])
    return [t.text for t in axis.iter(f"{SVG}text") if t.text]


def test_counts_get_whole_number_ticks_and_the_svg_carries_no_script() -> None:
    svg = bar_chart("Theo tháng", ["01/2026", "02/2026"], [("Nhận điện tử", [4, 3]), ("Gửi bản giấy", [3, 1])])
    assert _value_ticks(svg) == ["0", "1", "2", "3", "4", "5"]
    assert b"<script" not in svg
    big = bar_chart("Theo cơ quan", ["A", "B"], [("Nhận điện tử", [23, 7])], horizontal=True)
    assert _value_ticks(big, "x") == ["0", "5", "10", "15", "20", "25"]  # bars lie along x
    assert _value_ticks(bar_chart("Trống", ["A"], [("Nhận điện tử", [0])])) == ["0", "1"]
