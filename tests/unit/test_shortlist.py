"""The shortlist (shortlist.py): every configuration of a case's grid estimated in virtual time,
the K best by estimate chosen, and the estimate stored once per run for every process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_autotune.cases.case import Case
from pytest_autotune.decide.scoring import score, score_trial
from pytest_autotune.results.layout import RunLayout
from pytest_autotune.search.shortlist import Shortlist, build, cached, path_for, stored

from .builders import case_of, settings

WORKLOAD = {"scenarios": ["D(200,50)"], "concurrency": [1, 16], "max_requests": 32}


def grid(parameters: dict[str, list[Any]], **body: Any) -> Case:
    """A case the estimate can deploy (the simulator takes mistral-7b's shape)."""
    return case_of({"slo": ["error_rate <= 1%"], "sim": {"model": "mistral-7b"},
                    "workload": WORKLOAD, "parameters": parameters, **body},
                   name="grid", source="grid.yaml")


def estimate(tmp_path: Path, case: Case, k: int, run_id: str = "0001") -> Shortlist:
    return build(case, case.configurations, k, settings(tmp_path), run_id, score_trial, 8)


def test_the_k_best_by_estimate_are_chosen_best_first(tmp_path: Path) -> None:
    """One request at a time cannot fill a batch: more running requests, more throughput."""
    made = estimate(tmp_path, grid({"max-running-requests": [1, 2, 64]}), k=2)
    assert made.direction == "maximize" and made.k == 2
    assert [e.config_id for e in made.estimates] == [
        "max-running-requests=1", "max-running-requests=2", "max-running-requests=64"]
    scores = [e.score for e in made.estimates]
    assert all(s is not None for s in scores)
    assert scores[0] < scores[1] < scores[2]  # type: ignore[operator]
    assert made.chosen == ["grid[max-running-requests=64]", "grid[max-running-requests=2]"]
    assert made.rank_of("grid[max-running-requests=64]") == 1
    assert made.rank_of("grid[max-running-requests=1]") is None


def test_the_default_hook_s_score_keeps_its_value_and_interval(tmp_path: Path) -> None:
    """The default ``pytest_autotune_score_trial`` answers a Score (a number and its interval):
    the shortlist ranks by its value and keeps its interval beside the estimate."""
    case = grid({"max-running-requests": [1, 64]})
    made = build(case, case.configurations, 1, settings(tmp_path), "0001", score, 8)
    plain = estimate(tmp_path / "plain", case, k=1)
    assert [e.score for e in made.estimates] == [e.score for e in plain.estimates]
    assert made.chosen == ["grid[max-running-requests=64]"]
    for e in made.estimates:
        assert e.low is not None and e.high is not None
        assert e.low <= e.score <= e.high  # type: ignore[operator]


def test_a_minimized_objective_chooses_the_lowest(tmp_path: Path) -> None:
    made = estimate(tmp_path, grid({"max-running-requests": [1, 64]},
                                   objective="minimize_latency", slo=[]), k=1)
    low, high = made.estimates
    assert made.direction == "minimize" and high.score < low.score  # type: ignore[operator]
    assert made.chosen == ["grid[max-running-requests=64]"]


def test_what_cannot_start_is_estimated_as_infeasible_and_never_shortlisted(
    tmp_path: Path,
) -> None:
    made = estimate(tmp_path, grid({"tp-size": [1, 16], "mem-fraction-static": [0.8, 0.1]}),
                    k=4)
    assert made.chosen == ["grid[tp-size=1-mem-fraction-static=0.8]"]
    why = {e.config_id: (e.outcome, e.reason) for e in made.estimates if e.score is None}
    assert why == {
        "tp-size=1-mem-fraction-static=0.1": (
            "infeasible", "not enough memory for the KV cache (raise --mem-fraction-static)"),
        "tp-size=16-mem-fraction-static=0.8": (
            "infeasible", "not enough GPUs (CUDA: invalid device ordinal)"),
        "tp-size=16-mem-fraction-static=0.1": (
            "infeasible", "not enough GPUs (CUDA: invalid device ordinal)"),
    }


def test_a_configuration_meeting_no_slo_anywhere_is_not_shortlisted(tmp_path: Path) -> None:
    made = estimate(tmp_path, grid({"max-running-requests": [1, 64]},
                                   slo=["ttft.mean <= 1us"]), k=2)
    assert made.chosen == []
    assert {(e.outcome, e.reason) for e in made.estimates} == {
        ("failed", "no workload point met every SLO")}


def test_a_configuration_the_simulator_rejects_is_an_error(tmp_path: Path) -> None:
    case = case_of({"parameters": {"max-running-requests": [64]}, "workload": WORKLOAD})
    [only] = estimate(tmp_path, case, k=1).estimates
    assert only.outcome == "error" and only.score is None
    assert only.reason is not None and "--sim-model" in only.reason


def test_estimates_repeat_exactly_for_a_run_and_differ_between_runs(tmp_path: Path) -> None:
    """Seeded by the run id: every xdist worker of a run would estimate the same numbers."""
    case = grid({"max-running-requests": [64]}, sim={"model": "mistral-7b", "noise": 0.05})

    def score(run_id: str) -> float | None:
        return estimate(tmp_path, case, 1, run_id).estimates[0].score

    assert score("0001") == score("0001")
    assert score("0001") != score("0002")


def test_the_stored_estimate_is_made_once_and_read_by_every_other_process(
    tmp_path: Path,
) -> None:
    case = grid({"max-running-requests": [1, 64]})
    path = path_for(RunLayout.of(tmp_path, "0001"), case)
    assert path == tmp_path / "runs" / "0001" / "shortlist" / "grid-grid.yaml.json"
    made = cached(path, lambda: estimate(tmp_path, case, k=1))
    assert path.exists()

    def again() -> Shortlist:
        raise AssertionError("the stored shortlist is estimated again")

    assert cached(path, again) == made  # what a second xdist worker gets
    assert stored(RunLayout.of(tmp_path, "0001")) == [made]
    assert stored(RunLayout.of(tmp_path, "0002")) == []


def test_a_case_name_becomes_a_file_name() -> None:
    case = case_of({"workload": WORKLOAD}, name="my case/1", source="cases/a b.yaml")
    assert path_for(RunLayout(Path("run")), case) == \
        Path("run/shortlist/my_case_1-cases_a_b.yaml.json")


def test_a_shortlist_round_trips_through_its_file(tmp_path: Path) -> None:
    made = estimate(tmp_path, grid({"max-running-requests": [1, 64]}), k=1)
    assert made.chosen and all(e.score is not None for e in made.estimates)
    assert Shortlist.from_dict(made.to_dict()) == made
