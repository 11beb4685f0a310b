"""Estimate mode (the simulator's scheduler in virtual time, in-process) and
``--autotune-shortlist`` (estimate the space, measure the K best) through the plugin."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ..scratch import case, results, run

GRID = """\
parameters:
  max-running-requests: [1, 2, 64]
workload: {scenarios: ["D(200,50)"], concurrency: [1, 16], max_requests: 32}
slo: ["error_rate <= 1%"]
"""


def run_dir(project: pytest.Pytester) -> Path:
    (found,) = (project.path / "results" / "runs").iterdir()
    return found


def test_estimate_mode_measures_every_point_in_process(project: pytest.Pytester) -> None:
    project.makefile(".yaml", grid=case("grid", GRID))
    result = run(project, "grid.yaml", "--autotune-mode=estimate")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["ESTIMATED: numbers come from the simulator's model*"])
    data = results(project, "grid")
    scores = {e["config_id"]: e["objective_score"] for e in data["all_results"]}
    # one request at a time cannot fill a batch: more running requests, more throughput
    assert scores["max-running-requests=1"] < scores["max-running-requests=2"] \
        < scores["max-running-requests=64"]
    assert data["best_result"]["config_id"] == "max-running-requests=64"
    # nothing was started: no genai-bench output, no server log, no simulator process
    assert not list(run_dir(project).glob("grid/*/genai-bench-*"))
    assert list(run_dir(project).glob("grid/*/estimate.log"))


def test_estimate_mode_runs_genai_bench_accounting(project: pytest.Pytester) -> None:
    """Runs stop at a whole-second tick once max_requests finished, as genai-bench's do; the
    duration is that tick, and genai-bench's aggregate (kept for reference) counts what finished
    by then; the throughput decided on is the steady window's, as for a measured run."""
    project.makefile(".yaml", grid=case("grid", GRID))
    run(project, "grid.yaml", "--autotune-mode=estimate").assert_outcomes(passed=6)
    for entry in results(project, "grid")["all_results"]:
        for point in entry["points"]:
            metrics = point["metrics"]
            assert metrics["num_requests"] >= 32
            assert metrics["run_duration"] == pytest.approx(round(metrics["run_duration"]))
            tokens = metrics["genai_bench_output_throughput"] * metrics["run_duration"]
            assert tokens == pytest.approx(50 * metrics["num_requests"])
            steady = metrics["steady"]
            assert steady["requests"] + steady["spawn_requests"] == metrics["num_requests"]
            assert metrics["output_throughput"] == pytest.approx(
                50 * steady["requests"] / steady["seconds"], rel=1e-3)


def test_estimate_mode_reports_what_cannot_start_as_infeasible(project: pytest.Pytester) -> None:
    project.makefile(".yaml", wide=case("wide", """\
        parameters:
          tp-size: [1, 16]
          mem-fraction-static: [0.8, 0.1]
        slo: ["error_rate <= 1%"]
        """))
    result = run(project, "wide.yaml", "--autotune-mode=estimate")
    assert result.parseoutcomes() == {"passed": 2, "infeasible": 6}
    out = result.stdout.str()
    assert "tp-size=1 mem-fraction-static=0.1   INFEASIBLE: not enough memory for the KV " \
        "cache" in out
    assert "tp-size=16 mem-fraction-static=0.8  INFEASIBLE: not enough GPUs" in out


def test_estimates_repeat_exactly_with_a_pinned_seed(project: pytest.Pytester) -> None:
    project.makefile(".yaml", grid=case("grid", GRID.replace(
        "slo:", "sim: {gpu: h100, noise: 0.02, seed: 5}\nslo:")))
    scores = []
    for _ in range(2):
        run(project, "grid.yaml", "--autotune-mode=estimate").assert_outcomes(passed=6)
        scores.append([e["objective_score"] for e in results(project, "grid")["all_results"]])
    assert scores[0] == scores[1]


def test_a_shortlist_measures_only_the_k_best_by_estimate(project: pytest.Pytester) -> None:
    project.makefile(".yaml", grid=case("grid", GRID))
    result = run(project, "grid.yaml", "--autotune-shortlist=1", "-v")
    result.assert_outcomes(passed=2)  # one configuration, two points, measured in sim mode
    result.stdout.fnmatch_lines([
        "*grid.yaml::max-running-requests=64::D(200,50)-c1 PASSED*",
        "*shortlist: 3 configurations estimated in * s (ESTIMATED), the 1 best measured (K = 1)",
        "*rank*configuration*estimate*measured*",
        "*1*max-running-requests=64*tok/s*tok/s*shortlisted",
        "*max-running-requests=1 *tok/s*not shortlisted",
    ])
    assert "SIMULATED" in result.stdout.str()  # the measured stage's numbers are sim mode's
    stored = json.loads(next((run_dir(project) / "shortlist").glob("*.json")).read_text())
    assert stored["chosen"] == ["grid[max-running-requests=64]"]
    assert len(stored["estimates"]) == 3
    report = (run_dir(project) / "report.html").read_text()
    assert "<h3>Shortlist</h3>" in report


@pytest.mark.slow
def test_xdist_workers_share_one_shortlist(project: pytest.Pytester) -> None:
    project.makefile(".yaml", grid=case("grid", GRID))
    result = run(project, "grid.yaml", "--autotune-shortlist=2", "-n", "2")
    result.assert_outcomes(passed=4)  # both workers collected the same two configurations
    assert len(list((run_dir(project) / "shortlist").glob("*.json"))) == 1


def test_a_space_a_grid_cannot_list_runs_without_a_shortlist(project: pytest.Pytester) -> None:
    project.makefile(".yaml", drawn=case("drawn", """\
        search: {strategy: random, trials: 1, seed: 3}
        parameters:
          mem-fraction-static: {low: 0.7, high: 0.9}
        slo: ["error_rate <= 1%"]
        """))
    result = run(project, "drawn.yaml", "--autotune-shortlist=2", "--autotune-mode=estimate",
                 "-W", "always")
    result.assert_outcomes(passed=2)
    result = run(project, "drawn.yaml", "--autotune-shortlist=2")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*--autotune-shortlist needs a space a grid can list*"])
