"""Hand-made SVG charts for the HTML report: a scatter with interval bars, lines, a Pareto
front and threshold rules on linear or log axes.

No chart library: the report must open offline, stay small (a few kB per chart) and render the
same in a browser, a mail client or a CI artifact viewer. Every drawn datum is an element with
class ``mark`` (points) or ``series`` (lines), so a test can count what was drawn.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

#: Tableau 10: distinct on screen and in grey-scale print
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#bab0ac")


def color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


@dataclass(frozen=True)
class Axis:
    label: str
    low: float
    high: float
    log: bool = False
    #: ticks of a log axis: powers of 2 (concurrencies) or 1-2-5 per decade (latencies)
    base: int = 10
    #: formats a tick value (seconds as "120 ms", concurrency as "16")
    fmt: Callable[[float], str] = lambda v: f"{v:,.4g}"

    def norm(self, value: float) -> float:
        """``value``'s position along the axis, 0 … 1."""
        if self.log:
            lo, hi, v = math.log(self.low), math.log(self.high), math.log(max(value, self.low))
        else:
            lo, hi, v = self.low, self.high, value
        return 0.5 if hi == lo else (v - lo) / (hi - lo)

    def ticks(self) -> list[float]:
        if self.log:
            return _log_ticks(self.low, self.high, self.base)
        return _nice_ticks(self.low, self.high)


def axis_for(values: Sequence[float], label: str, *, log: bool = False, zero: bool = False,
             base: int = 10, fmt: Callable[[float], str] | None = None) -> Axis:
    """An axis spanning ``values`` with a margin (from 0 when ``zero``)."""
    extra: dict[str, Any] = {"base": base}
    if fmt is not None:
        extra["fmt"] = fmt
    finite = [v for v in values if math.isfinite(v) and (v > 0 or not log)]
    if not finite:
        return Axis(label, 1.0 if log else 0.0, 10.0 if log else 1.0, log, **extra)
    lo, hi = min(finite), max(finite)
    if log:
        return Axis(label, lo / 1.4, hi * 1.4, True, **extra)
    pad = (hi - lo) * 0.08 or abs(hi) * 0.1 or 1.0
    low = 0.0 if zero and lo >= 0 else lo - pad
    return Axis(label, low, hi + pad, False, **extra)


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    span = high - low
    if span <= 0:
        return [low]
    raw = span / count
    step = 10 ** math.floor(math.log10(raw))
    for mult in (1, 2, 2.5, 5, 10):
        if raw <= step * mult:
            step *= mult
            break
    first = math.ceil(low / step) * step
    return [round(first + k * step, 10) for k in range(int((high - first) / step) + 1)]


def _log_ticks(low: float, high: float, base: int) -> list[float]:
    """Powers of two, or 1, 2 and 5 per decade; thinned to at most eight."""
    if base == 2:
        candidates = [2.0**k for k in range(math.floor(math.log2(low)),
                                            math.ceil(math.log2(high)) + 1)]
    else:
        decades = range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
        candidates = [m * 10.0**d for d in decades for m in (1, 2, 5)]
    ticks = [t for t in candidates if low <= t <= high]
    while len(ticks) > 8:
        ticks = ticks[::2]
    return ticks


@dataclass(frozen=True)
class Mark:
    """One point. ``xerr``/``yerr`` are (low, high) of its interval when known."""

    x: float
    y: float
    series: int
    title: str
    classes: tuple[str, ...] = ()
    xerr: tuple[float, float] | None = None
    yerr: tuple[float, float] | None = None


@dataclass(frozen=True)
class Line:
    """A polyline through ``points`` (in x order), one per configuration."""

    points: tuple[tuple[float, float], ...]
    series: int
    title: str


@dataclass(frozen=True)
class Rule:
    """A threshold across the plot: ``axis`` is the axis the value is on."""

    axis: str  # "x" or "y"
    value: float
    label: str
    #: beyond the axis range on purpose: drawn at the plot's edge
    off_scale: bool = False


@dataclass
class Chart:
    title: str
    x: Axis
    y: Axis
    marks: list[Mark] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    #: points of the Pareto front, drawn as a staircase (x ascending)
    front: list[tuple[float, float]] = field(default_factory=list)
    legend: list[tuple[int, str]] = field(default_factory=list)
    width: int = 640
    height: int = 380
    kind: str = "chart"


_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 16, 28, 46
_LEGEND_ROW, _LEGEND_COLUMNS = 16, 2


