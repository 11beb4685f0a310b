"""The winner and its ties (ranking.py): the studentized range at the scores' own degrees of
freedom, Games–Howell pairs, and the decisions made with them."""

from __future__ import annotations

import dataclasses
import math
import random

import pytest

from pytest_autotune.decide.ranking import (
    PROJECT_CHOICE,
    chosen,
    confidence,
    decide,
    range_quantile,
    same_configuration,
    tied_with,
)
from pytest_autotune.decide.stats import INF, Interval, critical, mean_interval, t_value
from pytest_autotune.results.records import ConfigIdentity, Trial

from .builders import scored_trial as trial


@pytest.mark.parametrize(("k", "df", "q"), [
    (2, INF, 2.772), (4, INF, 3.633), (20, INF, 5.012),  # Harter (1960), q(k, ∞)
    (3, 10, 3.877), (5, 20, 4.232), (4, 2, 9.798),       # q(k, df) at small df
])
def test_range_quantile_matches_the_published_table(k: int, df: float, q: float) -> None:
    assert range_quantile(k, df) == pytest.approx(q, abs=2e-3)


def test_two_means_reduce_to_student_t() -> None:
    for df in (2, 4, 30, INF):
        assert range_quantile(2, df) / math.sqrt(2) == pytest.approx(critical(df), rel=1e-4)


def test_fractional_degrees_of_freedom_round_down_never_up() -> None:
    assert range_quantile(3, 4.7) == range_quantile(3, 4)
    assert range_quantile(3, 4.7) > range_quantile(3, 5)
    assert range_quantile(4, 5000) == range_quantile(4, INF)  # beyond 1,000: within 0.1 %


def test_the_standard_error_is_recovered_with_the_interval_s_own_t() -> None:
    """A three-pass interval's half width is t(2) = 4.30 standard errors, not z = 1.96."""
    iv = Interval(100 - t_value(2) * 2.0, 100 + t_value(2) * 2.0, "t", 3, df=2)
    assert iv.standard_error == pytest.approx(2.0)
    assert Interval(98.04, 101.96).standard_error == pytest.approx(1.0, rel=1e-3)


def test_a_six_percent_gap_is_a_tie_at_two_degrees_of_freedom_and_not_at_many() -> None:
    """Scores 100, 94, 80 with standard error 2 each: with many requests behind each score
    (df = ∞: q(3, ∞)/√2 × 2√2 = 6.6) 94 is tied with the leader and 80 is not; with three
    passes each (df = 2 per score, Welch df = 4 for a pair: q(3, 4)/√2 × 2√2 = 10.1) 94 is, 80
    still is not; a 9 % gap separates only with the many."""
    many = [trial(0, 100, 2.0), trial(1, 94, 2.0), trial(2, 80, 2.0)]
    few = [trial(0, 100, 2.0, 2), trial(1, 94, 2.0, 2), trial(2, 80, 2.0, 2)]
    assert [t.trial.index for t in tied_with(many[0], many, "maximize")] == [1]
    assert [t.trial.index for t in tied_with(few[0], few, "maximize")] == [1]
    gap_many = [trial(0, 100, 2.0), trial(1, 91, 2.0), trial(2, 80, 2.0)]
    gap_few = [trial(0, 100, 2.0, 2), trial(1, 91, 2.0, 2), trial(2, 80, 2.0, 2)]
    assert tied_with(gap_many[0], gap_many, "maximize") == []
    [tie] = tied_with(gap_few[0], gap_few, "maximize")
    assert tie.trial.index == 1 and tie.difference == -9
    assert tie.interval.df == pytest.approx(4)  # Welch–Satterthwaite of two df = 2 scores
    assert tie.interval.high - tie.difference == pytest.approx(
        range_quantile(3, 4) / math.sqrt(2) * 2 * math.sqrt(2))


def test_the_tie_grows_with_the_number_of_configurations() -> None:
    """Tukey's range over k: the same 6.8 gap is a tie among four configurations, not two."""
    two = [trial(0, 100, 2.0), trial(1, 93.2, 2.0)]
    four = [*two, trial(2, 80, 2.0), trial(3, 70, 2.0)]
    assert tied_with(two[0], two, "maximize") == []
    assert [t.trial.index for t in tied_with(four[0], four, "maximize")] == [1]


