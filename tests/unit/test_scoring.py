"""Objectives: the default (throughput under SLOs) and the earlier tool's, penalty included; the
score's interval; the best of a case (select_best)."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest

from pytest_autotune.decide.ranking import PROJECT_CHOICE, Decision
from pytest_autotune.decide.scoring import (
    OBJECTIVES,
    Score,
    adopt,
    better,
    capacity_bracket,
    score,
    score_interval,
    score_trial,
    seed_aggregate,
    select_best,
    slo_penalty,
    with_builtin_score,
)
from pytest_autotune.decide.slo import parse_slo
from pytest_autotune.decide.stats import INF, Interval, critical
from pytest_autotune.results.records import Trial, group_records
from pytest_autotune.values import Metrics

from .builders import around, record, scored_trial
from .builders import metrics as m


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


# -- the score's interval and the choice of the best ---------------------------------------------
def test_the_throughput_score_carries_the_interval_of_the_point_that_scored() -> None:
    """c8 reaches more tokens but misses TTFT: the score and its interval are c1's."""
    slos = [parse_slo("ttft.p99 <= 200ms")]
    c1 = m(500, 0.2, intervals={"output_throughput": around(500, 10)})
    c8 = m(3000, 0.5, ttft=0.2, intervals={"output_throughput": around(3000, 10)})
    t = trial([(1, c1), (8, c8)], slos, "max_output_throughput")
    t = with_builtin_score(t)
    assert t.score == 500 and t.score_interval == around(500, 10)


def test_a_throughput_open_on_one_side_gives_the_score_no_interval() -> None:
    t = trial([(1, m(500, 0.2, intervals={"output_throughput": Interval(450, INF)}))], [],
              "max_output_throughput")
    t = with_builtin_score(t)
    assert t.score == 500 and t.score_interval is None
    assert score_interval(t, None) is None


def test_an_earlier_tool_score_carries_the_relative_interval_of_its_mean() -> None:
    """Mean latency 0.3 s over two points whose means have standard errors 0.01 and 0.02 (many
    degrees of freedom): the mean's is √(0.01² + 0.02²)/2, carried over relatively."""
    points: list[tuple[int, Metrics | None]] = [
        (1, m(500, 0.2, intervals={"e2e.mean": around(0.2, 0.01)})),
        (4, m(900, 0.4, intervals={"e2e.mean": around(0.4, 0.02)}))]
    t = trial(points, [], "minimize_latency")
    t = with_builtin_score(t)
    assert t.score == pytest.approx(0.3) and t.score_interval is not None
    half = critical(INF) * math.sqrt(0.01**2 + 0.02**2) / 2
    assert (t.score_interval.low, t.score_interval.high) == pytest.approx((0.3 - half,
                                                                           0.3 + half))
    one_missing = trial([points[0], (4, m(900, 0.4))], [], "minimize_latency")
    one_missing = with_builtin_score(one_missing)
    assert one_missing.score is not None and one_missing.score_interval is None


def capacity_trial(probes: list[tuple[int, float]]) -> Trial:
    """A capacity search's probes (load, ttft mean) under ``ttft.p99 <= 200ms``."""
    slos = [parse_slo("ttft.p99 <= 200ms")]
    records = [record("a", c, m(500, 0.2, ttft=ttft), slos, "maximize_capacity")
               for c, ttft in probes]
    records = [replace(r, config=replace(r.config, capacity="D(1,1)")) for r in records]
    [t] = group_records(records)
    return t


def test_capacity_is_the_highest_load_that_held_and_its_bracket_the_interval() -> None:
    """Held at 1, 2, 4 and 5 users, missed at 6 and 8: capacity 5, known to within [5, 6]."""
    t = capacity_trial([(1, 0.05), (2, 0.05), (4, 0.08), (8, 0.2), (6, 0.15), (5, 0.09)])
    assert capacity_bracket(t) == (5, 6)
    t = with_builtin_score(t)
    assert t.score == 5 and t.score_interval is not None
    assert (t.score_interval.low, t.score_interval.high) == (5, 6)


def test_a_capacity_held_to_the_highest_load_has_no_ceiling_and_no_interval() -> None:
    t = capacity_trial([(1, 0.05), (2, 0.05), (4, 0.05)])
    assert capacity_bracket(t) == (4, None)
    t = with_builtin_score(t)
    assert t.score == 4 and t.score_interval is None
    missed = capacity_trial([(1, 0.2)])
    assert capacity_bracket(missed) == (None, None) and score_trial(missed) is None


