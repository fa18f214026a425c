"""Horizontal bar charts as inline SVG, drawn on the server: no script, no external font,
every label escaped. Bars are proportional to the largest value of the chart."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

from moderation.review.transparency import Row

NO_DATA = "No data in this period"
WIDTH, LABEL_WIDTH, BAR_WIDTH = 800, 330, 340
ROW_HEIGHT, BAR_HEIGHT, TOP = 26, 18, 8
FONT = "system-ui, sans-serif"


def number(value: float) -> str:
    """A count as a whole number, anything else with two decimals."""
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"


def _open(title: str, height: int) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'aria-label="{escape(title)}" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" font-family="{FONT}" font-size="13">'
        f"<title>{escape(title)}</title>"
    )


def _bar(row: Row, index: int, largest: float, unit: str) -> str:
    y = TOP + index * ROW_HEIGHT
    width = round(BAR_WIDTH * row.value / largest, 1) if largest > 0 else 0
    middle = y + BAR_HEIGHT / 2 + 4
    value = f"{number(row.value)} {unit}"
    return (
        f'<text class="label" x="{LABEL_WIDTH - 8}" y="{middle}" text-anchor="end">'
        f"{escape(row.label)}</text>"
        f'<rect class="bar" x="{LABEL_WIDTH}" y="{y}" width="{width}" height="{BAR_HEIGHT}" '
        f'fill="#2458a6"><title>{escape(row.label)}: {escape(value)}</title></rect>'
        f'<text class="value" x="{LABEL_WIDTH + width + 6}" y="{middle}">{escape(value)}</text>'
    )


def bar_chart(title: str, rows: Sequence[Row], unit: str) -> Markup:
    """One horizontal bar per row; a chart with no rows says so."""
    if rows:
        largest = max(row.value for row in rows)
        bars = "".join(_bar(row, i, largest, unit) for i, row in enumerate(rows))
        svg = _open(title, TOP * 2 + ROW_HEIGHT * len(rows)) + bars
    else:
        svg = _open(f"{title}: {NO_DATA}", TOP * 2 + ROW_HEIGHT) + (
            f'<text class="no-data" x="8" y="{TOP + 17}" fill="#5b6672">{NO_DATA}</text>'
        )
    return Markup(svg + "</svg>")  # noqa: S704 (labels and titles are escaped above)  # nosec B704