def render(chart: Chart) -> str:
    """The chart as an inline ``<svg>`` element; the legend goes below the plot."""
    fx, fy = chart.x.fmt, chart.y.fmt
    w, plot_h = chart.width, chart.height
    rows = -(-len(chart.legend) // _LEGEND_COLUMNS)
    h = plot_h + rows * _LEGEND_ROW + (6 if rows else 0)
    pw, ph = w - _LEFT - _RIGHT, plot_h - _TOP - _BOTTOM

    def px(v: float) -> float:
        return _LEFT + min(max(chart.x.norm(v), -0.02), 1.02) * pw

    def py(v: float) -> float:
        return _TOP + ph - min(max(chart.y.norm(v), -0.02), 1.02) * ph

    out = [f'<svg class="{chart.kind}" viewBox="0 0 {w} {h}" width="{w}" height="{h}" '
           f'role="img" aria-label="{escape(chart.title)}">',
           f'<text class="title" x="{_LEFT}" y="16">{escape(chart.title)}</text>',
           f'<rect class="plot" x="{_LEFT}" y="{_TOP}" width="{pw}" height="{ph}"/>']
    for t in chart.x.ticks():
        x = px(t)
        out.append(f'<line class="grid" x1="{x:.1f}" y1="{_TOP}" x2="{x:.1f}" y2="{_TOP + ph}"/>'
                   f'<text class="tick" x="{x:.1f}" y="{_TOP + ph + 16}" '
                   f'text-anchor="middle">{escape(fx(t))}</text>')
    for t in chart.y.ticks():
        y = py(t)
        out.append(f'<line class="grid" x1="{_LEFT}" y1="{y:.1f}" x2="{_LEFT + pw}" y2="{y:.1f}"/>'
                   f'<text class="tick" x="{_LEFT - 6}" y="{y + 4:.1f}" '
                   f'text-anchor="end">{escape(fy(t))}</text>')
    out.append(f'<text class="label" x="{_LEFT + pw / 2:.1f}" y="{plot_h - 8}" '
               f'text-anchor="middle">{escape(chart.x.label)}</text>'
               f'<text class="label" transform="translate(14 {_TOP + ph / 2:.1f}) rotate(-90)" '
               f'text-anchor="middle">{escape(chart.y.label)}</text>')
    for rule in chart.rules:
        if rule.axis == "x":
            x = px(rule.value)
            left = chart.x.norm(rule.value) > 0.6  # label on the side with room
            out.append(f'<line class="rule" x1="{x:.1f}" y1="{_TOP}" x2="{x:.1f}" '
                       f'y2="{_TOP + ph}"><title>{escape(rule.label)}</title></line>'
                       f'<text class="rule-label" x="{x - 4 if left else x + 4:.1f}" '
                       f'y="{_TOP + 12}" text-anchor="{"end" if left else "start"}">'
                       f'{escape(rule.label)}</text>')
        else:
            y = py(rule.value)
            out.append(f'<line class="rule" x1="{_LEFT}" y1="{y:.1f}" x2="{_LEFT + pw}" '
                       f'y2="{y:.1f}"><title>{escape(rule.label)}</title></line>'
                       f'<text class="rule-label" x="{_LEFT + pw - 4}" y="{y - 4:.1f}" '
                       f'text-anchor="end">{escape(rule.label)}</text>')
    if len(chart.front) > 1:
        steps = [chart.front[0]]
        for x, y in chart.front[1:]:
            steps += [(x, steps[-1][1]), (x, y)]
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in steps)
        out.append(f'<polyline class="front" points="{path}"><title>Pareto front: no other '
                   'point has both more throughput and less latency</title></polyline>')
    for line in chart.lines:
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in line.points)
        out.append(f'<polyline class="series" stroke="{color(line.series)}" points="{path}">'
                   f'<title>{escape(line.title)}</title></polyline>')
    # the winner's marks last, so that no other configuration's mark hides them
    for mark in sorted(chart.marks, key=lambda m: "best" in m.classes):
        out.append(_mark(mark, px, py))
    if chart.legend:
        out.append(_legend(chart, plot_h))
    out.append("</svg>")
    return "\n".join(out)


def _mark(mark: Mark, px: Callable[[float], float], py: Callable[[float], float]) -> str:
    x, y = px(mark.x), py(mark.y)
    parts = []
    if mark.xerr is not None:
        lo, hi = (px(v) for v in mark.xerr)
        parts.append(f'<line class="err" x1="{lo:.1f}" y1="{y:.1f}" x2="{hi:.1f}" y2="{y:.1f}"/>')
    if mark.yerr is not None:
        lo, hi = (py(v) for v in mark.yerr)
        parts.append(f'<line class="err" x1="{x:.1f}" y1="{lo:.1f}" x2="{x:.1f}" y2="{hi:.1f}"/>')
    classes = " ".join(("mark", *mark.classes))
    radius = 7 if "best" in mark.classes else 5
    parts.append(f'<circle class="{classes}" cx="{x:.1f}" cy="{y:.1f}" r="{radius}" '
                 f'fill="{color(mark.series)}"><title>{escape(mark.title)}</title></circle>')
    return "<g>" + "".join(parts) + "</g>"


def _legend(chart: Chart, top: int) -> str:
    column = (chart.width - _LEFT) // _LEGEND_COLUMNS
    items = []
    for k, (series, name) in enumerate(chart.legend):
        x = _LEFT + (k % _LEGEND_COLUMNS) * column
        y = top + 6 + (k // _LEGEND_COLUMNS) * _LEGEND_ROW
        label = name if len(name) <= 46 else name[:45] + "…"
        items.append(f'<rect x="{x}" y="{y}" width="10" height="10" fill="{color(series)}"/>'
                     f'<text class="legend" x="{x + 14}" y="{y + 9}">{escape(label)}'
                     f'<title>{escape(name)}</title></text>')
    return '<g class="legend-box">' + "".join(items) + "</g>"


def pareto_front(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points no other point beats on both axes (lower x, higher y), x ascending."""
    front: list[tuple[float, float]] = []
    best_y = -math.inf
    for x, y in sorted(points, key=lambda p: (p[0], -p[1])):
        if y > best_y:
            front.append((x, y))
            best_y = y
    return front


__all__ = [
    "PALETTE",
    "Axis",
    "Chart",
    "Line",
    "Mark",
    "Rule",
    "axis_for",
    "color",
    "pareto_front",
    "render",
]
