"""The gate's verdict on one metric (gate.judge): Welch's interval of the relative change, at the
degrees of freedom the two measurements carry."""

from __future__ import annotations

import math

import pytest

from pytest_autotune.decide.gate import judge
from pytest_autotune.decide.stats import INF, Interval, difference_interval, t_value

from .builders import around


def test_a_ten_percent_drop_of_three_pass_throughputs_is_a_regression() -> None:
    """Throughput 1000 → 900, each a t interval over three passes with standard error 20: the
    difference's standard error is 28.3 on Welch's 4 degrees of freedom, so the change is
    −10 % ± 7.9 %: a regression. Recovering the standard errors with z instead of t(2) (2.2 times
    too large) would call it within the noise (±12.2 %)."""
    change = judge("output_throughput", True, 1000.0, around(1000, 20, 2), 900.0,
                   around(900, 20, 2), 0.05)
    assert change.verdict == "regression"
    assert change.interval is not None and change.interval.df == pytest.approx(4)
    half = t_value(4) * 20 * math.sqrt(2) / 1000
    assert (change.interval.low, change.interval.high) == pytest.approx((-0.1 - half,
                                                                         -0.1 + half))


def test_the_same_drop_is_only_worse_within_threshold_when_smaller() -> None:
    change = judge("output_throughput", True, 1000.0, around(1000, 5), 960.0, around(960, 5),
                   0.05)
    assert change.verdict == "worse within threshold"


def test_identical_runs_differ_within_the_noise() -> None:
    change = judge("ttft.p90", False, 0.200, around(0.200, 0.004, 2), 0.203,
                   around(0.203, 0.004, 2), 0.05)
    assert change.verdict == "within noise"


def test_a_latency_going_down_is_an_improvement() -> None:
    change = judge("ttft.p90", False, 0.200, around(0.200, 0.002), 0.150,
                   around(0.150, 0.002), 0.05)
    assert change.verdict == "improvement"


def test_an_open_interval_leaves_the_change_unresolved() -> None:
    change = judge("ttft.p99", False, 0.2, Interval(0.18, INF), 0.3, around(0.3, 0.01), 0.05)
    assert change.verdict == "unresolved" and change.interval is None


def test_welch_degrees_of_freedom_of_a_difference() -> None:
    """Equal standard errors on 2 and 2 df: 4; on 2 and ∞ (a large-sample side): 8; both
    large-sample: ∞ and the normal quantile."""
    d = difference_interval(100, around(100, 2, 2), 110, around(110, 2, 2))
    assert d.df == pytest.approx(4.0)
    assert difference_interval(100, around(100, 2, 2), 110, around(110, 2)).df == \
        pytest.approx(2 * 4)  # (s² + s²)² / (s⁴ / 2) = 8
    wide = difference_interval(100, around(100, 2), 110, around(110, 2))
    assert wide.df == INF and wide.high - 10 == pytest.approx(1.959964 * 2 * math.sqrt(2))
