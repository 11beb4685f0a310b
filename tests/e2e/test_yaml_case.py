"""A YAML case end to end in sim mode: deployments, genai-bench, SLO verdicts, reports."""

from __future__ import annotations

import json

import pytest

from .conftest import case

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


def test_missed_slo_fails_with_a_per_slo_message(project: pytest.Pytester) -> None:
    project.makefile(".yaml", tight=case("tight", """\
        slo:
          - ttft.p50 <= 1us
          - error_rate <= 1%
    """))
    result = project.runpytest_subprocess("tight.yaml", "-k", "c1", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1, deselected=1)
    result.stdout.fnmatch_lines([
        "*SLO missed at D(50,20)-c1: 1 of 2 failed",
        "*FAIL ttft.p50 <= 1us*measured*missed by*",
        "*ok   error_rate <= 1%*measured 0.00%*headroom 1.00%",
        "*no configuration met the SLOs at any workload point*",
    ])
    assert "Traceback" not in result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_strict_turns_infeasible_into_errors(project: pytest.Pytester) -> None:
    project.makefile(".yaml", oom=case("oom", "parameters: {mem-fraction-static: [0.15]}\n"))
    result = project.runpytest_subprocess("oom.yaml", "--autotune-strict", "-p",
                                          "no:cacheprovider")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines([
        "*deployment failed: not enough memory for the KV cache*",
        "*--- server log (last lines) ---*",
        "*Not enough memory. Please try to increase --mem-fraction-static*",
    ])


def test_last_failed_reruns_only_the_failed_points(project: pytest.Pytester) -> None:
    # concurrency 1 cannot reach 40 requests/s with 20-token answers; concurrency 4 can
    project.makefile(".yaml", rps=case("rps", "slo: ['request_throughput >= 40']\n"))
    first = project.runpytest_subprocess("rps.yaml", "-x")
    first.assert_outcomes(failed=1)
    first.stdout.fnmatch_lines(["*stopping after 1 failures*"])
    second = project.runpytest_subprocess("rps.yaml", "--lf")
    second.assert_outcomes(failed=1, deselected=1)
    second.stdout.fnmatch_lines(["*run-last-failure: rerun previous 1 failure*"])


def test_verbose_streams_server_and_benchmark_output_without_s(project: pytest.Pytester) -> None:
    project.makefile(".yaml", loud=case("loud", "workload: {scenarios: ['D(50,20)'], "
                                                "concurrency: [1], max_requests: 4}\n"))
    result = project.runpytest_subprocess("loud.yaml", "--autotune-verbose", "-p",
                                          "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([
        "*| *pytest-autotune SGLang simulator*",    # the server's own start-up lines
        "*| *The server is fired up and ready to roll!*",
        "*| *genai-bench*",                        # and the benchmark's
    ])
