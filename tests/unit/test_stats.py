"""Intervals (stats.py, bench/intervals.py) and the verdicts made with them."""

from __future__ import annotations

import json
import math
import random
from dataclasses import replace
from pathlib import Path

import pytest

from pytest_autotune.bench.intervals import NO_FLOOR, NoiseFloor, point_estimates, with_intervals
from pytest_autotune.bench.results import read_runs
from pytest_autotune.bench.samples import RequestSamples
from pytest_autotune.decide.slo import Verdict, evaluate, fails, parse_slo
from pytest_autotune.decide.stats import (
    INF,
    Interval,
    difference_interval,
    mean_interval,
    order_statistic_ranks,
    percentile,
    quantile_interval,
    ratio_interval,
    requests_to_bound,
    t_value,
    wilson_interval,
)
from pytest_autotune.values import Metrics, Stat

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "genai_bench"


@pytest.mark.parametrize(("df", "t"), [(1, 12.7062), (2, 4.3027), (3, 3.1824), (9, 2.2622),
                                       (30, 2.0423), (60, 2.0003), (1000, 1.9623)])
def test_t_values(df: int, t: float) -> None:
    assert t_value(df) == pytest.approx(t, abs=2e-4)


def test_t_beyond_the_table_and_other_levels() -> None:
    assert t_value(5, 0.99) == pytest.approx(4.0321, abs=0.01)
    assert t_value(10, 0.90) == pytest.approx(1.8125, abs=0.002)


def test_wilson_matches_the_textbook_values() -> None:
    iv = wilson_interval(3, 48)
    assert (iv.low, iv.high) == pytest.approx((0.02148, 0.16835), abs=1e-4)
    assert wilson_interval(0, 10).low == 0.0 and wilson_interval(10, 10).high == 1.0


@pytest.mark.parametrize(("q", "needed"), [(0.5, 6), (0.9, 36), (0.95, 72), (0.99, 368)])
def test_requests_to_bound_a_percentile(q: float, needed: int) -> None:
    assert requests_to_bound(q) == needed
    assert order_statistic_ranks(needed, q)[1] <= needed        # bounded from there on
    assert order_statistic_ranks(needed - 1, q)[1] == needed    # open one request before


def test_a_p99_from_48_requests_is_open_above_and_bounded_below() -> None:
    values = sorted(float(i) for i in range(1, 49))
    iv = quantile_interval(values, 0.99)
    assert iv.high == INF and iv.low == 46.0 and iv.n == 48


def test_order_statistic_intervals_cover_the_true_quantile() -> None:
    """95 % intervals of exponential samples contain the true quantile ≥ 95 % of the time."""
    rng = random.Random(7)
    for n, q in [(48, 0.5), (48, 0.9), (100, 0.95), (400, 0.99)]:
        true = -math.log(1 - q)
        hits = sum(quantile_interval(sorted(rng.expovariate(1) for _ in range(n)), q)
                   .contains(true) for _ in range(600))
        assert hits / 600 >= 0.93, (n, q, hits)


def test_mean_and_ratio_intervals_cover() -> None:
    rng = random.Random(3)
    mean_hits = ratio_hits = 0
    for _ in range(500):
        xs = [rng.gauss(10, 2) for _ in range(30)]
        mean_hits += mean_interval(xs).contains(10)
        den = [rng.uniform(1, 3) for _ in range(40)]
        num = [5 * d + rng.gauss(0, 0.5) for d in den]  # true ratio 5
        ratio_hits += ratio_interval(num, den).scaled(sum(num) / sum(den)).contains(5)
    assert mean_hits / 500 >= 0.92 and ratio_hits / 500 >= 0.92


def test_intervals_cross_json_with_open_sides() -> None:
    iv = Interval(1.5, INF, "order-statistic", 48)
    data = json.loads(json.dumps(iv.to_dict()))
    assert data["high"] is None and Interval.from_dict(data) == iv


def test_difference_of_two_estimates() -> None:
    a = Interval(95, 105, n=10)
    b = Interval(105, 115, n=10)
    d = difference_interval(100, a, 110, b)
    assert d.low == pytest.approx(10 - 5 * math.sqrt(2)) and d.contains(10)
    assert not difference_interval(100, Interval(90, INF), 110, b).bounded


def golden_point() -> tuple[Metrics, RequestSamples]:
    runs = read_runs(GOLDEN / "ms-grid")
    return next(iter(runs.values()))


