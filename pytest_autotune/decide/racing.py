"""Racing: extra benchmark passes only where they can change a decision (pytest-free).

After a configuration's first pass, :class:`Racing` asks for another pass on the running server
(up to the repeats allowed) while

1. a hard SLO verdict is *unresolved* and more requests could resolve it (a p99 that 48 requests
   cannot bound, when the budget would reach the 368 it needs; a straddling interval that more
   data narrows), or
2. the configuration's score is tied with the best configuration measured so far in this process,
   so more data may separate them.

A configuration clearly behind the leader, or clearly ahead of it, stops after one pass: that is
what racing saves against measuring every configuration the full number of times.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from ..results.records import ConfigIdentity, PointResult, Trial
from .slo import Verdict, evaluate
from .stats import requests_to_bound

if TYPE_CHECKING:
    from ..cases.case import Case
    from ..engine.deploy import Deployment
    from ..values import Configuration, Metrics, WorkloadPoint

#: the trials of a case this process already scored (the field racing is against)
Field = Callable[["Case"], Sequence[Trial]]


def provisional_trial(case: Case, config: Configuration,
                      results: Mapping[WorkloadPoint, Metrics]) -> Trial:
    """The trial a configuration would report now, scored by the case's built-in objective."""
    from . import scoring

    trial = Trial(config=ConfigIdentity.of(case, config), expected_points=len(results))
    trial.points = [PointResult(point, "passed", metrics, tuple(evaluate(case.slos, metrics)))
                    for point, metrics in sorted(results.items())]
    return scoring.with_builtin_score(trial)


def resolvable(verdict: Verdict, passes_done: int, cap: int) -> bool:
    """Whether the remaining passes could decide an unresolved verdict."""
    if verdict.state != "unresolved" or not verdict.slo.hard or passes_done >= cap:
        return False
    iv = verdict.interval
    if iv is None:
        return False
    if iv.bounded:
        return True  # more requests narrow it
    stat = verdict.slo.stat or ""
    if not (stat.startswith("p") and stat[1:].isdigit()):
        return True
    reachable = iv.n * cap // max(passes_done, 1)
    return reachable >= requests_to_bound(int(stat[1:]) / 100, iv.level)


class Racing:
    """The policy a :class:`~pytest_autotune.engine.deploy.PassPlan` asks after each pass."""

    def __init__(self, field: Field) -> None:
        self.field = field

    def __call__(self, deployment: Deployment, results: Mapping[WorkloadPoint, Metrics],
                 passes_done: int) -> str | None:
        from .ranking import tied_with
        from .scoring import objective_of

        case, cap = deployment.case, deployment.passes.cap
        for point, metrics in sorted(results.items()):
            for verdict in evaluate(case.slos, metrics):
                if resolvable(verdict, passes_done, cap):
                    return f"{verdict.slo.text} unresolved at {point.id}"
        mine = provisional_trial(case, deployment.config, results)
        if mine.score is None or mine.score_interval is None:
            return None
        others = [t for t in self.field(case)
                  if t.config_key != mine.config_key and t.score is not None]
        if not others:
            return None
        direction = objective_of(mine).direction
        sign = 1.0 if direction == "maximize" else -1.0
        leader = max(others, key=lambda t: sign * (t.score or 0.0))
        if tied_with(leader, [*others, mine], direction, only=mine):
            return f"tied with the leader so far, {leader.config_id}"
        return None


__all__ = ["Racing", "provisional_trial", "resolvable"]
