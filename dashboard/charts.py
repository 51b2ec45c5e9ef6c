"""Server-side SVG bar charts (no script, no CDN).

``bar_chart`` returns plain numbers for the template ``dashboard/_bar_chart.html``,
which draws an accessible ``<svg role="img">`` with a ``<title>`` and a data
table fallback.
"""

from __future__ import annotations

from dataclasses import dataclass

from portal.money import format_yuan

WIDTH = 640
HEIGHT = 240
LEFT = 70
BOTTOM = 28
TOP = 12


@dataclass(frozen=True)
class Bar:
    label: str
    fen: int
    x: float
    y: float
    width: float
    height: float

    @property
    def cx(self) -> float:
        return round(self.x + self.width / 2, 1)

    @property
    def yuan(self) -> str:
        return format_yuan(self.fen)


def _nice_max(value: int) -> int:
    """A round axis maximum (1, 2 or 5 x 10^n yuan) at or above ``value`` fen."""
    if value <= 0:
        return 100
    magnitude = 1
    while magnitude * 10 <= value:
        magnitude *= 10
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def bar_chart(chart_id: str, title: str, items: list[tuple[str, int]]) -> dict:
    top = _nice_max(max((fen for _l, fen in items), default=0))
    plot_h = HEIGHT - BOTTOM - TOP
    plot_w = WIDTH - LEFT - 10
    slot = plot_w / max(len(items), 1)
    bars = []
    for i, (label, fen) in enumerate(items):
        h = plot_h * max(fen, 0) / top
        bars.append(
            Bar(
                label=str(label),
                fen=fen,
                x=round(LEFT + i * slot + slot * 0.15, 1),
                y=round(TOP + plot_h - h, 1),
                width=round(slot * 0.7, 1),
                height=round(h, 1),
            )
        )
    ticks = [
        {"y": round(TOP + plot_h - plot_h * k / 4, 1), "label": format_yuan(top * k // 4)}
        for k in range(5)
    ]
    return {
        "id": chart_id,
        "title": title,
        "bars": bars,
        "ticks": ticks,
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "tick_x": LEFT - 6,
        "axis_y": TOP + plot_h,
        "label_y": HEIGHT - 8,
        "total_fen": sum(fen for _l, fen in items),
        "empty": not any(fen for _l, fen in items),
    }
