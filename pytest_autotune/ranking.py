"""The winner and the configurations statistically tied with it (pytest-free).

Scores carry intervals (:func:`pytest_autotune.scoring.score_interval`). Two configurations are
*tied* when the difference of their scores is within what the noise explains, judged with Tukey's
studentized range over every configuration with a bounded interval, so that among k equal
configurations the leader is reported tied with all the others 95 % of the time — however many
there are. Among the leader and its ties the winner is chosen by a documented preference, never
by the noise: fewer GPUs, then fewer flags set away from SGLang's defaults, then grid order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import NormalDist

from .results import Trial
from .runtimes.sglang import gpus_needed, non_default_flags
from .stats import LEVEL, Interval, z_value

#: the studentized range's 95 % quantile q(k, ∞), k = 2…20 (Harter 1960)
_Q95 = {2: 2.772, 3: 3.314, 4: 3.633, 5: 3.858, 6: 4.030, 7: 4.170, 8: 4.286, 9: 4.387,
        10: 4.474, 11: 4.552, 12: 4.622, 13: 4.685, 14: 4.743, 15: 4.796, 16: 4.845, 17: 4.891,
        18: 4.934, 19: 4.974, 20: 5.008}
PREFERENCE = "fewer GPUs, then fewer non-default flags, then grid order"


def range_quantile(k: int) -> float:
    """q(k, ∞) at 95 %; beyond 20 configurations, the Bonferroni bound over k(k−1)/2 pairs."""
    if k <= 2:
        return _Q95[2]
    if k in _Q95:
        return _Q95[k]
    pairs = k * (k - 1) / 2
    return math.sqrt(2) * NormalDist().inv_cdf(1 - (1 - LEVEL) / (2 * pairs))


@dataclass(frozen=True)
class Tie:
    """A configuration tied with the winner: ``difference`` is its score minus the winner's."""

    trial: Trial
    difference: float
    interval: Interval


@dataclass
class Decision:
    """What the data says about a case's best configuration."""

    best: Trial | None
    leader: Trial | None = None
    tied: list[Tie] = field(default_factory=list)
    #: P(no other configuration is better than the best), normal approximation; None unknown
    confidence: float | None = None
    #: why the best is the best, in words
    reason: str = ""

    @property
    def tied_ids(self) -> list[str]:
        return [t.trial.config_id for t in self.tied]


def _se(trial: Trial) -> float | None:
    iv = trial.score_interval
    if iv is None or not iv.bounded or trial.score is None:
        return None
    return (iv.high - iv.low) / 2 / z_value(iv.level)


def preference(trial: Trial) -> tuple[int, int, int]:
    return (gpus_needed(trial.params), len(non_default_flags(trial.params)), trial.index)


def _sign(direction: str) -> float:
    return 1.0 if direction == "maximize" else -1.0


def tied_with(leader: Trial, trials: Sequence[Trial], direction: str) -> list[Tie]:
    """The scored trials whose difference from ``leader`` the noise explains."""
    bounded = [t for t in trials if _se(t) is not None]
    lead_se = _se(leader)
    if lead_se is None or len(bounded) < 2:
        return []
    half_q = range_quantile(len(bounded)) / math.sqrt(2)
    out = []
    for t in bounded:
        if t is leader:
            continue
        se = _se(t)
        assert se is not None and t.score is not None and leader.score is not None
        diff = t.score - leader.score
        se_d = math.hypot(se, lead_se)
        if abs(diff) <= half_q * se_d:
            out.append(Tie(t, diff, Interval(diff - half_q * se_d, diff + half_q * se_d,
                                             "studentized-range", 0)))
    return out


def decide(trials: Sequence[Trial], direction: str) -> Decision:
    """The leader by score, its ties, and the winner among them by :data:`PREFERENCE`."""
    scored = [t for t in trials if t.score is not None]
    if not scored:
        return Decision(best=None, reason="no configuration has a score")
    sign = _sign(direction)
    leader = max(scored, key=lambda t: (sign * (t.score or 0.0), -t.index))
    ties = tied_with(leader, scored, direction)
    candidates = [leader] + [t.trial for t in ties]
    best = min(candidates, key=preference)
    decision = Decision(best=best, leader=leader)
    if len(scored) == 1:
        decision.reason = "the only configuration with a score"
    elif best is not leader:
        # report the ties relative to the chosen configuration
        decision.tied = [Tie(leader, _diff(leader, best), _diff_interval(leader, best, scored))]
        decision.tied += [Tie(t.trial, _diff(t.trial, best), _diff_interval(t.trial, best, scored))
                          for t in ties if t.trial is not best]
        decision.reason = (f"chosen over the leader by score, {leader.config_id}, by preference: "
                           f"{PREFERENCE}")
    else:
        decision.tied = ties
        decision.reason = (f"the leader by score is also the preferred one ({PREFERENCE})"
                           if ties else "clear winner")
    decision.tied.sort(key=lambda t: t.trial.index)
    decision.confidence = confidence(best, scored, direction)
    return decision


def _diff(trial: Trial, best: Trial) -> float:
    assert trial.score is not None and best.score is not None
    return trial.score - best.score


def _diff_interval(trial: Trial, best: Trial, scored: Sequence[Trial]) -> Interval:
    a, b = _se(trial), _se(best)
    d = _diff(trial, best)
    if a is None or b is None:
        return Interval(-math.inf, math.inf, "studentized-range", 0)
    k = len([t for t in scored if _se(t) is not None])
    half = range_quantile(k) / math.sqrt(2) * math.hypot(a, b)
    return Interval(d - half, d + half, "studentized-range", 0)


def confidence(best: Trial, trials: Sequence[Trial], direction: str) -> float | None:
    """P(no other scored configuration is truly better than ``best``): the smallest, over the
    others, of Φ(margin / SE of the difference). None without intervals."""
    sign = _sign(direction)
    se_best = _se(best)
    if se_best is None or best.score is None:
        return None
    worst = 1.0
    for t in trials:
        if t is best or t.score is None:
            continue
        se = _se(t)
        if se is None:
            return None
        margin = sign * (best.score - t.score)
        se_d = math.hypot(se, se_best)
        p = NormalDist().cdf(margin / se_d) if se_d > 0 else float(margin >= 0)
        worst = min(worst, p)
    return worst


__all__ = ["PREFERENCE", "Decision", "Tie", "decide", "range_quantile", "tied_with"]
