"""Service-level objectives: parsing and evaluation (pure functions).

Forms accepted::

    ttft.p99 <= 200ms          metric.stat op value
    error_rate <= 1%
    output_throughput >= 2000 tok/s
    ttft:p95<200ms;itl:p95<10ms   the compact form, several separated by ';'

Every threshold carries its unit (:data:`UNITS`): a bare ``500`` could mean 500 ms or 500 s,
a bare ``1`` 1 % or 100 %. Only a zero, the same in every unit, may go without one.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..units import format_seconds, parse_duration, parse_ratio
from ..values import LATENCY_METRICS, STAT_NAMES, Metrics, canonical_metric
from .stats import Interval, requests_to_bound

#: met: the interval lies on the right side of the threshold; missed: on the wrong side;
#: unresolved: it straddles the threshold (the point estimate alone would be a guess)
VerdictState = Literal["met", "missed", "unresolved"]
#: counted, not estimated: judged as measured (an error is a fact of the run, not a sample)
COUNTED = ("error_rate", "num_errors", "num_requests")

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
    "'output_throughput >= 2000 tok/s'; metrics: ttft, tpot (itl), e2e, output_latency, "
    "output_throughput, input_throughput, total_throughput, request_throughput, error_rate; "
    f"stats: {', '.join(STAT_NAMES)}"
)

#: the unit each metric's threshold is written in (latencies also take us, µs, m, min, h)
UNITS = {"latency": ("ms", "s"), "error_rate": ("%",), "request_throughput": ("req/s",),
         "throughput": ("tok/s",)}
UNITS_HELP = ("accepted units: ms or s for ttft, tpot, e2e and output_latency; % for "
              "error_rate; tok/s for output_, input_ and total_throughput; req/s for "
              "request_throughput")
_NUMBER = re.compile(r"^\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(.*?)\s*$")


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
    """One SLO at one workload point: the measured value, its interval, and the judgement."""

    slo: SLO
    measured: float | None
    interval: Interval | None = None

    @property
    def ok(self) -> bool:
        """The point estimate meets the SLO (what ranks configurations)."""
        if self.measured is None or math.isnan(self.measured):
            return False
        return _OPS[self.slo.op](self.measured, self.slo.threshold)

    @property
    def state(self) -> VerdictState:
        if self.measured is None or math.isnan(self.measured):
            return "missed"
        iv = self.interval
        if iv is None or self.slo.metric in COUNTED:
            return "met" if self.ok else "missed"
        op, t = _OPS[self.slo.op], self.slo.threshold
        # "<=": met when even the high end meets it; missed when even the low end misses it
        good, bad = (iv.high, iv.low) if self.slo.op in ("<=", "<") else (iv.low, iv.high)
        if op(good, t):
            return "met"
        if not op(bad, t):
            return "missed"
        return "unresolved"

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
    def margin(self) -> float | None:
        """Headroom to the threshold as a signed fraction of it: +0.2 met with a fifth to spare,
        -0.25 missed by a quarter (None: nothing measured, or a zero threshold)."""
        m, t = self.measured, self.slo.threshold
        if m is None or math.isnan(m) or not t:
            return None
        return (t - m) / abs(t) if self.slo.op in ("<=", "<") else (m - t) / abs(t)

    @property
    def hard_failure(self) -> bool:
        """A hard SLO missed beyond doubt (and beyond its fail_ratio)."""
        return (self.slo.hard and self.state == "missed"
                and self.violation > self.slo.fail_ratio)

    @property
    def estimate_hard_miss(self) -> bool:
        """The point estimate misses a hard SLO beyond its fail_ratio (the earlier tool's
        test, which its objectives and results layout keep)."""
        return self.slo.hard and not self.ok and self.violation > self.slo.fail_ratio

    @property
    def hard_unresolved(self) -> bool:
        return self.slo.hard and self.state == "unresolved"

    def interval_text(self) -> str:
        iv = self.interval
        if iv is None:
            return ""
        lo = "−∞" if not math.isfinite(iv.low) else _fmt(self.slo, iv.low)
        hi = "∞" if not math.isfinite(iv.high) else _fmt(self.slo, iv.high)
        return f"{iv.level:.0%} CI {lo} … {hi}"

    def unresolved_hint(self) -> str:
        """What it takes to resolve a percentile verdict (``a p99 needs ≥ 368 requests``)."""
        iv, stat = self.interval, self.slo.stat or ""
        if iv is None or not stat.startswith("p") or not stat[1:].isdigit():
            return "more requests or repeats would narrow it"
        need = requests_to_bound(int(stat[1:]) / 100, iv.level)
        if iv.n >= need:
            return "more requests or repeats would narrow it"
        return f"a {stat} needs ≥ {need} requests to be bounded, {iv.n} measured"

    def describe(self) -> str:
        slo = self.slo
        state = self.state
        mark = {"met": "ok  ", "unresolved": "?   "}.get(state) or (
            "FAIL" if self.hard_failure else "soft")
        measured = _fmt(slo, self.measured)
        if self.measured is None:
            tail = "no measurement"
        elif state == "unresolved":
            tail = f"unresolved: {self.interval_text()} straddles it; {self.unresolved_hint()}"
        else:
            delta = abs(self.measured - slo.threshold)
            word = "headroom" if self.ok else "missed by"
            finite = math.isfinite(self.violation)
            rel = f" ({self.violation:+.1%})" if not self.ok and finite else ""
            tail = f"{word} {_fmt(slo, delta)}{rel}"
            if self.interval is not None and slo.metric not in COUNTED:
                tail += f"; {self.interval_text()}"
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
        interval = data.get("interval")
        return cls(slo, None if measured is None else float(measured),
                   Interval.from_dict(interval) if interval else None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "slo": self.slo.text, "metric": self.slo.name, "op": self.slo.op,
            "threshold": self.slo.threshold, "measured": self.measured, "ok": self.ok,
            "state": self.state, "hard": self.slo.hard, "hard_failure": self.hard_failure,
            "weight": self.slo.weight, "fail_ratio": self.slo.fail_ratio,
            "violation": self.violation if math.isfinite(self.violation) else None,
            "interval": self.interval.to_dict() if self.interval else None,
        }


def _fmt(slo: SLO, value: float | None) -> str:
    if value is None:
        return "-"
    if slo.is_latency:
        return format_seconds(value)
    if slo.metric == "error_rate":
        return f"{value:.2%}"
    return f"{value:,.1f} {'req/s' if slo.metric == 'request_throughput' else 'tok/s'}"


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
    elif stat is not None and stat.lower() not in ("mean", "value"):
        raise ValueError(f"{metric} has no statistic {stat!r} (SLO {text!r})")
    else:
        stat = None
    threshold = _threshold(metric, raw_value, text)
    if math.isnan(threshold) or threshold < 0:
        raise ValueError(f"SLO threshold must be a non-negative number (SLO {text!r})")
    clean = f"{metric}{'.' + stat if stat else ''} {op} {raw_value.strip()}"
    return SLO(metric, stat, op, threshold, clean, hard=hard, weight=weight, fail_ratio=fail_ratio)


def _threshold(metric: str, raw: str, text: str) -> float:
    """The threshold in the unit the metrics are kept in (seconds, a fraction, per second)."""
    m = _NUMBER.match(raw)
    if not m:
        raise ValueError(f"bad value in SLO {text!r}: expected a number and its unit "
                         f"({UNITS_HELP})")
    digits, unit = m.group(1), m.group(2)
    number = float(digits)
    if number < 0:
        raise ValueError(f"SLO threshold must be a non-negative number (SLO {text!r})")
    kind = ("latency" if metric in LATENCY_METRICS else metric if metric in UNITS
            else "throughput")
    units = UNITS[kind]
    if not unit:
        if number == 0:
            return 0.0
        spelled = " or ".join(digits + (u if u in ("ms", "s", "%") else f" {u}") for u in units)
        raise ValueError(f"SLO {text!r} has no unit: write {spelled} ({UNITS_HELP})")
    if kind == "latency":
        try:
            return parse_duration(digits + unit)
        except ValueError:
            raise ValueError(f"bad value in SLO {text!r}: {metric} takes ms or s (e.g. "
                             f"{digits}ms), not {unit!r} ({UNITS_HELP})") from None
    if unit not in units:
        raise ValueError(f"bad value in SLO {text!r}: {metric} takes {' or '.join(units)}, "
                         f"not {unit!r} ({UNITS_HELP})")
    return parse_ratio(digits + "%") if kind == "error_rate" else number


def parse_slos(spec: str | Iterable[str]) -> list[SLO]:
    """Several SLOs from a list of strings or one ``;``-separated string."""
    items: list[str] = []
    for part in [spec] if isinstance(spec, str) else spec:
        items.extend(p for p in (s.strip() for s in part.split(";")) if p)
    return [parse_slo(t) for t in items]


def evaluate(slos: Sequence[SLO], metrics: Metrics) -> list[Verdict]:
    return [Verdict(s, metrics.value(s.metric, s.stat), metrics.interval(s.metric, s.stat))
            for s in slos]


def fails(verdicts: Sequence[Verdict], *, strict: bool = False) -> bool:
    """Whether the item fails: a hard SLO missed, or (``--autotune-strict``) left unresolved."""
    return any(v.hard_failure or (strict and v.hard_unresolved) for v in verdicts)


def failure_message(point_id: str, verdicts: Sequence[Verdict]) -> str:
    """The assertion message of a failing item: every SLO with threshold, measurement, margin."""
    failed = sum(1 for v in verdicts if v.hard_failure)
    unresolved = sum(1 for v in verdicts if v.hard_unresolved)
    if failed:
        head = f"SLO missed at {point_id}: {failed} of {len(verdicts)} failed"
    else:
        head = (f"SLO unresolved at {point_id} (--autotune-strict): {unresolved} of "
                f"{len(verdicts)} could not be decided")
    lines = [head]
    lines += ["  " + v.describe() for v in verdicts]
    return "\n".join(lines)
