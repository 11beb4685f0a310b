"""Confidence intervals of percentiles, means, ratios and proportions, and the degrees of freedom
that go with them.

The distributions come from scipy.stats (imported inside the functions that need them, so that
importing the plugin stays cheap); what is written here is only what no library does as such:

- a **percentile** of a latency gets the exact, distribution-free order-statistic interval: the
  true p99 lies between two order statistics of the sample with a probability given by the
  binomial distribution alone (``scipy.stats.binom``). With too few requests one side cannot be
  bounded at all (48 requests cannot bound a p99 from above): that side is infinite, and a
  verdict that needs it is *unresolved*, not guessed;
- a **mean** gets Student's t interval (``scipy.stats.t``, n − 1 degrees of freedom);
- a **throughput** (tokens over a run's duration) gets the delta-method interval of the ratio
  of per-request tokens to per-request time, which is how the run's requests vary within it
  (n − 1 degrees of freedom); across repeats, the t interval over the repeats' values (passes − 1);
- a **proportion** (SLO attainment, error rate) gets Wilson's score interval
  (``scipy.stats.binomtest``);
- the **difference** of two estimates gets Welch's interval: the standard errors add in
  quadrature and the degrees of freedom follow Welch–Satterthwaite.

Every :class:`Interval` carries the degrees of freedom of its standard error (``df``; infinite
for a normal or distribution-free large-sample interval), so that whoever recovers a standard
error from it divides by the right quantile and uses the right distribution afterwards.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

#: the confidence level of every interval pytest-autotune reports
LEVEL = 0.95
INF = math.inf


@dataclass(frozen=True, slots=True)
class Interval:
    """``[low, high]`` at confidence ``level``; a side that the data cannot bound is infinite.

    ``df`` is the degrees of freedom of the standard error behind the interval: its half width is
    ``critical(df, level)`` standard errors (``n − 1`` for a t interval over ``n`` values, infinite
    for a normal or large-sample one)."""

    low: float
    high: float
    method: str = ""
    n: int = 0
    level: float = LEVEL
    df: float = INF

    @property
    def bounded(self) -> bool:
        return math.isfinite(self.low) and math.isfinite(self.high)

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def scaled(self, factor: float) -> Interval:
        lo, hi = self.low * factor, self.high * factor
        return Interval(min(lo, hi), max(lo, hi), self.method, self.n, self.level, self.df)

    def relative_half_width(self, center: float) -> float:
        """Half the width relative to ``center`` (inf when a side is open or center is 0)."""
        if not self.bounded or center == 0:
            return INF
        return (self.high - self.low) / 2 / abs(center)

    @property
    def standard_error(self) -> float | None:
        """Half the width over the quantile of the interval's own distribution (None when a side
        is open)."""
        if not self.bounded:
            return None
        return (self.high - self.low) / 2 / critical(self.df, self.level)

    def to_dict(self) -> dict[str, Any]:
        return {"low": _finite(self.low), "high": _finite(self.high), "method": self.method,
                "n": self.n, "level": self.level, "df": _finite(self.df)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Interval:
        """Read back :meth:`to_dict`; an interval stored without ``df`` (older run files) is
        taken as a large-sample one, as it was then judged."""
        low, high, df = data.get("low"), data.get("high"), data.get("df")
        return cls(low=-INF if low is None else float(low), high=INF if high is None else
                   float(high), method=str(data.get("method", "")), n=int(data.get("n", 0)),
                   level=float(data.get("level", LEVEL)), df=INF if df is None else float(df))


def load() -> None:
    """Import scipy.stats now (about a second on a busy machine): for whoever must decide fast
    later, such as a pruning watch polled while genai-bench runs its next concurrency."""
    import scipy.stats  # noqa: F401


def _finite(x: float) -> float | None:
    """JSON has no infinity: an open side (or infinite degrees of freedom) is written as null."""
    return x if math.isfinite(x) else None


def z_value(level: float = LEVEL) -> float:
    """The two-sided standard normal quantile (1.96 at 95 %)."""
    return NormalDist().inv_cdf(0.5 + level / 2)


@functools.lru_cache(maxsize=1024)
def t_value(df: float, level: float = LEVEL) -> float:
    """The two-sided Student t quantile with ``df`` degrees of freedom (``scipy.stats.t``)."""
    if not df >= 1:
        raise ValueError("t needs at least one degree of freedom")
    from scipy.stats import t

    return float(t.ppf(0.5 + level / 2, df))


def critical(df: float, level: float = LEVEL) -> float:
    """How many standard errors a two-sided interval at ``level`` spans on each side: Student's t
    with ``df`` degrees of freedom, the normal quantile when ``df`` is infinite."""
    return z_value(level) if math.isinf(df) else t_value(df, level)


def t_cdf(x: float, df: float) -> float:
    """P(T ≤ x) for Student's t with ``df`` degrees of freedom (normal when infinite)."""
    if math.isinf(df):
        return NormalDist().cdf(x)
    from scipy.stats import t

    return float(t.cdf(x, df))


def welch_df(ses: Sequence[float], dfs: Sequence[float]) -> float:
    """Welch–Satterthwaite degrees of freedom of a sum of independent terms with standard errors
    ``ses`` and degrees of freedom ``dfs`` (infinite when every term's is)."""
    total = math.fsum(s * s for s in ses)
    denominator = math.fsum(s**4 / d for s, d in zip(ses, dfs, strict=True)
                            if s > 0 and math.isfinite(d))
    if denominator <= 0:
        return INF
    return total * total / denominator


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """numpy's default (linear) percentile, ``q`` in [0, 1]: the one genai-bench reports."""
    if len(sorted_values) == 0:
        raise ValueError("no values")
    import numpy as np

    return float(np.percentile(sorted_values, 100 * q))


