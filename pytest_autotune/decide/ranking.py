"""The winner and the configurations statistically tied with it (pytest-free).

Scores carry intervals (:func:`pytest_autotune.decide.scoring.score_interval`), and each interval
its degrees of freedom. Two configurations are *tied* when the difference of their scores is within
what the noise explains, judged with the Games–Howell form of Tukey's studentized range: the
difference's standard error is the two scores' in quadrature, its degrees of freedom
Welch–Satterthwaite's, and the critical value is the studentized range's 95 % quantile q(k, df) / √2
over the k configurations with a bounded interval (``scipy.stats.studentized_range``), so that among
k equal configurations the leader is reported tied with all the others 95 % of the time — however
many there are, and however few passes stand behind each score. Among the leader and its ties the
winner is chosen by a documented preference, never by the noise: fewer GPUs, then fewer flags set
away from SGLang's defaults, then grid order.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..results.records import Trial
from ..runtimes.sglang import gpus_needed, non_default_flags
from .stats import INF, LEVEL, Interval, t_cdf, welch_df

PREFERENCE = "fewer GPUs, then fewer non-default flags, then grid order"
#: degrees of freedom the studentized range's quantile is looked up at for a reported interval:
#: a pair's Welch–Satterthwaite df is rounded *down* to one of these (more noise assumed, never
#: less), and from 1,000 on the infinite-df quantile is used (within 0.1 % of it). Whether a pair
#: is tied is decided at its exact df (:func:`range_p_value`).
_DF_GRID = (*range(1, 30), 30, 40, 60, 120, 240, 480)
_DF_INFINITE = 1000.0


def _df_step(df: float) -> float:
    if df >= _DF_INFINITE:
        return INF
    return float(max([g for g in _DF_GRID if g <= df + 1e-9], default=1))


def range_quantile(k: int, df: float = INF, level: float = LEVEL) -> float:
    """q(k, df), the studentized range's ``level`` quantile for ``k`` means whose standard errors
    have ``df`` degrees of freedom (``scipy.stats.studentized_range``; ``df`` rounded down to
    :data:`_DF_GRID`, since each new quantile costs a numerical inversion). Two means:
    q(2, df) = √2 · t(df)."""
    return _range_quantile(max(k, 2), _df_step(df), level)


@functools.lru_cache(maxsize=256)
def _range_quantile(k: int, df: float, level: float) -> float:
    from scipy.stats import studentized_range

    return float(studentized_range.ppf(level, k, df))


def range_p_value(difference: float, se: float, k: int, df: float) -> float:
    """P(the range of ``k`` equal means exceeds ``|difference|``) when the difference's standard
    error is ``se`` on ``df`` degrees of freedom: the studentized range's survival function at
    √2 · |difference| / se (``scipy.stats.studentized_range``, at the exact df)."""
    if se <= 0:
        return 1.0 if difference == 0 else 0.0
    from scipy.stats import studentized_range

    return float(studentized_range.sf(math.sqrt(2) * abs(difference) / se, max(k, 2), df))


@dataclass(frozen=True)
class Tie:
    """A configuration tied with the winner: ``difference`` is its score minus the winner's."""

    trial: Trial
    difference: float
    interval: Interval


@dataclass(frozen=True)
class Decision:
    """What the data says about a case's best configuration: the default
    ``pytest_autotune_select_best`` returns one, and the report shows it as it is."""

    best: Trial | None
    #: the leader by score (the best, unless a tie was broken by :data:`PREFERENCE`)
    leader: Trial | None = None
    #: the configurations tied with the best, in grid order
    tied: tuple[Tie, ...] = ()
    #: P(no other configuration is better than the best), Welch t approximation; None unknown
    confidence: float | None = None
    #: why the best is the best, in words
    reason: str = ""
    #: the best was named by a project's ``pytest_autotune_select_best``, not by the ranking
    chosen_by_project: bool = False

    @property
    def tied_ids(self) -> list[str]:
        return [t.trial.config_id for t in self.tied]


#: the reason a configuration a project's hook named is the best
PROJECT_CHOICE = "chosen by the project's pytest_autotune_select_best"


def same_configuration(a: Trial, b: Trial) -> bool:
    """Whether two trials are of one configuration of one case (whatever objects they are)."""
    return (a.case, a.config_key) == (b.case, b.config_key)


def _se(trial: Trial) -> tuple[float, float] | None:
    """The standard error of ``trial``'s score and its degrees of freedom (None: no interval)."""
    iv = trial.score_interval
    if iv is None or trial.score is None:
        return None
    se = iv.standard_error
    return None if se is None else (se, iv.df)