def test_golden_run_gets_an_interval_for_every_statistic() -> None:
    metrics, samples = golden_point()
    assert len(samples) == metrics.num_completed
    m = with_intervals(metrics, samples, NO_FLOOR)
    for key in ("ttft.p50", "ttft.p99", "tpot.mean", "e2e.p90", "output_throughput",
                "request_throughput", "error_rate"):
        assert key in m.intervals, key
    # genai-bench's own percentile lies inside its interval
    p50, tput = m.interval("ttft", "p50"), m.interval("output_throughput")
    assert p50 is not None and metrics.ttft.p50 is not None and p50.contains(metrics.ttft.p50)
    assert tput is not None and tput.contains(metrics.output_throughput)


def test_the_noise_floor_widens_what_one_pass_cannot_see() -> None:
    metrics, samples = golden_point()
    bare = with_intervals(metrics, samples, NO_FLOOR).interval("output_throughput")
    floored = with_intervals(metrics, samples, NoiseFloor(0.02, 0.05)).interval(
        "output_throughput")
    assert bare is not None and floored is not None
    assert floored.relative_half_width(metrics.output_throughput) >= 1.96 * 0.02
    assert floored.low < bare.low and floored.high > bare.high


def test_pooled_passes_recompute_like_genai_bench() -> None:
    metrics, samples = golden_point()
    pooled = RequestSamples.pooled([samples, samples])
    again = point_estimates(pooled, [metrics, metrics])
    assert again.num_requests == 2 * metrics.num_requests and again.passes == 2
    assert again.output_throughput == pytest.approx(metrics.output_throughput, rel=0.02)
    assert again.ttft.p50 == pytest.approx(percentile(sorted(samples.ttft), 0.5))


def test_same_server_passes_keep_the_floor_and_redeployed_ones_shrink_it() -> None:
    """Passes on one server cannot average deployment noise away; redeployed passes can; with
    three passes a spread far above the floor takes over (the t interval over the passes)."""
    metrics, samples = golden_point()
    tput = metrics.output_throughput
    floor = NoiseFloor(0.02, 0.05)
    pooled = RequestSamples.pooled([samples] * 3)
    calm = [replace(metrics, output_throughput=tput * f) for f in (0.999, 1.0, 1.001)]
    wild = [replace(metrics, output_throughput=tput * f) for f in (0.9, 1.0, 1.1)]

    def half(passes: list[Metrics], redeployed: bool) -> float:
        m = with_intervals(replace(metrics, passes=3), pooled, floor, passes=passes,
                           redeployed=redeployed)
        interval = m.interval("output_throughput")
        assert interval is not None
        return interval.relative_half_width(tput)

    assert half(calm, False) >= 1.96 * 0.02  # the deployment's share stays
    assert 1.96 * 0.02 / math.sqrt(3) <= half(calm, True) < half(calm, False)
    for redeployed in (False, True):  # t(2) × sd / √3 of 0.9, 1.0, 1.1
        assert half(wild, redeployed) == pytest.approx(4.3027 * 0.1 / math.sqrt(3), rel=1e-3)


def metrics(p99: float, p99_interval: Interval | None, errors: int = 0) -> Metrics:
    intervals = {"ttft.p99": p99_interval} if p99_interval else {}
    return Metrics(ttft=Stat(p99=p99), tpot=Stat(), e2e=Stat(), output_latency=Stat(),
                   output_throughput=100.0, input_throughput=0, total_throughput=0,
                   request_throughput=1.0, num_requests=48, num_errors=errors, run_duration=1,
                   intervals=intervals)


@pytest.mark.parametrize(("p99", "interval", "state"), [
    (0.20, Interval(0.18, 0.25), "met"),
    (0.40, Interval(0.32, INF), "missed"),
    (0.28, Interval(0.25, INF), "unresolved"),   # 48 requests cannot bound a p99 from above
    (0.31, Interval(0.25, 0.35), "unresolved"),  # the estimate misses, within the noise
    (0.28, None, "met"),                         # no interval: judged as measured
])
def test_verdict_states(p99: float, interval: Interval | None, state: str) -> None:
    [v] = evaluate([parse_slo("ttft.p99 <= 300ms")], metrics(p99, interval))
    assert v.state == state
    assert v.hard_failure == (state == "missed")
    assert Verdict.from_dict(json.loads(json.dumps(v.to_dict()))) == v


def test_unresolved_fails_only_when_strict_and_says_what_it_needs() -> None:
    verdicts = evaluate([parse_slo("ttft.p99 <= 300ms")],
                        metrics(0.28, Interval(0.25, INF, "order-statistic", 48)))
    assert not fails(verdicts) and fails(verdicts, strict=True)
    text = verdicts[0].describe()
    assert "unresolved" in text and "a p99 needs ≥ 368 requests to be bounded, 48 measured" in text