@functools.lru_cache(maxsize=512)
def order_statistic_ranks(n: int, q: float, level: float = LEVEL) -> tuple[int, int]:
    """The 1-based ranks ``(l, u)`` of the distribution-free interval of the ``q`` quantile of
    ``n`` samples: the largest ``l`` with P(B < l) ≤ α/2 and the smallest ``u`` with
    P(B ≥ u) ≤ α/2, B ~ Binomial(n, q); ``l = 0`` or ``u = n + 1`` where no rank qualifies."""
    from scipy.stats import binom

    alpha = (1 - level) / 2
    ks = range(n)
    below = binom.cdf(ks, n, q)      # below[r - 1] = P(B ≤ r − 1) = P(B < r)
    above = binom.sf(ks, n, q)       # above[r - 1] = P(B > r − 1) = P(B ≥ r)
    low = 0
    for rank in range(1, n + 1):
        if below[rank - 1] > alpha:
            break
        low = rank
    high = n + 1
    for rank in range(n, 0, -1):
        if above[rank - 1] > alpha:  # the true quantile lies above x_(rank) too often
            break
        high = rank
    return low, high


def quantile_interval(sorted_values: Sequence[float], q: float,
                      level: float = LEVEL) -> Interval:
    """The distribution-free interval of the ``q`` quantile: ``[x_(l), x_(u)]`` with
    P(l ≤ B < u) ≥ level, B ~ Binomial(n, q) counting the samples below the true quantile.

    A side whose rank falls outside the sample is infinite. Its standard error is taken as the
    large-sample one (infinite degrees of freedom)."""
    n = len(sorted_values)
    if n == 0:
        return Interval(-INF, INF, "order-statistic", 0, level)
    low_rank, high_rank = order_statistic_ranks(n, q, level)
    low = sorted_values[low_rank - 1] if low_rank >= 1 else -INF
    high = sorted_values[high_rank - 1] if high_rank <= n else INF
    return Interval(low, high, "order-statistic", n, level)


def requests_to_bound(q: float, level: float = LEVEL) -> int:
    """How many samples the order-statistic interval of the ``q`` quantile needs before both of
    its sides are finite (368 for a p99 at 95 %, 72 for a p95, 36 for a p90): the smallest ``n``
    with ``max(q, 1 − q)ⁿ ≤ α/2``, the probability that every sample falls on one side."""
    alpha = (1 - level) / 2
    tail = max(q, 1 - q)
    return math.ceil(math.log(alpha) / math.log(tail))


def mean_interval(values: Sequence[float], level: float = LEVEL) -> Interval:
    """Student's t interval of the mean, ``n − 1`` degrees of freedom (one value: unbounded)."""
    n = len(values)
    if n < 2:
        return Interval(-INF, INF, "t", n, level)
    mean = math.fsum(values) / n
    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    half = t_value(n - 1, level) * math.sqrt(var / n)
    return Interval(mean - half, mean + half, "t", n, level, float(n - 1))


def ratio_interval(numerators: Sequence[float], denominators: Sequence[float],
                   level: float = LEVEL, *, df: float | None = None) -> Interval:
    """The delta-method interval of ``Σ num / Σ den`` from paired per-request values, as a
    *relative* interval around 1 (scale it by the measured ratio); ``n − 1`` degrees of freedom
    unless ``df`` says otherwise (:data:`INF`: a large-sample interval).
    """
    n = len(numerators)
    if n != len(denominators):
        raise ValueError("numerators and denominators pair up")
    if n < 2:
        return Interval(-INF, INF, "ratio", n, level)
    num, den = math.fsum(numerators), math.fsum(denominators)
    if num <= 0 or den <= 0:
        return Interval(-INF, INF, "ratio", n, level)
    ratio = num / den
    mean_den = den / n
    residuals = [a - ratio * b for a, b in zip(numerators, denominators, strict=True)]
    var = math.fsum(r * r for r in residuals) / (n - 1)
    rel_se = math.sqrt(var / n) / mean_den / ratio
    df = float(n - 1) if df is None else df
    half = critical(df, level) * rel_se
    return Interval(1 - half, 1 + half, "ratio", n, level, df)


def wilson_interval(successes: int, n: int, level: float = LEVEL) -> Interval:
    """Wilson's score interval of a proportion (``scipy.stats.binomtest``)."""
    if n == 0:
        return Interval(0.0, 1.0, "wilson", 0, level)
    from scipy.stats import binomtest

    ci = binomtest(successes, n).proportion_ci(level, method="wilson")
    low = 0.0 if successes == 0 else max(0.0, float(ci.low))
    high = 1.0 if successes == n else min(1.0, float(ci.high))
    return Interval(low, high, "wilson", n, level)


def difference_interval(a: float, a_int: Interval, b: float, b_int: Interval) -> Interval:
    """Welch's interval of ``b − a`` for two independent estimates: each interval's standard
    error (its half width over its own t quantile), added in quadrature, with Welch–Satterthwaite
    degrees of freedom (open when either interval is)."""
    sa, sb = a_int.standard_error, b_int.standard_error
    if sa is None or sb is None:
        return Interval(-INF, INF, "difference", 0, a_int.level)
    df = welch_df((sa, sb), (a_int.df, b_int.df))
    half = critical(df, a_int.level) * math.hypot(sa, sb)
    d = b - a
    return Interval(d - half, d + half, "difference", 0, a_int.level, df)
