"""Bar charts as SVG, drawn on the server with pygal (the pages run no script). The caller gives the
labels in the reader's language; every chart is shown beside a table of the same numbers."""

from __future__ import annotations

from collections.abc import Sequence

import pygal
from lxml import etree
from pygal.style import Style

_STYLE = Style(
    font_family='"Noto Sans", "Noto Serif", "DejaVu Sans", Arial, sans-serif',
    background="white", plot_background="white", foreground="#222", foreground_strong="#111",
    foreground_subtle="#666", colors=("#1f5fa8", "#2e8b57", "#c0392b", "#b9770e", "#6c3483"),
    title_font_size=16, label_font_size=12, major_label_font_size=12, legend_font_size=12,
)


def bar_chart(title: str, x_labels: Sequence[str], series: Sequence[tuple[str, Sequence[int]]], *,
              horizontal: bool = False) -> bytes:
    """An SVG document: one group of bars per x label, one bar per series."""
    kind = pygal.HorizontalBar if horizontal else pygal.Bar
    height = max(360, 60 + 28 * len(x_labels) * max(1, len(series))) if horizontal else 380
    chart = kind(style=_STYLE, width=860, height=min(height, 1600), title=title, js=[],
                 legend_at_bottom=True, legend_at_bottom_columns=min(len(series), 4) or 1, truncate_legend=-1,
                 truncate_label=-1, x_label_rotation=0 if horizontal or len(x_labels) <= 6 else 30,
                 print_values=False,
                 no_data_text="—")
    chart.x_labels = list(x_labels)
    # counts: whole-number ticks (pygal's own scale marks the in-between ticks minor and hides them)
    top = max((v for _, values in series for v in values), default=0)
    step = max(1, -(-top // 5))
    chart.y_labels = list(range(0, top + step + 1, step))
    for name, values in series:
        chart.add(name, list(values))
    tree = chart.render_tree()
    # pygal always writes its configuration in a <script>: no script ever leaves docsign in a page
    for script in list(tree.iter("script", "{http://www.w3.org/2000/svg}script")):
        script.getparent().remove(script)
    return etree.tostring(tree, xml_declaration=True, encoding="utf-8")
