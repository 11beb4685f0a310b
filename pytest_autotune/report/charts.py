"""The charts of the HTML report, as data (:mod:`.svg` draws them): per case, the Pareto chart
of output throughput against the latency its SLOs bound, and latency against load per scenario.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..decide.slo import SLO
from ..results.records import CaseReport, PointResult, Trial
from ..units import format_seconds
from ..values import LATENCY_METRICS, canonical_metric
from . import svg
from .build import case_slos


@dataclass(frozen=True)
class LatencyAxis:
    """The latency a case's charts plot: the first latency an SLO bounds, else p99 TTFT."""

    metric: str
    stat: str
    slos: tuple[SLO, ...]

    @property
    def label(self) -> str:
        return f"{self.metric} {self.stat}"

    def value(self, point: PointResult) -> float | None:
        return point.metrics.value(self.metric, self.stat) if point.metrics else None


def latency_axes(case: CaseReport) -> list[LatencyAxis]:
    """Every latency statistic the case's SLOs bound, in SLO order (p99 TTFT when none)."""
    found: dict[tuple[str, str], list[SLO]] = {}
    for slo in case_slos(case.trials):
        metric = canonical_metric(slo.metric)
        if metric in LATENCY_METRICS:
            found.setdefault((metric, slo.stat or "mean"), []).append(slo)
    if not found:
        return [LatencyAxis("ttft", "p99", ())]
    return [LatencyAxis(m, s, tuple(slos)) for (m, s), slos in found.items()]



def tick_seconds(value: float) -> str:
    """A latency axis tick: ``0``, ``500µs``, ``250ms``, ``2s`` (no trailing zeros)."""
    if value == 0:
        return "0"
    if value < 1e-3:
        return f"{value * 1e6:.3g}µs"
    if value < 1.0:
        return f"{value * 1e3:.3g}ms"
    return f"{value:.3g}s"



def _classes(case: CaseReport, trial: Trial, point: PointResult) -> tuple[str, ...]:
    out = []
    if case.best is not None and trial.config_key == case.best.config_key:
        out.append("best")
    elif trial.config_key in {t.config_key for t in case.tied}:
        out.append("tied")
    if not point.slo_ok:
        out.append("miss")
    return tuple(out)


def _point_title(number: int, trial: Trial, point: PointResult, axis: LatencyAxis) -> str:
    m = point.metrics
    assert m is not None
    latency = axis.value(point)
    verdict = "every SLO met" if point.slo_ok else "missed: " + ", ".join(point.missed)
    return (f"#{number} {trial.config_id} @ {point.id}\n{m.output_throughput:,.0f} output tok/s"
            f", {axis.label} {format_seconds(latency)}\n{verdict}")


def _bounded(iv: object) -> tuple[float, float] | None:
    low, high = getattr(iv, "low", None), getattr(iv, "high", None)
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return None
    return (low, high)


def _measured(case: CaseReport) -> list[tuple[int, Trial, PointResult]]:
    return [(n, t, p) for n, t in enumerate(case.trials, 1) for p in t.points
            if p.metrics is not None]


def pareto_chart(case: CaseReport, axis: LatencyAxis, *,
                 baseline: CaseReport | None = None) -> svg.Chart:
    """Output throughput against ``axis`` latency: one mark per configuration × point (and,
    in a comparison, the baseline's as hollow marks), the front, and the SLO thresholds."""
    marks, xy = [], []
    for number, trial, point in _measured(case):
        latency = axis.value(point)
        if latency is None:
            continue
        m = point.metrics
        assert m is not None
        marks.append(svg.Mark(
            latency, m.output_throughput, number - 1, _point_title(number, trial, point, axis),
            _classes(case, trial, point),
            xerr=_bounded(m.interval(axis.metric, axis.stat)),
            yerr=_bounded(m.interval("output_throughput"))))
        xy.append((latency, m.output_throughput))
    for number, trial, point in _measured(baseline) if baseline else []:
        latency = axis.value(point)
        if latency is not None and point.metrics is not None:
            marks.append(svg.Mark(latency, point.metrics.output_throughput, number - 1,
                                  "baseline: " + _point_title(number, trial, point, axis),
                                  ("baseline",)))
    rules = [svg.Rule("x", s.threshold, s.text) for s in axis.slos]
    xs = [m.x for m in marks] + [r.value for r in rules]
    ys = [m.y for m in marks]
    return svg.Chart(
        title=f"{case.name}: output throughput vs {axis.label}",
        x=svg.axis_for(xs, f"{axis.label} (log scale)", log=True, fmt=tick_seconds),
        y=svg.axis_for(ys, "output throughput (tok/s)", zero=True),
        marks=marks, rules=rules, front=svg.pareto_front(xy), legend=_legend(case),
        kind="chart pareto")


def load_charts(case: CaseReport, axis: LatencyAxis) -> list[svg.Chart]:
    """Per scenario, ``axis`` latency against concurrency: one line per configuration."""
    scenarios: list[str] = []
    for _, _, point in _measured(case):
        if point.point.scenario not in scenarios:
            scenarios.append(point.point.scenario)
    charts = []
    for scenario in scenarios:
        lines, marks, xs, ys = [], [], [], []
        for number, trial in enumerate(case.trials, 1):
            pts: list[tuple[float, float, PointResult]] = sorted(
                ((float(p.point.concurrency), v, p) for p in trial.points
                 if p.point.scenario == scenario and (v := axis.value(p)) is not None),
                key=lambda e: e[0])
            if not pts:
                continue
            lines.append(svg.Line(tuple((c, v) for c, v, _ in pts), number - 1,
                                  f"#{number} {trial.config_id}"))
            for c, v, p in pts:
                marks.append(svg.Mark(c, v, number - 1, _point_title(number, trial, p, axis),
                                      _classes(case, trial, p)))
                xs.append(c)
                ys.append(v)
        rules = [_load_rule(s, max(ys, default=0.0)) for s in axis.slos]
        charts.append(svg.Chart(
            title=f"{case.name}: {axis.label} vs concurrency, {scenario}",
            x=svg.axis_for(xs, "concurrency (log scale)", log=True, base=2,
                           fmt=lambda v: f"{v:g}"),
            y=svg.axis_for(ys + [r.value for r in rules if not r.off_scale],
                           f"{axis.label}", zero=True,
                           fmt=tick_seconds),
            lines=lines, marks=marks, rules=rules, legend=_legend(case), kind="chart load"))
    return charts


#: a threshold more than this many times the highest latency drawn stays off the load chart's
#: scale (drawn at its top edge), so that the curves keep their shape
OFF_SCALE = 3.0


def _load_rule(slo: SLO, highest: float) -> svg.Rule:
    off = highest > 0 and slo.threshold > OFF_SCALE * highest
    return svg.Rule("y", slo.threshold, slo.text + (" (above the chart)" if off else ""),
                    off_scale=off)


def _legend(case: CaseReport) -> list[tuple[int, str]]:
    return [(n - 1, f"#{n} {t.config_id}") for n, t in enumerate(case.trials, 1)
            if t.status == "ok"]


__all__ = ["OFF_SCALE", "LatencyAxis", "latency_axes", "load_charts", "pareto_chart",
           "tick_seconds"]
