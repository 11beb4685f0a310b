"""Racing (racing.py): a configuration gets more benchmark passes only while a hard SLO verdict
is unresolved and more requests could resolve it, or while it is tied with the leader so far."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from pytest_autotune.backends.base import ServerHandle, ServerSpec
from pytest_autotune.backends.estimate import EstimateBackend
from pytest_autotune.cases.case import Case
from pytest_autotune.decide.racing import Racing, provisional_trial, resolvable
from pytest_autotune.decide.scoring import with_builtin_score
from pytest_autotune.decide.slo import Verdict, parse_slo
from pytest_autotune.decide.stats import INF, Interval
from pytest_autotune.engine.deploy import Deployment, DeploymentService, PassPlan
from pytest_autotune.results.records import Trial
from pytest_autotune.search.shortlist import estimate_trial
from pytest_autotune.values import Configuration, Metrics, WorkloadPoint

from .builders import around, case_of, metrics, settings

POINT = WorkloadPoint("D(1,1)", 1)


def two_configs(slos: Sequence[str] = ("error_rate <= 1%",)) -> Case:
    return case_of({"slo": list(slos), "parameters": {"mem-fraction-static": [0.7, 0.8]},
                    "workload": {"scenarios": ["D(1,1)"], "concurrency": [1],
                                 "max_requests": 48}})


def deployment(tmp_path: Path, case: Case, config: Configuration, cap: int) -> Deployment:
    handle = ServerHandle("http://127.0.0.1:1", ServerSpec.from_case(case, config), [])
    return Deployment(case, config, handle, settings(tmp_path), tmp_path, [POINT],
                      passes=PassPlan(first=1, cap=cap))


def scored(out: float, se: float) -> Metrics:
    """A point reaching ``out`` tok/s, the throughput's interval with standard error ``se``."""
    return metrics(out, 0.2, intervals={"output_throughput": around(out, se)})


# -- which unresolved verdicts more passes can resolve --------------------------------------------
def open_above(slo: str, n: int, hard: bool = True) -> Verdict:
    """A percentile of ``n`` requests, below the threshold but with no upper bound yet."""
    return Verdict(parse_slo(slo, hard=hard), 0.2, Interval(0.1, INF, "order", n))


def test_an_open_p95_is_worth_the_passes_that_reach_the_72_requests_it_needs() -> None:
    """A p95 needs 72 requests to be bounded: 30 cannot, three passes of 30 can, two cannot."""
    verdict = open_above("ttft.p95 <= 10s", 30)
    assert verdict.state == "unresolved"
    assert resolvable(verdict, passes_done=1, cap=3)
    assert not resolvable(verdict, passes_done=1, cap=2)


def test_an_open_p99_is_not_worth_passes_that_cannot_reach_368_requests() -> None:
    verdict = open_above("ttft.p99 <= 10s", 48)
    assert not resolvable(verdict, passes_done=1, cap=3)  # 144 requests at most
    assert resolvable(verdict, passes_done=1, cap=8)      # 384
    # two passes already pooled 48: six more reach 384
    assert resolvable(open_above("ttft.p99 <= 10s", 96), passes_done=2, cap=8)


def test_a_straddling_interval_is_narrowed_by_more_requests() -> None:
    verdict = Verdict(parse_slo("ttft.p95 <= 10s"), 9.0, Interval(8.0, 12.0, "order", 400))
    assert verdict.state == "unresolved" and resolvable(verdict, passes_done=1, cap=2)


def test_nothing_to_resolve_without_an_unresolved_hard_verdict_or_passes_left() -> None:
    assert not resolvable(open_above("ttft.p95 <= 10s", 30, hard=False), 1, 3)  # soft
    assert not resolvable(open_above("ttft.p95 <= 10s", 30), passes_done=3, cap=3)
    met = Verdict(parse_slo("ttft.p95 <= 10s"), 0.2, Interval(0.1, 0.3, "order", 400))
    assert met.state == "met" and not resolvable(met, 1, 3)


