"""Service-level objectives: parsing and evaluation (pure functions).

Forms accepted::

    ttft.p99 <= 200ms          metric.stat op value
    error_rate <= 1%
    output_throughput >= 2000
    ttft:p95<200ms;itl:p95<10ms   the compact form, several separated by ';'

Latency values are seconds unless a unit is given; ratios accept ``%``.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .model import LATENCY_METRICS, STAT_NAMES, Metrics, canonical_metric
from .units import format_seconds, parse_duration, parse_ratio

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
    ">": operator.gt,
}
_EXPR = re.compile(
    r"^\s*(?P<metric>[A-Za-z_][A-Za-z0-9_\-]*)\s*(?:[.:]\s*(?P<stat>[A-Za-z0-9_]+))?\s*"
    r"(?P<op><=|>=|<|>)\s*(?P<value>\S.*?)\s*$"
)

SLO_HELP = (
    "write 'metric.stat op value', e.g. 'ttft.p99 <= 200ms', 'error_rate <= 1%', "
    "'output_throughput >= 2000'; metrics: ttft, tpot (itl), e2e, output_latency, "
    "output_throughput, input_throughput, total_throughput, request_throughput, error_rate; "
    f"stats: {', '.join(STAT_NAMES)}"
)


@dataclass(frozen=True, slots=True)
class SLO:
    """One objective. ``hard`` SLOs fail the item; soft ones only penalise the score."""

    metric: str
    stat: str | None
    op: str
    threshold: float
    text: str
    hard: bool = True
    weight: float = 1.0
    #: A hard SLO fails only when the violation ratio exceeds this (the earlier tool's
    #: ``fail_ratio``); 0 means any violation fails.
    fail_ratio: float = 0.0

    @property
    def name(self) -> str:
        return f"{self.metric}.{self.stat}" if self.stat else self.metric

    @property
    def is_latency(self) -> bool:
        return self.metric in LATENCY_METRICS

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric, "stat": self.stat, "op": self.op,
            "threshold": self.threshold, "text": self.text, "hard": self.hard,
            "weight": self.weight, "fail_ratio": self.fail_ratio,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SLO:
        return cls(
            metric=data["metric"], stat=data.get("stat"), op=data["op"],
            threshold=float(data["threshold"]), text=data["text"],
            hard=bool(data.get("hard", True)), weight=float(data.get("weight", 1.0)),
            fail_ratio=float(data.get("fail_ratio", 0.0)),
        )


@dataclass(frozen=True, slots=True)
class Verdict:
    slo: SLO
    measured: float | None

    @property
    def ok(self) -> bool:
        if self.measured is None or math.isnan(self.measured):
            return False
        return _OPS[self.slo.op](self.measured, self.slo.threshold)

    @property
    def violation(self) -> float:
        """Relative violation r ≥ 0 (0 when met): how far past the threshold, as a fraction."""
        if self.ok:
            return 0.0
        if self.measured is None or math.isnan(self.measured):
            return math.inf
        t = self.slo.threshold
        diff = self.measured - t if self.slo.op in ("<=", "<") else t - self.measured
        if t == 0:
            return math.inf if diff > 0 else 0.0
        return max(diff / abs(t), 0.0)

    @property
    def hard_failure(self) -> bool:
        return self.slo.hard and not self.ok and self.violation > self.slo.fail_ratio

    def describe(self) -> str:
        slo = self.slo
        mark = "ok  " if self.ok else ("FAIL" if self.hard_failure else "soft")
        measured = _fmt(slo, self.measured)
        if self.measured is None:
            tail = "no measurement"
        else:
            delta = abs(self.measured - slo.threshold)
            word = "headroom" if self.ok else "missed by"
            finite = math.isfinite(self.violation)
            rel = f" ({self.violation:+.1%})" if not self.ok and finite else ""
            tail = f"{word} {_fmt(slo, delta)}{rel}"
        return f"{mark} {slo.text:<28} measured {measured:<10} {tail}"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        """The inverse of :meth:`to_dict` (records crossing xdist, stored runs)."""
        metric, _, stat = str(data["metric"]).partition(".")
        slo = SLO(metric=metric, stat=stat or None, op=str(data["op"]),
                  threshold=float(data["threshold"]), text=str(data["slo"]),
                  hard=bool(data.get("hard", True)), weight=float(data.get("weight", 1.0)),
                  fail_ratio=float(data.get("fail_ratio") or 0.0))
        measured = data.get("measured")
        return cls(slo, None if measured is None else float(measured))

    def to_dict(self) -> dict[str, Any]:
        return {
            "slo": self.slo.text, "metric": self.slo.name, "op": self.slo.op,
            "threshold": self.slo.threshold, "measured": self.measured, "ok": self.ok,
            "hard": self.slo.hard, "hard_failure": self.hard_failure,
            "weight": self.slo.weight, "fail_ratio": self.slo.fail_ratio,
            "violation": self.violation if math.isfinite(self.violation) else None,
        }


def _fmt(slo: SLO, value: float | None) -> str:
    if value is None:
        return "-"
    if slo.is_latency:
        return format_seconds(value)
    if slo.metric == "error_rate":
        return f"{value:.2%}"
    return f"{value:,.1f}"


def parse_slo(text: str, *, hard: bool = True, weight: float = 1.0, fail_ratio: float = 0.0) -> SLO:
    """One SLO from its text; raises ValueError with what is allowed."""
    m = _EXPR.match(text)
    if not m:
        raise ValueError(f"cannot parse SLO {text!r}: {SLO_HELP}")
    raw_metric, stat, op, raw_value = m.group("metric", "stat", "op", "value")
    try:
        metric = canonical_metric(raw_metric)
    except KeyError:
        raise ValueError(f"unknown metric {raw_metric!r} in SLO {text!r}: {SLO_HELP}") from None
    if metric in LATENCY_METRICS:
        stat = (stat or "mean").lower()
        if stat not in STAT_NAMES:
            raise ValueError(f"unknown statistic {stat!r} in SLO {text!r}: {SLO_HELP}")
        try:
            threshold = parse_duration(raw_value)
        except ValueError as exc:
            raise ValueError(f"bad value in SLO {text!r}: {exc}") from None
    else:
        if stat is not None and stat.lower() not in ("mean", "value"):
            raise ValueError(f"{metric} has no statistic {stat!r} (SLO {text!r})")
        stat = None
        try:
            threshold = parse_ratio(raw_value) if metric == "error_rate" else float(raw_value)
        except ValueError as exc:
            raise ValueError(f"bad value in SLO {text!r}: {exc}") from None
    if math.isnan(threshold) or threshold < 0:
        raise ValueError(f"SLO threshold must be a non-negative number (SLO {text!r})")
    clean = f"{metric}{'.' + stat if stat else ''} {op} {raw_value.strip()}"
    return SLO(metric, stat, op, threshold, clean, hard=hard, weight=weight, fail_ratio=fail_ratio)


def parse_slos(spec: str | Iterable[str]) -> list[SLO]:
    """Several SLOs from a list of strings or one ``;``-separated string."""
    items: list[str] = []
    for part in [spec] if isinstance(spec, str) else spec:
        items.extend(p for p in (s.strip() for s in part.split(";")) if p)
    return [parse_slo(t) for t in items]


def evaluate(slos: Sequence[SLO], metrics: Metrics) -> list[Verdict]:
    return [Verdict(s, metrics.value(s.metric, s.stat)) for s in slos]


def failure_message(point_id: str, verdicts: Sequence[Verdict]) -> str:
    """The assertion message of a failing item: every SLO with threshold, measurement, margin."""
    failed = sum(1 for v in verdicts if v.hard_failure)
    lines = [f"SLO missed at {point_id}: {failed} of {len(verdicts)} failed"]
    lines += ["  " + v.describe() for v in verdicts]
    return "\n".join(lines)
