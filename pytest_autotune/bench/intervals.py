"""Confidence intervals of a workload point's metrics, from genai-bench's per-request values and,
with repeats, from the spread between passes.

What a single pass cannot see is how much the next pass would differ (clocks, thermals, the
host, another deployment): :class:`NoiseFloor` stands in for that run-to-run noise. Every
interval is widened by it (in quadrature). Passes that each deployed the server anew
(``redeploy``) are independent draws of all of it, so the floor shrinks with √passes; passes on
one running server share its deployment and leave the floor as it is. With three passes or more,
the t interval over the passes' own values is used when it is wider: an honest, if wide, guard
where the floor is too low (a saturated server's TTFT tail can vary far more than 5 %, and
trusting the floor there as prior evidence made false alarms, see docs/metrics.md). The defaults
are the run-to-run spread of identical runs on real GPU deployments: about 2 % for throughputs and
central latencies, about 5 % for tail latencies (docs/metrics.md). Each interval carries its
degrees of freedom: requests − 1 for a per-request t or ratio interval (more once the floor, known
exactly, is added: Welch–Satterthwaite), passes − 1 for the interval over the passes.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace

from ..decide.stats import (
    INF,
    Interval,
    critical,
    mean_interval,
    quantile_interval,
    ratio_interval,
    welch_df,
    wilson_interval,
)
from ..values import LATENCY_METRICS, Metrics, stat_key
from .samples import RequestSamples
from .steady import THROUGHPUTS, apply

PERCENTILES = {"p25": 0.25, "p50": 0.50, "p75": 0.75, "p90": 0.90, "p95": 0.95, "p99": 0.99}
TAIL_STATS = ("p90", "p95", "p99", "max")


@dataclass(frozen=True, slots=True)
class NoiseFloor:
    """Relative run-to-run noise (one standard deviation) that one pass cannot measure."""

    central: float = 0.02
    tail: float = 0.05

    def of(self, key: str) -> float:
        stat = key.partition(".")[2]
        return self.tail if stat in TAIL_STATS else self.central


NO_FLOOR = NoiseFloor(0.0, 0.0)


def with_intervals(metrics: Metrics, samples: RequestSamples, floor: NoiseFloor = NoiseFloor(),
                   passes: Sequence[Metrics] = (), *, redeployed: bool = False) -> Metrics:
    """``metrics`` with an interval for every latency statistic, throughput and the error rate.

    ``samples`` are the requests behind ``metrics`` (pooled when ``passes`` lists the metrics of
    each of several passes that ``metrics`` pools; ``redeployed``: each on a fresh deployment)."""
    k = max(1, len(passes))
    independent = k if redeployed else 1
    out: dict[str, Interval] = {}
    for metric in LATENCY_METRICS:
        values = sorted(samples.latency(metric))
        if not values:
            continue
        for stat, q in PERCENTILES.items():
            out[f"{metric}.{stat}"] = quantile_interval(values, q)
        out[f"{metric}.mean"] = mean_interval(values)
    steady = samples.steady
    if steady is not None and steady.requests:
        for name in THROUGHPUTS:
            if metrics.value(name):
                out[name] = steady.interval(name)
    else:  # requests without a steady window (none made it past the spawn)
        pairs = {
            "output_throughput": [float(t) for t in samples.output_tokens],
            "input_throughput": [float(t) for t in samples.input_tokens],
            "total_throughput": [float(a + b) for a, b in
                                 zip(samples.input_tokens, samples.output_tokens, strict=True)],
            "request_throughput": [1.0] * len(samples),
        }
        for name, numerators in pairs.items():
            value = metrics.value(name)
            if value:
                out[name] = ratio_interval(numerators, list(samples.e2e)).scaled(value)
    completed = metrics.num_completed
    out["error_rate"] = wilson_interval(metrics.num_errors, metrics.num_errors + completed)
    widened: dict[str, Interval] = {}
    for key, interval in out.items():
        value = metrics.value(*_split(key))
        if value is None or key == "error_rate":
            widened[key] = interval
            continue
        interval = _widen(interval, value, floor.of(key) / math.sqrt(independent))
        if k >= 3:
            interval = _wider(interval, _between_passes(key, passes), value)
        widened[key] = interval
    return replace(metrics, intervals=widened, passes=k)


def _split(key: str) -> tuple[str, str | None]:
    metric, _, stat = key.partition(".")
    return metric, stat or None


def _widen(interval: Interval, value: float, rel_sd: float) -> Interval:
    """Add ``rel_sd × value`` of normal noise to each side of ``interval``: the standard errors
    add in quadrature, the floor counting as known (infinite degrees of freedom), and the result's
    degrees of freedom are Welch–Satterthwaite's."""
    if rel_sd <= 0:
        return interval
    floor_se = rel_sd * abs(value)
    crit = critical(interval.df, interval.level)
    gaps = [abs(b - value) for b in (interval.low, interval.high) if math.isfinite(b)]
    df = welch_df((statistics.fmean(gaps) / crit, floor_se), (interval.df, INF)) if gaps else INF
    new_crit = critical(df, interval.level)

    def side(bound: float) -> float:
        if not math.isfinite(bound):
            return bound
        return new_crit * math.hypot(abs(bound - value) / crit, floor_se)

    low = value - side(interval.low) if math.isfinite(interval.low) else -INF
    high = value + side(interval.high) if math.isfinite(interval.high) else INF
    return Interval(min(low, interval.low), max(high, interval.high), interval.method,
                    interval.n, interval.level, df)


