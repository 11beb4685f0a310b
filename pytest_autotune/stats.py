"""Confidence intervals from the standard library: percentiles, means, ratios, proportions.

Every reported number of a workload point carries an :class:`Interval` at :data:`LEVEL`:

- a **percentile** of a latency gets the exact, distribution-free order-statistic interval: the
  true p99 lies between two order statistics of the sample with a probability given by the
  binomial distribution alone. With too few requests one side cannot be bounded at all (48
  requests cannot bound a p99 from above): that side is infinite, and a verdict that needs it
  is *unresolved*, not guessed;
- a **mean** gets Student's t interval;
- a **throughput** (tokens over a run's duration) gets the delta-method interval of the ratio
  of per-request tokens to per-request time, which is how the run's requests vary within it;
  across repeats, the t interval over the repeats' values (which also sees drift between runs);
- a **proportion** (SLO attainment, error rate) gets Wilson's score interval.
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
    """``[low, high]`` at confidence ``level``; a side that the data cannot bound is infinite."""

    low: float
    high: float
    method: str = ""
    n: int = 0
    level: float = LEVEL

    @property
    def bounded(self) -> bool:
        return math.isfinite(self.low) and math.isfinite(self.high)

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def scaled(self, factor: float) -> Interval:
        lo, hi = self.low * factor, self.high * factor
        return Interval(min(lo, hi), max(lo, hi), self.method, self.n, self.level)

    def relative_half_width(self, center: float) -> float:
        """Half the width relative to ``center`` (inf when a side is open or center is 0)."""
        if not self.bounded or center == 0:
            return INF
        return (self.high - self.low) / 2 / abs(center)

    def to_dict(self) -> dict[str, Any]:
        return {"low": _finite(self.low), "high": _finite(self.high), "method": self.method,
                "n": self.n, "level": self.level}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Interval:
        low, high = data.get("low"), data.get("high")
        return cls(low=-INF if low is None else float(low), high=INF if high is None else
                   float(high), method=str(data.get("method", "")), n=int(data.get("n", 0)),
                   level=float(data.get("level", LEVEL)))


def _finite(x: float) -> float | None:
    """JSON has no infinity: an open side is written as null."""
    return x if math.isfinite(x) else None


def z_value(level: float = LEVEL) -> float:
    """The two-sided standard normal quantile (1.96 at 95 %)."""
    return NormalDist().inv_cdf(0.5 + level / 2)


#: Student t, two-sided 95 %, 1–30 degrees of freedom (the repeat counts that matter most)
_T95 = (12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004,
        2.262157, 2.228139, 2.200985, 2.178813, 2.160369, 2.144787, 2.131450, 2.119905,
        2.109816, 2.100922, 2.093024, 2.085963, 2.079614, 2.073873, 2.068658, 2.063899,
        2.059539, 2.055529, 2.051831, 2.048407, 2.045230, 2.042272)


def t_value(df: int, level: float = LEVEL) -> float:
    """The two-sided Student t quantile with ``df`` degrees of freedom.

    Tabulated at 95 % up to 30 degrees of freedom; otherwise exact for 1 and 2 and Hill's series
    expansion beyond (Comm. ACM 13, 1970), within 0.2 % at 3 degrees of freedom and 1e-6 at 30.
    """
    if df < 1:
        raise ValueError("t needs at least one degree of freedom")
    if level == LEVEL and df <= len(_T95):
        return _T95[df - 1]
    p = 0.5 + level / 2
    if df == 1:
        return math.tan(math.pi * (p - 0.5))
    if df == 2:
        return (2 * p - 1) / math.sqrt(2 * p * (1 - p))
    z = NormalDist().inv_cdf(p)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """numpy's default (linear) percentile, ``q`` in [0, 1]: the one genai-bench reports."""
    n = len(sorted_values)
    if n == 0:
        raise ValueError("no values")
    pos = q * (n - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, n - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(B ≤ k) for B ~ Binomial(n, p)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    if p <= 0:
        return 1.0
    if p >= 1:
        return 0.0
    log_p, log_q = math.log(p), math.log1p(-p)
    total = 0.0
    for i in range(k + 1):
        log_term = (math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
                    + i * log_p + (n - i) * log_q)
        total += math.exp(log_term)
    return min(1.0, total)


@functools.lru_cache(maxsize=512)
def order_statistic_ranks(n: int, q: float, level: float = LEVEL) -> tuple[int, int]:
    """The 1-based ranks ``(l, u)`` of the distribution-free interval of the ``q`` quantile of
    ``n`` samples: the largest ``l`` with P(B < l) ≤ α/2 and the smallest ``u`` with
    P(B ≥ u) ≤ α/2, B ~ Binomial(n, q); ``l = 0`` or ``u = n + 1`` where no rank qualifies."""
    alpha = (1 - level) / 2
    cdf = _binomial_cdfs(n, q)  # cdf[k] = P(B ≤ k)
    low = 0
    for rank in range(1, n + 1):
        if cdf[rank - 1] > alpha:
            break
        low = rank
    high = n + 1
    for rank in range(n, 0, -1):
        if 1 - cdf[rank - 1] > alpha:  # P(B ≥ rank): the true quantile above x_(rank)
            break
        high = rank
    return low, high


def _binomial_cdfs(n: int, p: float) -> list[float]:
    """P(B ≤ k) for k = 0..n, in one pass (log-space probabilities, so large n is safe)."""
    if p <= 0 or p >= 1:
        return [1.0 if p <= 0 else 0.0] * n + [1.0]
    log_p, log_q = math.log(p), math.log1p(-p)
    out, total = [], 0.0
    log_comb = 0.0
    for k in range(n + 1):
        if k:
            log_comb += math.log(n - k + 1) - math.log(k)
        total += math.exp(log_comb + k * log_p + (n - k) * log_q)
        out.append(min(1.0, total))
    return out


def quantile_interval(sorted_values: Sequence[float], q: float,
                      level: float = LEVEL) -> Interval:
    """The distribution-free interval of the ``q`` quantile: ``[x_(l), x_(u)]`` with
    P(l ≤ B < u) ≥ level, B ~ Binomial(n, q) counting the samples below the true quantile.

    A side whose rank falls outside the sample is infinite.
    """
    n = len(sorted_values)
    if n == 0:
        return Interval(-INF, INF, "order-statistic", 0, level)
    low_rank, high_rank = order_statistic_ranks(n, q, level)
    low = sorted_values[low_rank - 1] if low_rank >= 1 else -INF
    high = sorted_values[high_rank - 1] if high_rank <= n else INF
    return Interval(low, high, "order-statistic", n, level)


def requests_to_bound(q: float, level: float = LEVEL) -> int:
    """How many samples the order-statistic interval of the ``q`` quantile needs before both of
    its sides are finite (368 for a p99 at 95 %, 72 for a p95, 36 for a p90)."""
    alpha = (1 - level) / 2
    tail = max(q, 1 - q)
    return math.ceil(math.log(alpha) / math.log(tail))


def mean_interval(values: Sequence[float], level: float = LEVEL) -> Interval:
    """Student's t interval of the mean (one value: unbounded)."""
    n = len(values)
    if n == 0:
        return Interval(-INF, INF, "t", 0, level)
    mean = math.fsum(values) / n
    if n == 1:
        return Interval(-INF, INF, "t", 1, level)
    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    half = t_value(n - 1, level) * math.sqrt(var / n)
    return Interval(mean - half, mean + half, "t", n, level)


def ratio_interval(numerators: Sequence[float], denominators: Sequence[float],
                   level: float = LEVEL) -> Interval:
    """The delta-method interval of ``Σ num / Σ den`` from paired per-request values, as a
    *relative* interval around 1 (scale it by the measured ratio)."""
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
    half = t_value(n - 1, level) * rel_se
    return Interval(1 - half, 1 + half, "ratio", n, level)


def wilson_interval(successes: int, n: int, level: float = LEVEL) -> Interval:
    """Wilson's score interval of a proportion."""
    if n == 0:
        return Interval(0.0, 1.0, "wilson", 0, level)
    z = z_value(level)
    p = successes / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if successes == 0 else max(0.0, center - half)
    high = 1.0 if successes == n else min(1.0, center + half)
    return Interval(low, high, "wilson", n, level)


def difference_interval(a: float, a_int: Interval, b: float, b_int: Interval) -> Interval:
    """The interval of ``b − a`` for two independent estimates (normal approximation from each
    interval's half width; open when either is)."""
    if not (a_int.bounded and b_int.bounded):
        return Interval(-INF, INF, "difference", 0, a_int.level)
    z = z_value(a_int.level)
    sa = (a_int.high - a_int.low) / 2 / z
    sb = (b_int.high - b_int.low) / 2 / z
    half = z * math.hypot(sa, sb)
    d = b - a
    return Interval(d - half, d + half, "difference", 0, a_int.level)
