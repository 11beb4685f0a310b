"""Objectives: how a trial is scored and the best of a case chosen (no pytest here: the
default hook implementations in :mod:`pytest_autotune.plugin.defaults` call these functions).

The default objective ranks configurations by the highest output throughput they reached at a
workload point where every SLO held. The earlier tool's objectives (``minimize_latency``,
``maximize_throughput``, ``minimize_ttft``, ``minimize_tpot``) are reproduced with its SLO-aware
exponential penalty, so a seed task ranks its configurations as it always did.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..results.records import PointResult, Trial
from .slo import Verdict
from .stats import Interval, critical, welch_df

if TYPE_CHECKING:
    from .ranking import Decision


@dataclass(frozen=True)
class Objective:
    name: str
    direction: str  # "maximize" | "minimize"
    description: str
    unit: str
    score: Callable[[Trial], float | None]


def _max_output_throughput(trial: Trial) -> float | None:
    eligible = [p.metrics.output_throughput for p in trial.points if p.slo_ok and p.metrics]
    return max(eligible) if eligible else None


def capacity_bracket(trial: Trial) -> tuple[int | None, int | None]:
    """(capacity, ceiling) of a trial's capacity search: the highest concurrency of its
    capacity scenario at which every SLO held, and the lowest above it that missed one."""
    scenario = trial.config.capacity
    if scenario is None:
        return None, None
    measured = [p for p in trial.points if p.point.scenario == scenario and p.metrics]
    held = [p.point.concurrency for p in measured if p.slo_ok]
    if not held:
        return None, None
    capacity = max(held)
    above = [p.point.concurrency for p in measured
             if not p.slo_ok and p.point.concurrency > capacity]
    return capacity, min(above, default=None)


def _max_capacity(trial: Trial) -> float | None:
    capacity, _ = capacity_bracket(trial)
    return float(capacity) if capacity is not None else None


def seed_aggregate(points: Sequence[PointResult]) -> dict[str, Any] | None:
    """The earlier tool's metrics: plain means over the measured points, after dropping points
    with a hard SLO failure (unless every point has one)."""
    measured = [p for p in points if p.metrics is not None]
    if not measured:
        return None
    kept = [p for p in measured if p.hard_ok] or measured
    ms = [p.metrics for p in kept if p.metrics is not None]

    def mean(values: list[float | None]) -> float | None:
        clean = [v for v in values if v is not None]
        return statistics.fmean(clean) if clean else None

    e2e = [m.e2e for m in ms]
    total_requests = sum(m.num_requests for m in ms)
    completed = sum(m.num_completed for m in ms)
    return {
        "mean_e2e_latency": mean([d.mean for d in e2e]),
        "min_e2e_latency": min((d.mean for d in e2e if d.mean is not None), default=None),
        "max_e2e_latency": max((d.mean for d in e2e if d.mean is not None), default=None),
        "p50_e2e_latency": mean([d.p50 for d in e2e]),
        "p90_e2e_latency": mean([d.p90 for d in e2e]),
        "p99_e2e_latency": mean([d.p99 for d in e2e]),
        "mean_ttft": mean([m.ttft.mean for m in ms]),
        "mean_tpot": mean([m.tpot.mean for m in ms]),
        "mean_output_throughput": mean([m.output_throughput for m in ms]),
        "max_output_throughput": max(m.output_throughput for m in ms),
        "mean_total_throughput": mean([m.total_throughput for m in ms]),
        "max_total_throughput": max(m.total_throughput for m in ms),
        "total_requests": total_requests,
        "total_completed_requests": completed,
        "total_error_requests": total_requests - completed,
        "success_rate": completed / total_requests if total_requests else 0.0,
        "concurrency_levels": [p.point.concurrency for p in kept],
        "num_result_files": len(kept),
    }


def _aggregate_slo_value(
    points: Sequence[PointResult], metric: str, stat: str | None
) -> float | None:
    measured = [p for p in points if p.metrics is not None]
    kept = [p for p in measured if p.hard_ok] or measured
    values = [p.metrics.value(metric, stat) for p in kept if p.metrics is not None]
    clean = [v for v in values if v is not None]
    return statistics.fmean(clean) if clean else None


def slo_penalty(trial: Trial) -> tuple[float, bool]:
    """(P, hard_failure) of the earlier tool: P = Σ weight·exp(r/steepness) over missed SLOs,
    evaluated on the aggregated metrics; a hard SLO missed by more than its fail_ratio fails."""
    seen: dict[str, Verdict] = {}
    for p in trial.points:
        for v in p.verdicts:
            seen.setdefault(v.slo.text, v)
    penalty, hard = 0.0, False
    for v in seen.values():
        slo = v.slo
        value = _aggregate_slo_value(trial.points, slo.metric, slo.stat)
        threshold = slo.threshold
        if value is None or threshold <= 0:
            continue
        lower_is_better = slo.op in ("<=", "<")
        r = (value - threshold) / threshold if lower_is_better else (threshold - value) / threshold
        if r <= 0:
            continue
        if slo.hard and r > slo.fail_ratio:
            hard = True
        else:
            penalty += slo.weight * math.exp(r / trial.steepness)
    return penalty, hard


BaseOf = Callable[[dict[str, Any], Trial], "float | None"]


def _seed_objective(base_of: BaseOf) -> Callable[[Trial], float | None]:
    def score(trial: Trial) -> float | None:
        agg = seed_aggregate(trial.points)
        if agg is None:
            return None
        base = base_of(agg, trial)
        if base is None or not math.isfinite(base):
            return None
        penalty, hard = slo_penalty(trial)
        if hard:
            return None
        return base + penalty * abs(base)

    return score


def _latency(agg: dict[str, Any], trial: Trial) -> float | None:
    value = agg["mean_e2e_latency"]
    return float(value) if value is not None else agg["p50_e2e_latency"]


def _throughput(agg: dict[str, Any], trial: Trial) -> float | None:
    total = agg["mean_total_throughput"] or agg["mean_output_throughput"]
    if not total:
        return None
    gpus = max(len(trial.gpus), 1)
    return -float(total) / gpus


OBJECTIVES: dict[str, Objective] = {
    o.name: o
    for o in (
        Objective("max_output_throughput", "maximize",
                  "highest output throughput at a workload point where every SLO holds",
                  "tok/s", _max_output_throughput),
        Objective("maximize_capacity", "maximize",
                  "highest concurrency of the capacity scenario at which every SLO holds "
                  "(workload.capacity)", "users", _max_capacity),
        Objective("minimize_latency", "minimize",
                  "mean end-to-end latency × SLO penalty (earlier tool)", "s",
                  _seed_objective(_latency)),
        Objective("maximize_throughput", "minimize",
                  "−(total tokens/s per GPU) × SLO penalty (earlier tool; lower is better)",
                  "−tok/s/GPU", _seed_objective(_throughput)),
        Objective("minimize_ttft", "minimize", "mean TTFT × SLO penalty (earlier tool)", "s",
                  _seed_objective(lambda a, t: a["mean_ttft"])),
        Objective("minimize_tpot", "minimize", "mean TPOT × SLO penalty (earlier tool)", "s",
                  _seed_objective(lambda a, t: a["mean_tpot"])),
    )
}


def objective_of(trial: Trial) -> Objective:
    return OBJECTIVES.get(trial.objective, OBJECTIVES["max_output_throughput"])


def better(a: float, b: float, direction: str) -> bool:
    return a > b if direction == "maximize" else a < b


def score_trial(trial: Trial) -> float | None:
    """The trial's score under its case's objective (None: not eligible)."""
    return objective_of(trial).score(trial)


@dataclass(frozen=True)
class Score:
    """A trial's score and, under a built-in objective, its interval (None: unknown, as for a
    number a project's ``pytest_autotune_score_trial`` returns)."""

    value: float
    interval: Interval | None = None

    @classmethod
    def of(cls, result: Score | float | None) -> Score | None:
        """A score hook's answer as a :class:`Score`: a plain number has no interval."""
        if result is None or isinstance(result, Score):
            return result
        return cls(result)

    @classmethod
    def parts(cls, result: Score | float | None) -> tuple[float | None, Interval | None]:
        """A score hook's answer as the trial's ``score`` and ``score_interval``."""
        score = cls.of(result)
        return (None, None) if score is None else (score.value, score.interval)