def _between_passes(key: str, passes: Sequence[Metrics]) -> Interval | None:
    values = [v for v in (m.value(*_split(key)) for m in passes) if v is not None]
    if len(values) < 3:
        return None
    return mean_interval(values)


def _wider(interval: Interval, other: Interval | None, value: float) -> Interval:
    """Whichever of the two is wider, centred as ``interval`` is, with its degrees of freedom
    (the between-passes interval's are passes − 1)."""
    if other is None or not other.bounded or not interval.bounded:
        return interval
    half = (other.high - other.low) / 2
    if half <= (interval.high - interval.low) / 2:
        return interval
    return Interval(value - half, value + half, f"{interval.method}+passes", interval.n,
                    interval.level, other.df)


def point_estimates(samples: RequestSamples, passes: Sequence[Metrics]) -> Metrics:
    """The metrics of several passes' pooled requests, computed as genai-bench computes one
    run's (numpy's linear percentiles, population stddev, throughputs over the summed run
    durations, error codes added up)."""
    from ..decide.stats import percentile
    from ..values import Stat

    def stat(values: Sequence[float]) -> Stat:
        if not values:
            return Stat()
        ordered = sorted(values)
        return Stat(mean=statistics.fmean(ordered), min=ordered[0], max=ordered[-1],
                    stddev=statistics.pstdev(ordered),
                    **{name: percentile(ordered, q) for name, q in PERCENTILES.items()})

    codes: dict[str, int] = {}
    for m in passes:
        for code, count in m.error_codes.items():
            codes[code] = codes.get(code, 0) + count
    duration = samples.duration or 1.0
    completed = len(samples)
    out_tokens, in_tokens = sum(samples.output_tokens), sum(samples.input_tokens)
    # genai-bench's way over the passes (tokens over the summed durations): kept for reference
    aggregate = replace(
        passes[0], ttft=stat(samples.ttft), tpot=stat(samples.tpot), e2e=stat(samples.e2e),
        output_latency=stat(samples.output_latency),
        output_throughput=out_tokens / duration, input_throughput=in_tokens / duration,
        total_throughput=(out_tokens + in_tokens) / duration,
        request_throughput=completed / duration, num_requests=completed + samples.errors,
        num_errors=samples.errors, run_duration=samples.duration, error_codes=codes,
        passes=len(passes), genai_bench={}, steady={}, short_run=False,
    )
    return apply(aggregate, samples.steady)


__all__ = ["NO_FLOOR", "NoiseFloor", "point_estimates", "stat_key", "with_intervals"]


def pool_passes(runs: Sequence[tuple[Metrics, RequestSamples]], floor: NoiseFloor, *,
                redeployed: bool = False) -> Metrics:
    """One point's metrics over its passes (each pass's metrics and requests), with intervals."""
    if len(runs) == 1:
        metrics, samples = runs[0]
        return with_intervals(metrics, samples, floor)
    pooled = RequestSamples.pooled([s for _, s in runs])
    each = [m for m, _ in runs]
    return with_intervals(point_estimates(pooled, each), pooled, floor, passes=each,
                          redeployed=redeployed)
