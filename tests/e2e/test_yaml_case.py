"""A YAML case end to end in sim mode: deployments, genai-bench, SLO verdicts, reports."""

from __future__ import annotations

import json

import pytest

from ..scratch import case

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def test_yaml_case_runs_scores_and_reports(project: pytest.Pytester) -> None:
    project.makefile(".yaml", chat=case("chat", """\
        parameters:
          mem-fraction-static: [0.15, 0.85]
        slo:
          - error_rate <= 1%
          - tpot.p50 <= 1s
    """))
    result = project.runpytest_subprocess("chat.yaml", "-rs", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    assert result.parseoutcomes()["infeasible"] == 2
    result.stdout.fnmatch_lines([
        "*SIMULATED: numbers come from the pytest-autotune simulator*",
        "chat  (chat.yaml)",
        "*1  mem-fraction-static=0.15  INFEASIBLE: not enough memory for the KV cache (raise "
        "--mem-fraction-static)",
        "*2  mem-fraction-static=0.85*D(50,20)-c1*pass*tok/s",
        "*D(50,20)-c4*pass",
        "*best: #2 mem-fraction-static=0.85*",
        "*launch: python3 -m sglang.launch_server --model-path meta-llama/Llama-3.1-8B-Instruct"
        " --host 0.0.0.0 --port 30000 --mem-fraction-static 0.85",
        "wrote results/chat_results.json",
        "wrote .autotune/runs/0001_*.json",
    ])
    assert result.ret == 0
    data = json.loads((project.path / "results" / "chat_results.json").read_text())
    assert data["task_name"] == "chat" and data["total_experiments"] == 2
    assert data["successful_experiments"] == 1 and data["simulated"] is True
    best = data["best_result"]
    assert best["experiment_id"] == 2 and best["parameters"] == {"mem-fraction-static": 0.85}
    assert best["objective_score"] == max(p["metrics"]["output_throughput"]
                                          for p in best["points"])
    assert [p["metrics"]["num_requests"] >= 8 for p in best["points"]] == [True, True]
    failed = data["all_results"][0]
    assert failed["status"] == "failed" and "Not enough memory" in failed["error_message"]
    # one genai-bench process measured both points of the configuration
    runs = list((project.path / "results" / "runs").glob("*/chat/001-*/genai-bench-*"))
    assert len(runs) == 1
    records = list((project.path / "results" / "runs").glob("*/records.jsonl"))
    assert len(records[0].read_text().splitlines()) == 4