def _pair(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    """The standard error of a difference of two scores and its Welch–Satterthwaite df."""
    return math.hypot(a[0], b[0]), welch_df((a[0], b[0]), (a[1], b[1]))


def _half(k: int, a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    """Games–Howell: the half width of a difference's interval among ``k`` scores, and its df."""
    se_d, df = _pair(a, b)
    return range_quantile(k, df) / math.sqrt(2) * se_d, df


def _tied(diff: float, k: int, a: tuple[float, float], b: tuple[float, float],
          level: float = LEVEL) -> bool:
    se_d, df = _pair(a, b)
    return range_p_value(diff, se_d, k, df) > 1 - level


def preference(trial: Trial) -> tuple[int, int, int]:
    return (gpus_needed(trial.params), len(non_default_flags(trial.params)), trial.index)


def _sign(direction: str) -> float:
    return 1.0 if direction == "maximize" else -1.0


def tied_with(leader: Trial, trials: Sequence[Trial], direction: str,
              only: Trial | None = None) -> list[Tie]:
    """The scored trials whose difference from ``leader`` the noise explains (judged among every
    trial of ``trials`` with an interval; ``only``: just that one, if it is)."""
    bounded = [t for t in trials if _se(t) is not None]
    lead = _se(leader)
    if lead is None or len(bounded) < 2:
        return []
    out = []
    for t in bounded:
        if t is leader or (only is not None and t is not only):
            continue
        mine = _se(t)
        assert mine is not None and t.score is not None and leader.score is not None
        diff = t.score - leader.score
        if _tied(diff, len(bounded), mine, lead):
            half, df = _half(len(bounded), mine, lead)
            out.append(Tie(t, diff, Interval(diff - half, diff + half, "studentized-range", 0,
                                             df=df)))
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
    if len(scored) == 1:
        reason = "the only configuration with a score"
    elif best is not leader:
        # report the ties relative to the chosen configuration
        ties = [Tie(leader, _diff(leader, best), _diff_interval(leader, best, scored))] + [
            Tie(t.trial, _diff(t.trial, best), _diff_interval(t.trial, best, scored))
            for t in ties if t.trial is not best]
        reason = (f"chosen over the leader by score, {leader.config_id}, by preference: "
                  f"{PREFERENCE}")
    else:
        reason = (f"the leader by score is also the preferred one ({PREFERENCE})"
                  if ties else "clear winner")
    return Decision(best=best, leader=leader,
                    tied=tuple(sorted(ties, key=lambda t: t.trial.index)),
                    confidence=confidence(best, scored, direction), reason=reason)


def chosen(best: Trial, trials: Sequence[Trial], direction: str, *,
           leader: Trial | None = None, reason: str = PROJECT_CHOICE) -> Decision:
    """The decision for a best named from outside the ranking (a project's
    ``pytest_autotune_select_best``): the scored configurations tied with it, and the
    confidence in it, judged against it as if it led."""
    scored = [t for t in trials if t.score is not None]
    return Decision(best=best, leader=leader, tied=tuple(tied_with(best, scored, direction)),
                    confidence=confidence(best, scored, direction), reason=reason,
                    chosen_by_project=True)


def _diff(trial: Trial, best: Trial) -> float:
    assert trial.score is not None and best.score is not None
    return trial.score - best.score


def _diff_interval(trial: Trial, best: Trial, scored: Sequence[Trial]) -> Interval:
    a, b = _se(trial), _se(best)
    d = _diff(trial, best)
    if a is None or b is None:
        return Interval(-math.inf, math.inf, "studentized-range", 0)
    k = len([t for t in scored if _se(t) is not None])
    half, df = _half(k, a, b)
    return Interval(d - half, d + half, "studentized-range", 0, df=df)


def confidence(best: Trial, trials: Sequence[Trial], direction: str) -> float | None:
    """P(no other scored configuration is truly better than ``best``): the smallest, over the
    others, of the t distribution's P(T ≤ margin / SE of the difference) at the difference's
    Welch–Satterthwaite degrees of freedom. None without intervals."""
    sign = _sign(direction)
    mine = _se(best)
    if mine is None or best.score is None:
        return None
    worst = 1.0
    for t in trials:
        if t is best or t.score is None:
            continue
        theirs = _se(t)
        if theirs is None:
            return None
        margin = sign * (best.score - t.score)
        se_d, df = _pair(theirs, mine)
        p = t_cdf(margin / se_d, df) if se_d > 0 else float(margin >= 0)
        worst = min(worst, p)
    return worst


__all__ = ["PREFERENCE", "PROJECT_CHOICE", "Decision", "Tie", "chosen", "decide",
           "range_p_value", "range_quantile", "same_configuration", "tied_with"]
