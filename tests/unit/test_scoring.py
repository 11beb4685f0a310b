"""Objectives: the default (throughput under SLOs) and the earlier tool's, penalty included."""

from __future__ import annotations

import math
from typing import Any

import pytest

from pytest_autotune.model import Metrics
from pytest_autotune.results import Trial, group_records
from pytest_autotune.scoring import OBJECTIVES, seed_aggregate, slo_penalty
from pytest_autotune.slo import parse_slo

from .builders import metrics as m
from .builders import record


def trial(points: list[tuple[int, Metrics | None]], slos: list[Any], objective: str) -> Trial:
    [t] = group_records([record("a", c, mm, slos, objective) for c, mm in points])
    return t


def test_default_objective_is_best_throughput_where_every_slo_holds() -> None:
    slos = [parse_slo("ttft.p99 <= 200ms")]
    t = trial([(1, m(500, 0.2, ttft=0.05)), (8, m(3000, 0.5, ttft=0.2))], slos,
              "max_output_throughput")
    assert OBJECTIVES["max_output_throughput"].score(t) == 500  # c8 misses TTFT (0.4 s p99)


def test_no_compliant_point_means_no_score() -> None:
    t = trial([(8, m(3000, 0.5, ttft=0.2))], [parse_slo("ttft.p99 <= 200ms")],
              "max_output_throughput")
    assert OBJECTIVES["max_output_throughput"].score(t) is None


def test_seed_latency_is_mean_over_points_without_slos() -> None:
    t = trial([(1, m(500, 0.2)), (4, m(900, 0.4))], [], "minimize_latency")
    assert OBJECTIVES["minimize_latency"].score(t) == pytest.approx(0.3)
    agg = seed_aggregate(t.points)
    assert agg is not None and agg["p90_e2e_latency"] == pytest.approx(0.36)


def test_seed_penalty_matches_the_documented_example() -> None:
    # r = 0.10 over a soft SLO with weight 2 and steepness 0.1: P = 2·e, score = base·(1 + 2e)
    slo = parse_slo("e2e.mean <= 0.25s", hard=False, weight=2.0)
    t = trial([(1, m(500, 0.275))], [slo], "minimize_latency")
    penalty, hard = slo_penalty(t)
    assert not hard and penalty == pytest.approx(2 * math.e)
    assert OBJECTIVES["minimize_latency"].score(t) == pytest.approx(0.275 * (1 + 2 * math.e))


def test_seed_hard_failure_past_fail_ratio_disqualifies() -> None:
    slo = parse_slo("e2e.p90 <= 0.2s", fail_ratio=0.2)
    t = trial([(1, m(500, 0.3))], [slo], "minimize_latency")
    assert slo_penalty(t)[1] is True
    assert OBJECTIVES["minimize_latency"].score(t) is None


def test_seed_maximize_throughput_is_negative_total_per_gpu() -> None:
    [t] = group_records([record("a", 1, m(500, 0.2), [], "maximize_throughput",
                                gpus=["0", "1"])])
    assert OBJECTIVES["maximize_throughput"].score(t) == pytest.approx(-500.0)


def test_hard_failed_points_are_dropped_before_averaging() -> None:
    slo = parse_slo("e2e.mean <= 0.3s", fail_ratio=0.0)
    t = trial([(1, m(500, 0.2)), (4, m(900, 0.9))], [slo], "minimize_latency")
    agg = seed_aggregate(t.points)
    assert agg is not None and agg["mean_e2e_latency"] == pytest.approx(0.2)
