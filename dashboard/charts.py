"""Server-side SVG bar charts (no script, no CDN).

``bar_chart`` returns plain numbers for the template ``dashboard/_bar_chart.html``:
one horizontal bar per item, its label above it and its value in yuan at its
end, so every figure is readable as text at phone width (the drawing is
``WIDTH`` units wide and shown at most ``MAX_DISPLAY_PX`` pixels wide, so its
text is never smaller than about 13 px on a 390 px screen). An accessible
``<svg role="img">`` has a ``<title>`` and a data-table fallback; a chart with
nothing in it is a sentence, not an empty axis.
"""

from __future__ import annotations

from dataclasses import dataclass

from portal.money import format_money

WIDTH = 360
ROW = 46  # units per item: label line, bar, gap
LABEL_SIZE = 15
VALUE_SIZE = 14
BAR_HEIGHT = 16
VALUE_ROOM = 110  # units kept right of the longest bar for its value


@dataclass(frozen=True)
class Bar:
    label: str
    fen: int
    label_y: int
    bar_y: int
    width: float
    value_x: float
    value_y: int

    @property
    def yuan(self) -> str:
        return format_money(self.fen)


def bar_chart(chart_id: str, title: str, items: list[tuple[str, int]], *, empty_text: str) -> dict:
    top = max((fen for _label, fen in items), default=0)
    span = WIDTH - VALUE_ROOM
    bars = []
    for i, (label, fen) in enumerate(items):
        y = i * ROW
        width = round(span * max(fen, 0) / top, 1) if top > 0 else 0
        bars.append(
            Bar(
                label=str(label),
                fen=fen,
                label_y=y + LABEL_SIZE,
                bar_y=y + LABEL_SIZE + 6,
                width=max(width, 2.0) if fen > 0 else 0,
                value_x=round((max(width, 2.0) if fen > 0 else 0) + 6, 1),
                value_y=y + LABEL_SIZE + 6 + BAR_HEIGHT - 3,
            )
        )
    return {
        "id": chart_id,
        "title": title,
        "bars": bars,
        "width": WIDTH,
        "height": max(len(items), 1) * ROW,
        "bar_height": BAR_HEIGHT,
        "total_fen": sum(fen for _label, fen in items),
        "empty": not any(fen for _label, fen in items),
        "empty_text": empty_text,
    }
