"""The earlier autotuner's task files run unchanged and write its results layout (points measured
by the genai-bench stand-in, tests/standin)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ..standin import use_standin

pytestmark = [pytest.mark.slow]

SEEDS = Path(__file__).resolve().parents[2] / "fixtures" / "seed"


def test_seed_task_files_run_in_sim_mode(project: pytest.Pytester) -> None:
    use_standin(project)
    for path in SEEDS.glob("*.json"):
        shutil.copy(path, project.path / path.name)
    result = project.runpytest_subprocess(
        "docker-simple-tune.json", "legacy-choice-tune.json", "slo-throughput-tune.json",
        "--autotune-sim-startup-scale", "0.02", "-p", "no:cacheprovider",
        # two of the four 8B configurations are enough to show the objective at work
        "-k", "not (chunked-prefill-size=8192)",
    )
    result.assert_outcomes(passed=10, deselected=4)
    results = project.path / "results"
    # -k makes it a partial run: its results are written beside where complete ones go
    assert not (results / "docker-simple-tune_results.json").exists()

    simple = json.loads((results / "docker-simple-tune_results.partial.json").read_text())
    assert simple["task_name"] == "docker-simple-tune" and simple["strategy"] == "grid_search"
    assert simple["complete"] is False and simple["incomplete_reasons"] == [
        "items selected with -k"]
    assert simple["total_experiments"] == 2 and simple["successful_experiments"] == 2
    assert simple["objective"] == "minimize_latency"
    ids = {e["experiment_id"] for e in simple["all_results"]}
    assert ids == {1, 2}
    best = simple["best_result"]
    # lower is better, as before: the best is the lowest score, or tied with it within the noise
    # (a tie goes to the preferred configuration, docs/metrics.md)
    leader = min(simple["all_results"], key=lambda e: e["objective_score"])
    assert best["objective_score"] == leader["objective_score"] or \
        leader["config_id"] in best["tied_with"]
    assert best["objective_score"] == pytest.approx(best["metrics"]["mean_e2e_latency"])
    assert best["parameters"].keys() == {"tp-size", "mem-fraction-static"}
    assert {r["num_concurrency"] if "num_concurrency" in r else r["concurrency"]
            for r in best["metrics"]["raw_results"]} == {1, 4}

    legacy = json.loads((results / "legacy-choice-tune_results.partial.json").read_text())
    # the earlier spellings come back in the results as they were written
    assert legacy["best_result"]["parameters"]["mem_frac"] in (0.75, 0.85)
    assert set(legacy["best_result"]["parameters"]) == {"tp_size", "mem_frac", "schedule_policy"}
    assert legacy["best_result"]["objective_score"] == pytest.approx(
        legacy["best_result"]["metrics"]["mean_ttft"])

    slo = json.loads((results / "slo-throughput-tune_results.partial.json").read_text())
    assert slo["total_experiments"] == 2 and slo["objective"] == "maximize_throughput"
    for entry in slo["all_results"]:
        assert entry["objective_score"] < 0  # −tokens/s per GPU, lower is better
        assert {v["slo"] for p in entry["points"] for v in p["verdicts"]} == {
            "e2e.p50 <= 2s", "e2e.p90 <= 5s", "ttft.mean <= 1s", "tpot.mean <= 0.05s"}