def score(trial: Trial) -> Score | None:
    """The trial's score under the built-in objective, with its interval (None: not eligible);
    what the default ``pytest_autotune_score_trial`` returns."""
    value = score_trial(trial)
    return None if value is None else Score(value, score_interval(trial, value))


def with_builtin_score(trial: Trial) -> Trial:
    """A copy of ``trial`` scored under the built-in objective (``trial`` itself is left as it
    is: the results store records the scores of the run's trials)."""
    value, interval = Score.parts(score(trial))
    return replace(trial, score=value, score_interval=interval)


#: the metric each earlier-tool objective averages over the kept points
_SEED_BASE = {"minimize_latency": ("e2e", "mean"),
              "maximize_throughput": ("total_throughput", None),
              "minimize_ttft": ("ttft", "mean"), "minimize_tpot": ("tpot", "mean")}


def score_interval(trial: Trial, score: float | None) -> Interval | None:
    """The interval of ``score`` under the trial's built-in objective: the throughput interval
    of the point that scored, or (earlier-tool objectives) the interval of the mean over the
    points they average, carried over relatively to the penalised score. None when a point has
    no bounded interval."""
    if score is None:
        return None
    objective = objective_of(trial)
    if objective.name == "maximize_capacity":
        # the search's bracket: a capacity is known to the load between two probes
        capacity, ceiling = capacity_bracket(trial)
        if capacity is None or ceiling is None:
            return None
        return Interval(float(capacity), float(ceiling), "capacity bracket", len(trial.points))
    if objective.name == "max_output_throughput":
        eligible = [p.metrics for p in trial.points if p.slo_ok and p.metrics]
        if not eligible:
            return None
        top = max(eligible, key=lambda m: m.output_throughput)
        iv = top.interval("output_throughput")
        return iv if iv is not None and iv.bounded else None
    metric, stat = _SEED_BASE[objective.name]
    measured = [p for p in trial.points if p.metrics is not None]
    kept = [p.metrics for p in ([p for p in measured if p.hard_ok] or measured) if p.metrics]
    ses, dfs, values = [], [], []
    for m in kept:
        iv, value = m.interval(metric, stat), m.value(metric, stat)
        se = None if iv is None else iv.standard_error
        if iv is None or se is None or value is None:
            return None
        ses.append(se)
        dfs.append(iv.df)
        values.append(value)
    base = statistics.fmean(values) if values else 0.0
    if not base:
        return None
    df = welch_df(ses, dfs)  # of the mean's standard error, √Σse² / n
    rel = critical(df) * math.sqrt(sum(s * s for s in ses)) / len(ses) / abs(base)
    return Interval(score - rel * abs(score), score + rel * abs(score), "objective",
                    sum(m.num_completed for m in kept), df=df)