def test_the_built_in_score_is_a_value_with_its_interval_and_scoring_sets_nothing() -> None:
    t = trial([(1, m(500, 0.2, intervals={"output_throughput": around(500, 10)}))], [],
              "max_output_throughput")
    assert score(t) == Score(500, around(500, 10))
    assert t.score is None and t.score_interval is None  # the store records it, not scoring
    copy = with_builtin_score(t)
    assert copy is not t and (copy.score, copy.score_interval) == (500, around(500, 10))
    assert t.score is None and t.score_interval is None
    none = trial([(8, m(3000, 0.5, ttft=0.2))], [parse_slo("ttft.p99 <= 200ms")],
                 "max_output_throughput")
    assert score(none) is None


def test_a_score_hook_s_plain_number_is_a_score_without_interval() -> None:
    assert Score.of(3) == Score(3, None)
    assert Score.of(None) is None
    built = Score(1.0, around(1.0, 0.1))
    assert Score.of(built) is built


def test_select_best_prefers_among_ties_and_ignores_unscored_trials() -> None:
    """Equal configurations are tied; the one with fewer non-default flags wins, and the
    decision says why, with the leader tied with it."""
    leader = scored_trial(0, 100, 2.0, 2, params={"tp-size": 2})
    other = scored_trial(1, 97, 2.0, 2)
    unscored = Trial(config=replace(other.config, config_id="c2", config_key="c2", index=2))
    decision = select_best([leader, other, unscored])
    assert decision.best is other and decision.leader is leader
    assert decision.tied_ids == ["c0"] and "by preference" in decision.reason
    assert not decision.chosen_by_project
    assert select_best([unscored]).best is None and select_best([]).best is None


def test_select_best_takes_the_leader_when_scores_have_no_interval() -> None:
    """A conftest's score has no interval: ties cannot be judged, the highest score wins."""
    leader = scored_trial(1, 1.0, None, params={"tp-size": 2})
    decision = select_best([scored_trial(0, 0.0, None), leader])
    assert decision.best is leader and decision.tied == () and decision.confidence is None


def test_select_best_follows_the_objective_s_direction() -> None:
    fast, slow = (scored_trial(i, v, 0.001, objective="minimize_latency")
                  for i, v in ((0, 0.2), (1, 0.4)))
    assert select_best([slow, fast]).best is fast
    assert better(0.2, 0.4, "minimize") and not better(0.2, 0.4, "maximize")


# -- a select_best hook's answer ------------------------------------------------------------------
def test_a_decision_from_select_best_is_used_as_it_is() -> None:
    trials = [scored_trial(0, 100, 2.0), scored_trial(1, 50, 2.0)]
    decision = Decision(best=trials[1], reason="mine")
    assert adopt(decision, trials) is decision


def test_a_trial_of_the_winner_s_configuration_is_the_ranking_s_decision() -> None:
    """Compared by case and configuration key: an equal copy of the winner (a project's hook
    may rebuild trials) is not an override, and the report's trial is the case's own."""
    leader = scored_trial(0, 100, 2.0, 2, params={"tp-size": 2})
    other = scored_trial(1, 97, 2.0, 2)
    decision = adopt(replace(other), [leader, other])
    assert decision == select_best([leader, other]) and decision.best is other
    assert not decision.chosen_by_project and "by preference" in decision.reason


def test_another_trial_is_the_project_s_choice_judged_against_it() -> None:
    """The project names the second of three: its ties and confidence are judged against it,
    and the reason says who chose."""
    trials = [scored_trial(0, 100, 1.0), scored_trial(1, 99, 1.0), scored_trial(2, 10, 1.0)]
    decision = adopt(replace(trials[1]), trials)
    assert decision.best is trials[1] and decision.chosen_by_project
    assert decision.reason == PROJECT_CHOICE and decision.leader is trials[0]
    assert decision.tied_ids == ["c0"] and decision.tied[0].difference == 1
    assert decision.confidence is not None and decision.confidence < 0.5


def test_no_trial_from_select_best_is_no_winner() -> None:
    decision = adopt(None, [scored_trial(0, 100, 1.0)])
    assert decision.best is None and decision.tied == ()
