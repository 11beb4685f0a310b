"""The baseline gate: this run against a stored one, point by point and case by case.

A change is a **regression** only when it is both statistically significant — the 95 % interval
of the relative change lies entirely on the worse side of zero — and larger than the threshold
(5 % by default). The direction is the metric's: throughput down is worse, a latency the SLOs
bound going up is worse. Improvements are reported, never failures. Intervals come from both
runs' per-request data and their noise floor (bench/intervals.py), so two identical runs differ
"within the noise" rather than by a regression.

Used inside a pytest run (``--autotune-baseline``: each item fails on its own regressions, the
run on a case's best score or on missing cases, configurations and points) and by
``pytest-autotune compare``, with the same statistics and completeness rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..values import Metrics, stat_key
from .change import DEFAULT_THRESHOLD, Change, ChangeVerdict
from .slo import COUNTED, SLO
from .stats import Interval, difference_interval

if TYPE_CHECKING:
    from ..results.records import CaseReport, PointResult, RunReport

def judge(metric: str, higher_is_better: bool, old: float, old_iv: Interval | None, new: float,
          new_iv: Interval | None, threshold: float) -> Change:
    """The verdict on one metric's change."""
    if not old:
        return Change(metric, higher_is_better, old, new, None, "unresolved", threshold)
    interval: Interval | None = None
    if old_iv is not None and new_iv is not None:
        diff = difference_interval(old, old_iv, new, new_iv)
        if diff.bounded:
            interval = diff.scaled(1 / abs(old))
    if interval is None:
        return Change(metric, higher_is_better, old, new, None, "unresolved", threshold)
    sign = 1.0 if higher_is_better else -1.0
    worse = -sign * (new - old) / abs(old)
    significantly_worse = interval.high < 0 if higher_is_better else interval.low > 0
    significantly_better = interval.low > 0 if higher_is_better else interval.high < 0
    if significantly_worse:
        verdict: ChangeVerdict = "regression" if worse > threshold else "worse within threshold"
    elif significantly_better:
        verdict = "improvement"
    else:
        verdict = "within noise"
    return Change(metric, higher_is_better, old, new, interval, verdict, threshold)


def gated_metrics(slos: Sequence[SLO]) -> list[tuple[str, str | None, bool]]:
    """What a point is compared on: output throughput, and every statistic an SLO bounds."""
    out: list[tuple[str, str | None, bool]] = [("output_throughput", None, True)]
    for slo in slos:
        if slo.metric in COUNTED:
            continue
        entry = (slo.metric, slo.stat, slo.op in (">=", ">"))
        if entry[:2] not in [e[:2] for e in out]:
            out.append(entry)
    return out


def compare_metrics(old: Metrics, new: Metrics, slos: Sequence[SLO],
                    threshold: float = DEFAULT_THRESHOLD) -> list[Change]:
    changes = []
    for metric, stat, higher in gated_metrics(slos):
        a, b = old.value(metric, stat), new.value(metric, stat)
        if a is None or b is None:
            continue
        changes.append(judge(stat_key(metric, stat), higher, a, old.interval(metric, stat), b,
                             new.interval(metric, stat), threshold))
    return changes


def _slos_of(point: PointResult) -> list[SLO]:
    return [v.slo for v in point.verdicts]


@dataclass
class Baseline:
    """A stored run indexed by case, configuration and point."""

    report: RunReport
    name: str
    threshold: float = DEFAULT_THRESHOLD
    _points: dict[tuple[str, str, str], PointResult] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._points.update(_measured(self.report))

    def point(self, case: str, config_id: str, point_id: str) -> PointResult | None:
        return self._points.get((case, config_id, point_id))

    def compare(self, case: str, config_id: str, point_id: str, metrics: Metrics,
                slos: Sequence[SLO]) -> list[Change] | None:
        """This point's changes; None when the baseline did not measure it."""
        old = self.point(case, config_id, point_id)
        if old is None or old.metrics is None:
            return None
        return compare_metrics(old.metrics, metrics, slos, self.threshold)

    def keys(self) -> set[tuple[str, str, str]]:
        return set(self._points)