def test_counted_metrics_are_judged_as_measured() -> None:
    m = metrics(0.2, None, errors=0)
    m = Metrics(**{**{f: getattr(m, f) for f in m.__dataclass_fields__},
                   "intervals": {"error_rate": wilson_interval(0, 48)}})
    [v] = evaluate([parse_slo("error_rate <= 1%")], m)
    assert v.state == "met"  # 0 of 48 failed: met, although Wilson's upper bound is 7 %


@pytest.mark.parametrize(("n", "q", "ranks"), [(100, 0.5, (40, 61)), (100, 0.9, (84, 96)),
                                                (48, 0.9, (39, 48)), (400, 0.99, (392, 400))])
def test_order_statistic_ranks_have_binomial_coverage_and_no_slack(
        n: int, q: float, ranks: tuple[int, int]) -> None:
    """[x_(l), x_(u)] covers the true quantile with probability P(l ≤ B < u), B ~ Bin(n, q): at
    least 95 %, with each tail at most 2.5 %, and moving either rank inwards breaks a tail."""
    from scipy.stats import binom

    low, high = order_statistic_ranks(n, q)
    assert (low, high) == ranks
    assert binom.cdf(high - 1, n, q) - binom.cdf(low - 1, n, q) >= 0.95
    assert binom.cdf(low - 1, n, q) <= 0.025 and binom.sf(high - 1, n, q) <= 0.025
    assert binom.cdf(low, n, q) > 0.025 and binom.sf(high - 2, n, q) > 0.025


def test_intervals_carry_their_degrees_of_freedom() -> None:
    assert mean_interval([1.0, 2.0, 4.0]).df == 2
    assert ratio_interval([1.0, 2.0, 3.0, 4.0], [1.0, 1.0, 1.0, 1.0]).df == 3
    assert quantile_interval([1.0, 2.0, 3.0], 0.5).df == INF
    assert wilson_interval(3, 48).df == INF
    assert mean_interval([1.0, 2.0, 4.0]).scaled(2).df == 2
    assert t_value(4) > t_value(4.5) > t_value(5)  # fractional (Welch) df


def test_degrees_of_freedom_cross_json_and_older_files_read_as_large_sample() -> None:
    iv = mean_interval([1.0, 2.0, 4.0])
    assert Interval.from_dict(json.loads(json.dumps(iv.to_dict()))) == iv
    assert json.loads(json.dumps(Interval(1, 2).to_dict()))["df"] is None
    assert Interval.from_dict({"low": 1.0, "high": 2.0, "method": "t", "n": 3}).df == INF


def test_three_passes_give_an_interval_on_two_degrees_of_freedom() -> None:
    """With a spread between passes far above the floor the between-passes t interval is used,
    and it says so with df = passes − 1; the per-request interval widened by the floor keeps
    many degrees of freedom (the floor counts as known)."""
    metrics, samples = golden_point()
    tput = metrics.output_throughput
    pooled = RequestSamples.pooled([samples] * 3)
    wild = [replace(metrics, output_throughput=tput * f) for f in (0.9, 1.0, 1.1)]
    m = with_intervals(replace(metrics, passes=3), pooled, NoiseFloor(0.02, 0.05), passes=wild)
    between = m.interval("output_throughput")
    assert between is not None and between.df == 2 and between.method.endswith("+passes")
    single = with_intervals(metrics, samples, NoiseFloor(0.02, 0.05)).interval(
        "output_throughput")
    assert single is not None and single.df > len(samples) - 1


def test_the_floor_adds_in_quadrature_with_the_t_interval_s_own_quantile() -> None:
    """A ratio interval on few requests (t(3) = 3.18) widened by a 2 % floor: the standard errors
    add, and the result's quantile is t at the Welch–Satterthwaite df."""
    from pytest_autotune.bench.intervals import _widen
    from pytest_autotune.decide.stats import critical, welch_df

    se = 1.0
    iv = Interval(100 - t_value(3) * se, 100 + t_value(3) * se, "ratio", 4, df=3)
    wide = _widen(iv, 100.0, 0.02)
    df = welch_df((se, 2.0), (3, INF))
    assert wide.df == pytest.approx(df)
    assert wide.high - 100 == pytest.approx(critical(df) * math.hypot(se, 2.0))
    normal = _widen(Interval(98.0, 102.0), 100.0, 0.02)  # large-sample: exactly as before
    assert normal.high - 100 == pytest.approx(math.hypot(2.0, 1.959964 * 2.0))