def select_best(trials: Sequence[Trial]) -> Decision:
    """The ranking's decision (what the default ``pytest_autotune_select_best`` returns): the
    leader by score, unless configurations are tied with it: then the one preferred by fewer
    GPUs, then fewer non-default flags, then grid order
    (:mod:`pytest_autotune.decide.ranking`); the configurations tied with the winner, the
    confidence in it and the reason."""
    from .ranking import decide

    scored = [t for t in trials if t.score is not None]
    return decide(scored, objective_of(scored[0]).direction if scored else "maximize")


def adopt(choice: Trial | Decision | None, trials: Sequence[Trial]) -> Decision:
    """The decision a ``pytest_autotune_select_best`` answer stands for, among a case's
    ``trials``: a :class:`~pytest_autotune.decide.ranking.Decision` as it is; a trial of the
    ranking's winner's configuration, the ranking's decision; any other trial, a decision
    chosen by the project (its ties and confidence judged against it); None, no winner."""
    from .ranking import Decision, chosen, same_configuration

    if isinstance(choice, Decision):
        return choice
    if choice is None:
        return Decision(best=None, reason="no configuration was chosen",
                        chosen_by_project=True)
    ranked = select_best(trials)
    if ranked.best is not None and same_configuration(ranked.best, choice):
        return ranked
    member = next((t for t in trials if same_configuration(t, choice)), choice)
    scored = [t for t in trials if t.score is not None]
    direction = objective_of(scored[0] if scored else member).direction
    return chosen(member, trials, direction, leader=ranked.leader)