def test_a_configuration_without_an_interval_is_never_tied() -> None:
    trials = [trial(0, 100, 2.0), trial(1, 99.9, None)]
    assert tied_with(trials[0], trials, "maximize") == []
    assert confidence(trials[0], trials, "maximize") is None


def test_among_ties_the_preferred_configuration_wins() -> None:
    leader = trial(0, 100, 2.0, 2, params={"tp-size": 2})
    other = trial(1, 97, 2.0, 2)
    decision = decide([leader, other], "maximize")
    assert decision.leader is leader and decision.best is other
    assert decision.tied_ids == ["c0"] and "by preference" in decision.reason


def test_a_clear_winner_with_many_degrees_of_freedom() -> None:
    leader = trial(0, 100, 1.0, 500, params={"tp-size": 2})
    other = trial(1, 90, 1.0, 500)
    decision = decide([leader, other], "maximize")
    assert decision.best is leader and decision.tied == () and decision.reason == "clear winner"
    assert decision.confidence is not None and decision.confidence > 0.999


def test_a_decision_is_a_value() -> None:
    decision = decide([trial(0, 100, 1.0), trial(1, 90, 1.0)], "maximize")
    with pytest.raises(dataclasses.FrozenInstanceError):
        decision.reason = "changed"  # type: ignore[misc]


def test_a_configuration_named_from_outside_is_judged_against_itself() -> None:
    """The ties and the confidence of a best the ranking did not choose are those of that
    configuration, and the decision says who chose it."""
    leader, named, far = trial(0, 100, 1.0), trial(1, 99, 1.0), trial(2, 10, 1.0)
    decision = chosen(named, [leader, named, far], "maximize", leader=leader)
    assert decision.best is named and decision.leader is leader and decision.chosen_by_project
    assert decision.tied_ids == ["c0"] and decision.reason == PROJECT_CHOICE
    assert decision.confidence == confidence(named, [leader, named, far], "maximize")
    assert decision.confidence is not None and decision.confidence < 0.5


def test_configurations_are_the_same_by_case_and_key_not_by_object() -> None:
    a = trial(0, 100, 1.0)
    assert same_configuration(a, dataclasses.replace(a, score=1.0))
    assert not same_configuration(a, trial(1, 100, 1.0))
    other_case = dataclasses.replace(a, config=dataclasses.replace(a.config, case="other"))
    assert not same_configuration(a, other_case)


def test_minimize_ranks_the_lowest_first() -> None:
    decision = decide([trial(0, 10, 0.1), trial(1, 5, 0.1)], "minimize")
    assert decision.best is not None and decision.best.index == 1


def test_confidence_is_student_t_at_the_pair_s_degrees_of_freedom() -> None:
    """A 5-point lead over a difference with standard error 2√2: P(T₄ ≤ 1.77) with three passes
    each, Φ(1.77) with many requests."""
    z = 5 / (2 * math.sqrt(2))
    few = [trial(0, 100, 2.0, 2), trial(1, 95, 2.0, 2)]
    many = [trial(0, 100, 2.0), trial(1, 95, 2.0)]
    from scipy.stats import norm, t

    assert confidence(few[0], few, "maximize") == pytest.approx(t.cdf(z, 4))
    assert confidence(many[0], many, "maximize") == pytest.approx(norm.cdf(z))
    assert confidence(few[0], few, "maximize") < confidence(many[0], many, "maximize")  # type: ignore[operator]


def test_equal_configurations_of_three_passes_tie_about_95_percent_of_the_time() -> None:
    """Four configurations equal by construction, each scored by the t interval of three passes
    (df = 2): the leader is reported tied with all the others in about 95 % of draws, as the
    studentized range promises at those degrees of freedom (97 % here: a pair's Welch df is
    rounded down). Dividing the t(2) interval by z instead, as a large-sample rule would, ties
    them in nearly every draw."""
    rng = random.Random(23)
    draws, all_tied = 600, 0
    for _ in range(draws):
        trials = []
        for index in range(4):
            passes = [rng.gauss(1000, 30) for _ in range(3)]
            iv = mean_interval(passes)
            score = (iv.low + iv.high) / 2
            trials.append(Trial(config=ConfigIdentity(
                case="k", source="k.yaml", config_id=f"c{index}", config_key=f"c{index}",
                index=index, params={}), score=score, score_interval=iv))
        leader = max(trials, key=lambda t: t.score or 0.0)
        all_tied += len(tied_with(leader, trials, "maximize")) == 3
    assert 0.92 <= all_tied / draws <= 0.985, all_tied
