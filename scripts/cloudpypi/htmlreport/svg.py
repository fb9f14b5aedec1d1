"""Line and bar charts as inline SVG text: pure functions of their data, no I/O, no script.

Every data point is an element of its own (``circle.point`` on a line, ``rect.bar`` for a bar) with its
value in ``data-value`` and a ``<title>`` that the browser shows as a tooltip, so the chart can be read
without a script, and tested by counting elements.  Colours come from the page's stylesheet (classes), so
one palette serves every chart.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

WIDTH = 720
HEIGHT = 220
_LEFT, _RIGHT, _TOP, _BOTTOM = 72, 16, 12, 30
_MAX_X_LABELS = 8


@dataclass(frozen=True)
class Point:
    x: float  # seconds since the epoch
    y: float
    label: str  # shown as the point's tooltip


@dataclass(frozen=True)
class Bar:
    label: str  # the axis label under (or beside) the bar
    value: float
    tooltip: str
    kind: str = ""  # extra class: "failed", "stopped", "budget" ... (styled by the page)


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def nice_step(raw: float, steps: tuple[float, ...] = (1, 2, 2.5, 5)) -> float:
    """The smallest of ``steps`` times a power of ten that is >= raw (1 for nothing or less)."""
    if not math.isfinite(raw) or raw <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(raw))
    return next((m * power for m in (*steps, 10) if raw <= m * power * (1 + 1e-9)), 10 * power)


def _decimals(step: float) -> int:
    """Decimals that show every multiple of ``step`` exactly (2.5 -> 1, 0.05 -> 2)."""
    return next((d for d in range(7) if abs(round(step, d) - step) <= 1e-9 * step), 6)


@dataclass(frozen=True)
class Scale:
    """How a value axis is divided and labelled: four equal steps of 1, 2, 2.5 or 5 (times a power of ten)
    in the largest unit that the top value reaches, so bytes read 0, 1 MiB, 2 MiB ... and never 976.6 KiB."""

    units: tuple[tuple[float, str], ...]  # (size, suffix), smallest first
    integer: bool = False  # whole numbers only (counts, bytes)
    prefix: str = ""
    space: bool = True  # between the number and its unit: "512 KiB", but "2k"

    def axis(self, top: float) -> tuple[float, Callable[[float], str]]:
        top = max(0.0, top) if math.isfinite(top) else 0.0
        size, suffix = next(((s, x) for s, x in reversed(self.units) if top >= s), self.units[0])
        step = nice_step(top / size / 4)
        if self.integer and step * size < 10:  # no quarter steps of small whole numbers (2.5 files)
            step = max(nice_step(top / size / 4, (1, 2, 5)), 1 / size)
        decimals = _decimals(step)
        sep = " " if suffix and self.space else ""

        def label(value: float) -> str:
            if value == 0:
                return f"{self.prefix}0"
            return f"{self.prefix}{value / size:,.{decimals}f}{sep}{suffix}"

        return step * size * 4, label


COUNT = Scale(((1, ""), (1e3, "k"), (1e6, "M"), (1e9, "G")), integer=True, space=False)
BYTES = Scale(((1, "B"), (2**10, "KiB"), (2**20, "MiB"), (2**30, "GiB"), (2**40, "TiB"), (2**50, "PiB")),
              integer=True)
SECONDS = Scale(((1, "s"), (60, "min"), (3600, "h"), (86400, "d")))
USD = Scale(((1, ""),), prefix="$")


def _frame(width: int, height: int, label: str, body: list[str]) -> str:
    return (f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" role="img" aria-label="{escape(label)}">'
            f"<title>{escape(label)}</title>" + "".join(body) + "</svg>")


def _y_axis(top: float, plot_h: float, width: int, y_max: float, fmt: Callable[[float], str]) -> list[str]:
    """Five gridlines with their labels, 0 at the bottom."""
    parts = []
    for i in range(5):
        value = y_max * i / 4
        y = top + plot_h - plot_h * i / 4
        parts.append(f'<line class="grid" x1="{_LEFT}" x2="{width - _RIGHT}" y1="{_num(y)}" y2="{_num(y)}"/>')
        parts.append(f'<text class="tick" x="{_LEFT - 6}" y="{_num(y + 4)}" text-anchor="end">'
                     f"{escape(fmt(value))}</text>")
    return parts


def empty_chart(label: str, message: str, width: int = WIDTH, height: int = 80) -> str:
    """A frame that says why there is nothing to draw."""
    body = [f'<text class="empty" x="{width / 2:.0f}" y="{height / 2 + 4:.0f}" text-anchor="middle">'
            f"{escape(message)}</text>"]
    return _frame(width, height, label, body)


def time_format(span_s: float) -> Callable[[float], str]:
    """Labels for times on an axis: to the second under an hour, to the minute under two days, else the date."""
    pattern = "%H:%M:%S" if span_s < 3600 else "%m-%d %H:%M" if span_s < 2 * 86400 else "%Y-%m-%d"
    return lambda x: datetime.fromtimestamp(x, UTC).strftime(pattern)


def line_chart(points: Sequence[Point], *, label: str, scale: Scale,
               width: int = WIDTH, height: int = HEIGHT, empty: str = "No data yet") -> str:
    """Points over time, joined by a line, each a circle with its tooltip."""
    if not points:
        return empty_chart(label, empty, width)
    points = sorted(points, key=lambda p: p.x)
    plot_w, plot_h = width - _LEFT - _RIGHT, height - _TOP - _BOTTOM
    x0, x1 = points[0].x, points[-1].x
    y_max, y_format = scale.axis(max(p.y for p in points))

    def sx(x: float) -> float:
        return _LEFT + plot_w / 2 if x1 == x0 else _LEFT + plot_w * (x - x0) / (x1 - x0)

    def sy(y: float) -> float:
        return _TOP + plot_h - plot_h * max(0.0, y) / y_max

    body = _y_axis(_TOP, plot_h, width, y_max, y_format)
    x_fmt = time_format(x1 - x0)
    ticks = [x0] if x1 == x0 else [x0 + (x1 - x0) * i / 4 for i in range(5)]
    for i, x in enumerate(ticks):
        anchor = "middle" if len(ticks) == 1 else ("start" if i == 0 else "end" if i == len(ticks) - 1 else "middle")
        body.append(f'<text class="tick" x="{_num(sx(x))}" y="{height - 10}" text-anchor="{anchor}">'
                    f"{escape(x_fmt(x))}</text>")
    path = " ".join(f"{'M' if i == 0 else 'L'}{_num(sx(p.x))},{_num(sy(p.y))}" for i, p in enumerate(points))
    body.append(f'<path class="line" d="{path}"/>')
    for p in points:
        when = datetime.fromtimestamp(p.x, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body.append(f'<circle class="point" cx="{_num(sx(p.x))}" cy="{_num(sy(p.y))}" r="3" '
                    f'data-x="{when}" data-value="{_num(p.y)}"><title>{escape(p.label)}</title></circle>')
    return _frame(width, height, label, body)


def bar_chart(bars: Sequence[Bar], *, label: str, scale: Scale,
              width: int = WIDTH, height: int = HEIGHT, empty: str = "No data yet") -> str:
    """Vertical bars in the given order (oldest first), with at most eight axis labels."""
    if not bars:
        return empty_chart(label, empty, width)
    plot_w, plot_h = width - _LEFT - _RIGHT, height - _TOP - _BOTTOM
    y_max, y_format = scale.axis(max(b.value for b in bars))
    slot = plot_w / len(bars)
    bar_w = max(1.0, slot * 0.8)
    body = _y_axis(_TOP, plot_h, width, y_max, y_format)
    every = math.ceil(len(bars) / _MAX_X_LABELS)
    for i, b in enumerate(bars):
        h = plot_h * max(0.0, b.value) / y_max
        x = _LEFT + slot * i + (slot - bar_w) / 2
        kind = f" {escape(b.kind)}" if b.kind else ""
        body.append(f'<rect class="bar{kind}" x="{_num(x)}" y="{_num(_TOP + plot_h - h)}" width="{_num(bar_w)}" '
                    f'height="{_num(h)}" data-value="{_num(b.value)}"><title>{escape(b.tooltip)}</title></rect>')
        if i % every == 0:
            body.append(f'<text class="tick" x="{_num(x + bar_w / 2)}" y="{height - 10}" text-anchor="middle">'
                        f"{escape(b.label)}</text>")
    return _frame(width, height, label, body)


def hbar_chart(bars: Sequence[Bar], *, label: str, x_format: Callable[[float], str],
               marker: tuple[float, str] | None = None, width: int = WIDTH, row: int = 24,
               label_width: int = 200, empty: str = "No data yet") -> str:
    """Horizontal bars, one row each, labelled on the left and valued on the right.  ``marker`` draws a
    vertical line at a value (a budget, say) with its caption."""
    if not bars:
        return empty_chart(label, empty, width)
    top = 8 + (16 if marker else 0)
    height = top + row * len(bars) + 8
    plot_w = width - label_width - 100
    x_max = max([b.value for b in bars] + ([marker[0]] if marker else [])) * 1.05 or 1.0

    def sx(value: float) -> float:
        return label_width + plot_w * max(0.0, value) / x_max

    body = []
    for i, b in enumerate(bars):
        y = top + row * i
        kind = f" {escape(b.kind)}" if b.kind else ""
        body.append(f'<text class="label" x="{label_width - 8}" y="{_num(y + row / 2 + 4)}" text-anchor="end">'
                    f"{escape(b.label)}</text>")
        body.append(f'<rect class="bar{kind}" x="{label_width}" y="{_num(y + 3)}" '
                    f'width="{_num(max(1.0, sx(b.value) - label_width))}" height="{row - 6}" '
                    f'data-value="{_num(b.value)}"><title>{escape(b.tooltip)}</title></rect>')
        body.append(f'<text class="value" x="{_num(sx(b.value) + 6)}" y="{_num(y + row / 2 + 4)}">'
                    f"{escape(x_format(b.value))}</text>")
    if marker:
        x = sx(marker[0])
        body.append(f'<line class="marker" x1="{_num(x)}" x2="{_num(x)}" y1="14" y2="{height - 4}" '
                    f'data-value="{_num(marker[0])}"/>')
        body.append(f'<text class="marker-label" x="{_num(x)}" y="11" text-anchor="middle">'
                    f"{escape(marker[1])}</text>")
    return _frame(width, height, label, body)