# -- the pass policy ------------------------------------------------------------------------------
def test_an_unresolved_verdict_asks_for_another_pass_before_any_race(tmp_path: Path) -> None:
    case = two_configs(["ttft.p99 <= 10s"])
    first = case.configurations[0]
    results = {POINT: metrics(500, 0.2, intervals={"ttft.p99": Interval(0.05, INF, "order",
                                                                        48)})}
    racing = Racing(lambda c: [])
    assert racing(deployment(tmp_path, case, first, cap=8), results, 1) == \
        "ttft.p99 <= 10s unresolved at D(1,1)-c1"
    assert racing(deployment(tmp_path, case, first, cap=3), results, 1) is None


def test_the_first_configuration_has_no_one_to_race(tmp_path: Path) -> None:
    case = two_configs()
    racing = Racing(lambda c: [])
    assert racing(deployment(tmp_path, case, case.configurations[0], 3),
                  {POINT: scored(1000, 20)}, 1) is None


def field_of(case: Case, out: float, se: float) -> list[Trial]:
    """The first configuration, measured and scored: the leader so far."""
    return [provisional_trial(case, case.configurations[0], {POINT: scored(out, se)})]


def test_a_configuration_tied_with_the_leader_gets_another_pass(tmp_path: Path) -> None:
    case = two_configs()
    racing = Racing(lambda c: field_of(c, 1000, 20))
    second = deployment(tmp_path, case, case.configurations[1], 3)
    assert racing(second, {POINT: scored(990, 20)}, 1) == \
        "tied with the leader so far, mem-fraction-static=0.7"


def test_a_configuration_clearly_behind_or_ahead_stops_after_one_pass(tmp_path: Path) -> None:
    case = two_configs()
    racing = Racing(lambda c: field_of(c, 1000, 5))
    second = deployment(tmp_path, case, case.configurations[1], 3)
    assert racing(second, {POINT: scored(500, 5)}, 1) is None
    assert racing(second, {POINT: scored(2000, 5)}, 1) is None


def test_a_score_without_an_interval_is_not_raced(tmp_path: Path) -> None:
    case = two_configs()
    racing = Racing(lambda c: field_of(c, 1000, 20))
    second = deployment(tmp_path, case, case.configurations[1], 3)
    assert racing(second, {POINT: metrics(990, 0.2)}, 1) is None


def test_a_configuration_is_not_raced_against_its_own_earlier_score(tmp_path: Path) -> None:
    case = two_configs()
    racing = Racing(lambda c: field_of(c, 1000, 20))
    first = deployment(tmp_path, case, case.configurations[0], 3)
    assert racing(first, {POINT: scored(990, 20)}, 1) is None


def test_the_provisional_trial_is_scored_by_the_built_in_objective() -> None:
    case = two_configs(["ttft.p99 <= 50ms"])
    trial = provisional_trial(case, case.configurations[1], {POINT: scored(1000, 20)})
    assert trial.config_key == "t[mem-fraction-static=0.8]"
    assert trial.score is None  # ttft.p99 is 0.1 s: no point met every SLO
    trial = provisional_trial(two_configs(), case.configurations[1], {POINT: scored(1000, 20)})
    assert trial.score == 1000 and trial.score_interval == around(1000, 20)


# -- in a deployment: passes spent only on contenders --------------------------------------------
@pytest.mark.parametrize("race", [True, False])
def test_racing_spends_repeats_only_on_contenders(tmp_path: Path, race: bool) -> None:
    """Two equal configurations with three repeats, estimated in virtual time: the first has
    no one to race and stops after one pass, the second is tied with it and gets all three;
    without racing both get three."""
    case = case_of({"slo": ["error_rate <= 1%"], "sim": {"model": "mistral-7b"},
                    "parameters": {"mem-fraction-static": [0.7, 0.8]},
                    "workload": {"scenarios": ["D(50,20)"], "concurrency": [2],
                                 "max_requests": 24, "repeats": 3}})
    done: list[Trial] = []
    backend = EstimateBackend(pool_size=8)
    service = DeploymentService(settings(tmp_path, mode="estimate", race=race), backend, "r",
                                None, bench=backend.runner, more_passes=Racing(lambda c: done))
    for config in case.configurations:
        done.append(with_builtin_score(estimate_trial(service, case, config)))
    if race:
        assert [t.passes for t in done] == [1, 3]
        assert done[1].deployment.extra_passes == (
            "tied with the leader so far, mem-fraction-static=0.7",) * 2
    else:
        assert [t.passes for t in done] == [3, 3]
        assert [t.deployment.extra_passes for t in done] == [(), ()]