@dataclass
class GateResult:
    """Everything a gate found; ``failed`` says whether it fails (``allow_missing`` spares
    the missing parts)."""

    baseline: str
    point_changes: dict[tuple[str, str, str], list[Change]] = field(default_factory=dict)
    case_changes: dict[str, Change] = field(default_factory=dict)
    lost_best: list[str] = field(default_factory=list)
    missing_here: list[str] = field(default_factory=list)
    missing_in_baseline: list[str] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)
    allow_missing: bool = False

    @property
    def point_regressions(self) -> list[str]:
        out = []
        for (case, config, point), changes in self.point_changes.items():
            out += [f"{case} {config} @ {point}: {c.text()}" for c in changes
                    if c.verdict == "regression"]
        return out

    @property
    def improvements(self) -> list[str]:
        """Each case's best score and each point that is significantly better, in words."""
        out = [f"{case}: {c.text()}" for case, c in self.case_changes.items()
               if c.verdict == "improvement"]
        for (case, config, point), changes in self.point_changes.items():
            out += [f"{case} {config} @ {point}: {c.text()}" for c in changes
                    if c.verdict == "improvement"]
        return out

    def run_findings(self) -> list[str]:
        """What fails the run as a whole: a case's best score, a case that lost every score,
        an incomplete run, and (unless allowed) what either side lacks."""
        out = [f"regression vs {self.baseline}: {case}: {c.text()}"
               for case, c in self.case_changes.items() if c.verdict == "regression"]
        out += [f"regression vs {self.baseline}: {case}: no configuration has a score any more"
                for case in self.lost_best]
        out += [f"incomplete run: {r}" for r in self.incomplete]
        if not self.allow_missing:
            out += [f"missing in this run: {m}" for m in self.missing_here]
            out += [f"not in the baseline: {m}" for m in self.missing_in_baseline]
        return out

    @property
    def failed(self) -> bool:
        return bool(self.point_regressions or self.run_findings())

    def lines(self) -> list[str]:
        """Every finding, failing or not, for reports."""
        out = [f"regression vs {self.baseline}: {r}" for r in self.point_regressions]
        out += self.run_findings()
        if self.allow_missing:
            out += [f"missing in this run (allowed): {m}" for m in self.missing_here]
            out += [f"not in the baseline (allowed): {m}" for m in self.missing_in_baseline]
        out += [f"improvement vs {self.baseline}: {case}: {c.text()}"
                for case, c in self.case_changes.items() if c.verdict == "improvement"]
        return out


def _best_change(old: CaseReport, new: CaseReport, threshold: float) -> Change | None:
    a, b = old.best, new.best
    if a is None or b is None or a.score is None or b.score is None:
        return None
    return judge(f"best score ({new.objective})", new.direction == "maximize", a.score,
                 a.score_interval, b.score, b.score_interval, threshold)


def _measured(report: RunReport) -> Iterator[tuple[tuple[str, str, str], PointResult]]:
    """Every measured point of ``report`` under its (case, configuration, point) key."""
    for case in report.cases:
        for trial in case.trials:
            for point in trial.points:
                if point.metrics is not None:
                    yield (case.name, trial.config_id, point.id), point


def _names(keys: Iterable[tuple[str, str, str]]) -> list[str]:
    return sorted(f"{case} {config} @ {point}" for case, config, point in keys)


def compare_runs(a: RunReport, b: RunReport, *, baseline_name: str,
                 threshold: float = DEFAULT_THRESHOLD, allow_missing: bool = False,
                 point_changes: Mapping[tuple[str, str, str], list[Change]] | None = None) \
        -> GateResult:
    """Run B against baseline A: every point measured by both, each case's best score, what
    either side lacks, and whether B is complete. ``point_changes`` reuses the comparisons an
    in-run gate already made."""
    result = GateResult(baseline=baseline_name, allow_missing=allow_missing)
    if not b.complete:
        result.incomplete = list(b.completeness.reasons) or ["the run is partial"]
    base = Baseline(a, baseline_name, threshold)
    for case in b.cases:
        for trial in case.trials:
            for point in trial.points:
                key = (case.name, trial.config_id, point.id)
                if point.metrics is None:
                    continue
                if point_changes is not None and key in point_changes:
                    result.point_changes[key] = point_changes[key]
                    continue
                changes = base.compare(*key, point.metrics, _slos_of(point))
                if changes is not None:
                    result.point_changes[key] = changes
        old = a.case(case.name)
        if old is not None:
            change = _best_change(old, case, threshold)
            if change is not None:
                result.case_changes[case.name] = change
            elif old.best is not None and case.best is None:
                result.lost_best.append(case.name)
    here, there = {key for key, _ in _measured(b)}, base.keys()
    result.missing_here = _names(there - here)
    result.missing_in_baseline = _names(here - there)
    return result


__all__ = ["DEFAULT_THRESHOLD", "Baseline", "Change", "GateResult", "compare_metrics",
           "compare_runs", "gated_metrics", "judge"]
