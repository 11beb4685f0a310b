"""Decisions that survive noise, through the plugin: intervals in the report, unresolved verdicts,
ties broken by preference, repeats and racing, the baseline gate, partial runs, CI surfaces.

Points are measured by the genai-bench stand-in (tests/standin) against real simulator servers;
the simulator runs without noise here (``scratch.BASE``), so what the tests see is the
statistics' own behaviour, not luck.
"""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from ..scratch import case
from ..standin import use_standin

pytestmark = [pytest.mark.slow]

EQUAL = """\
workload: {scenarios: ["D(50,20)"], concurrency: [2], max_requests: 40}
parameters:
  mem-fraction-static: [0.7, 0.8, 0.9]
slo: ["error_rate <= 1%"]
"""


def results(project: pytest.Pytester, name: str, suffix: str = "") -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (project.path / "results" / f"{name}_results{suffix}.json").read_text())
    return data


def run(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    return project.runpytest_subprocess(*args, "-p", "no:cacheprovider")


def test_equal_configurations_are_tied_and_the_preferred_one_wins(
    project: pytest.Pytester,
) -> None:
    use_standin(project)
    project.makefile(".yaml", equal=case("equal", EQUAL))
    result = run(project, "equal.yaml")
    result.assert_outcomes(passed=3)
    # the memory fraction does not matter unsaturated: the three are equal but for timing noise
    result.stdout.fnmatch_lines([
        "*best: #1 mem-fraction-static=0.7  (* tok/s ±*%)",
        "*tied with 2: the differences are within the noise*",
        "*#2 mem-fraction-static=0.8 (*, 95 % CI * … *)*",
        "*#3 mem-fraction-static=0.9 (*",
    ])
    best = results(project, "equal")["best_result"]
    assert best["config_id"] == "mem-fraction-static=0.7"
    assert sorted(best["tied_with"]) == ["mem-fraction-static=0.8", "mem-fraction-static=0.9"]
    assert best["confidence"] < 0.95 and best["score_interval"]["low"] < best["objective_score"]
    point = best["points"][0]
    assert point["metrics"]["intervals"]["output_throughput"]["method"] == "steady-ratio"
    assert point["metrics"]["intervals"]["ttft.p99"]["high"] is None  # 40 requests: open above


SHORT = """\
workload: {{scenarios: ["D(50,20)"], concurrency: [4], max_requests: {n}}}
parameters:
  mem-fraction-static: [0.8, 0.9]
slo: ["error_rate <= 1%"]
"""


def test_a_short_run_is_flagged_and_the_line_that_sizes_it_removes_the_flag(
    project: pytest.Pytester,
) -> None:
    use_standin(project)
    project.makefile(".yaml", short=case("short", SHORT.format(n=8)))
    result = run(project, "short.yaml")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([
        "*D(50,20)-c4 * ±*% †*",
        "*† short run: too little steady load to trust the throughput at D(50,20)-c4 (#1, #2)*",
        "*size it: raise workload.max_requests to * or more*",
        "*caution: the ranking rests on short runs (†)*",
    ])
    metrics = results(project, "short")["best_result"]["points"][0]["metrics"]
    assert metrics["short_run"] is True and metrics["steady"]["per_user"] < 4
    assert metrics["genai_bench_output_throughput"] > 0  # genai-bench's own, kept beside
    needed = int(metrics["steady"]["requests_needed"])
    assert needed > 8
    project.makefile(".yaml", short=case("short", SHORT.format(n=needed)))
    sized = run(project, "short.yaml")
    sized.assert_outcomes(passed=2)
    assert "†" not in sized.stdout.str() and "caution" not in sized.stdout.str()
    metrics = results(project, "short")["best_result"]["points"][0]["metrics"]
    assert metrics["short_run"] is False and metrics["steady"]["per_user"] >= 4


def test_a_real_gap_is_a_clear_winner(project: pytest.Pytester) -> None:
    use_standin(project)
    project.makefile(".yaml", gap=case("gap", """\
        workload: {scenarios: ["D(50,20)"], concurrency: [16], max_requests: 64}
        parameters:
          max-running-requests: [2, 16]
        slo: ["error_rate <= 1%"]
    """))
    result = run(project, "gap.yaml")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*best: #2 max-running-requests=16*",
                                 "*clear winner: ahead of every other configuration beyond the "
                                 "noise (confidence *%)*"])
    best = results(project, "gap")["best_result"]
    assert best["tied_with"] == [] and best["confidence"] > 0.99


def test_an_unresolved_p99_passes_and_fails_only_under_strict(project: pytest.Pytester) -> None:
    use_standin(project)
    project.makefile(".yaml", p99=case("p99", """\
        workload: {scenarios: ["D(50,20)"], concurrency: [1], max_requests: 8}
        slo: ["ttft.p99 <= 10s"]
    """))
    result = run(project, "p99.yaml")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*D(50,20)-c1*[?]ok ttft.p99 <= 10s*"])
    verdict = results(project, "p99")["all_results"][0]["points"][0]["verdicts"][0]
    assert verdict["state"] == "unresolved" and verdict["interval"]["high"] is None
    strict = run(project, "p99.yaml", "--autotune-strict")
    strict.assert_outcomes(failed=1)
    strict.stdout.fnmatch_lines([
        "*SLO unresolved at D(50,20)-c1 (--autotune-strict): 1 of 1 could not be decided*",
        "*?    ttft.p99 <= 10s*unresolved: 95% CI * … ∞ straddles it; a p99 needs ≥ 368 "
        "requests to be bounded, 8 measured*",
    ])


def test_racing_spends_repeats_only_on_contenders(project: pytest.Pytester) -> None:
    use_standin(project)
    body = EQUAL.replace("max_requests: 40}", "max_requests: 24, repeats: 3}")
    project.makefile(".yaml", race=case("race", body.replace(
        "[0.7, 0.8, 0.9]", "[0.7, 0.8]")))
    raced = run(project, "race.yaml")
    raced.assert_outcomes(passed=2)
    entries = results(project, "race")["all_results"]
    # the first has no one to race; the second is tied with it and gets every pass allowed
    assert [e["points"][0]["metrics"]["passes"] for e in entries] == [1, 3]
    assert entries[1]["points"][0]["metrics"]["num_requests"] == 3 * 24
    raced.stdout.fnmatch_lines(["*racing: 4 benchmark passes where fixed repeats take 6 "
                                "(saved 2, 33%)*"])
    fixed = run(project, "race.yaml", "--autotune-no-race")
    fixed.assert_outcomes(passed=2)
    assert [e["points"][0]["metrics"]["passes"]
            for e in results(project, "race")["all_results"]] == [3, 3]
    assert "racing:" not in fixed.stdout.str()


def test_an_unresolvable_verdict_gets_more_passes_when_they_can_resolve_it(
    project: pytest.Pytester,
) -> None:
    use_standin(project)
    # a p95 needs 72 requests: 30 cannot bound it, three passes of 30 can
    project.makefile(".yaml", p95=case("p95", """\
        workload: {scenarios: ["D(50,20)"], concurrency: [2], max_requests: 30, repeats: 3}
        slo: ["ttft.p95 <= 10s"]
    """))
    result = run(project, "p95.yaml")
    result.assert_outcomes(passed=1)
    entry = results(project, "p95")["all_results"][0]
    point = entry["points"][0]
    assert point["metrics"]["passes"] == 3 and point["verdicts"][0]["state"] == "met"


def gate_case(slowdown: float, configs: str = "[16]") -> str:
    return f"""\
name: gate
model: {{path: meta-llama/Llama-3.1-8B-Instruct}}
sim: {{gpu: h100, startup_scale: 0.02, noise: 0.0, slowdown: {slowdown}}}
workload: {{scenarios: ["D(50,20)"], concurrency: [4], max_requests: 32}}
parameters: {{max-running-requests: {configs}}}
slo: ["error_rate <= 1%"]
"""


def test_the_baseline_gate_fails_a_planted_regression_and_passes_a_rerun(
    project: pytest.Pytester,
) -> None:
    use_standin(project)
    project.makefile(".yaml", gate=gate_case(1.0))
    run(project, "gate.yaml").assert_outcomes(passed=1)
    same = run(project, "gate.yaml", "--autotune-baseline=latest-complete")
    same.assert_outcomes(passed=1)
    assert same.ret == 0
    same.stdout.fnmatch_lines([
        "autotune: baseline gate against 0001_*: threshold 5%, 3 passes per point unless a case "
        "sets repeats",
        "autotune: the baseline measured as few as 1 pass(es) a point: *refresh it with "
        "--autotune-repeats 3 --autotune-no-race*"])
    gated = json.loads(Path(_last_run(project)).read_text())  # a gated run: three passes a point
    assert [p["metrics"]["passes"] for c in gated["cases"] for t in c["trials"]
            for p in t["points"]] == [3]
    project.makefile(".yaml", gate=gate_case(1.3))  # every GPU step 30 % slower
    slow = run(project, "gate.yaml", "--autotune-baseline=1")
    slow.assert_outcomes(failed=1)
    slow.stdout.fnmatch_lines([
        "*regression vs baseline 0001_*: output_throughput -2*% (95 % CI -*% … -*%), beyond "
        "the 5% threshold*",
        "*autotune: baseline gate: regression vs 0001_*: gate: best score*beyond the 5% "
        "threshold*",
    ])
    assert slow.ret == pytest.ExitCode.TESTS_FAILED
    tolerant = run(project, "gate.yaml", "--autotune-baseline=1",
                   "--autotune-regression-threshold=40%")
    tolerant.assert_outcomes(passed=1)
    [junit_run] = [p for p in sorted((project.path / ".autotune" / "runs").iterdir())][-1:]
    gate = json.loads(junit_run.read_text())["baseline_gate"]
    assert gate["failed"] is False and gate["baseline"].startswith("0001_")


def test_the_gate_fails_on_missing_points_and_partial_runs(project: pytest.Pytester) -> None:
    use_standin(project)
    project.makefile(".yaml", gate=gate_case(1.0, "[4, 16]"))
    run(project, "gate.yaml").assert_outcomes(passed=2)
    project.makefile(".yaml", gate=gate_case(1.0, "[16, 32]"))
    changed = run(project, "gate.yaml", "--autotune-baseline=1")
    changed.stdout.fnmatch_lines([
        "*baseline gate: missing in this run: gate max-running-requests=4 @ D(50,20)-c4*",
        "*baseline gate: not in the baseline: gate max-running-requests=32 @ D(50,20)-c4*",
    ])
    assert changed.ret == pytest.ExitCode.TESTS_FAILED
    allowed = run(project, "gate.yaml", "--autotune-baseline=1",
                  "--autotune-baseline-allow-missing")
    assert allowed.ret == 0
    partial = run(project, "gate.yaml", "--autotune-baseline=1",
                  "--autotune-baseline-allow-missing", "-k", "max-running-requests=16")
    partial.stdout.fnmatch_lines(["*baseline gate: incomplete run: items selected with -k*"])
    assert partial.ret == pytest.ExitCode.TESTS_FAILED
    refused = run(project, "gate.yaml", f"--autotune-baseline={_last_run(project)}")
    refused.stderr.fnmatch_lines(["*--autotune-baseline *: *is a partial run (items selected "
                                  "with -k); gate against a complete one*"])
    assert refused.ret == pytest.ExitCode.USAGE_ERROR


def _last_run(project: pytest.Pytester) -> str:
    return str(sorted((project.path / ".autotune" / "runs").iterdir())[-1])


def test_a_partial_run_never_replaces_a_complete_result_and_lf_merges(
    project: pytest.Pytester,
) -> None:
    use_standin(project)
    # concurrency 1 serves ~6 requests/s with 20-token answers, concurrency 4 ~23
    project.makefile(".yaml", rps=case("rps", "slo: ['request_throughput >= 15 req/s']\n"))
    full = run(project, "rps.yaml")
    full.assert_outcomes(passed=1, failed=1)
    complete = results(project, "rps")
    assert complete["complete"] is True and complete["total_experiments"] == 1
    stopped = project.runpytest_subprocess("rps.yaml", "-x")  # the cache keeps the failure
    stopped.assert_outcomes(failed=1)
    stopped.stdout.fnmatch_lines(["*PARTIAL RUN: stopped early (-x, at the first failure); "
                                  "1 of 2 planned items were not run (its results*",
                                  "*wrote results/rps_results.partial.json*"])
    assert results(project, "rps") == complete  # untouched
    partial = results(project, "rps", ".partial")
    assert partial["complete"] is False and "stopped early" in partial["incomplete_reasons"][0]
    rerun = project.runpytest_subprocess("rps.yaml", "--lf")
    rerun.assert_outcomes(failed=1, deselected=1)
    rerun.stdout.fnmatch_lines(["*this --lf rerun is merged into 0001_*: the points measured "
                                "again replace theirs*", "*wrote results/rps_results.json*"])
    merged = results(project, "rps")
    assert merged["complete"] is True and merged["merged_from"].startswith("0001_")
    assert [p["id"] for p in merged["all_results"][0]["points"]] == ["D(50,20)-c1",
                                                                     "D(50,20)-c4"]


def test_ci_surfaces_junit_markdown_and_pytest_benchmark_json(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_standin(project)
    project.makefile(".yaml", chat=case("chat", """\
        workload: {scenarios: ["D(50,20)"], concurrency: [1, 4], max_requests: 40}
        parameters: {max-running-requests: [16]}
        slo: ["ttft.p90 <= 10s", "error_rate <= 1%"]
    """))
    summary = project.path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = run(project, "chat.yaml", "--junitxml=junit.xml", "--autotune-markdown=summary.md",
                 "--autotune-benchmark-json=bench.json")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*wrote summary.md*", "*wrote bench.json*"])

    tree = ET.parse(project.path / "junit.xml")
    [case_el, *_] = tree.iter("testcase")
    props = {str(p.get("name")): str(p.get("value")) for p in case_el.iter("property")}
    assert props["autotune.configuration"] == "max-running-requests=16"
    assert props["autotune.flag.max-running-requests"] == "16"
    assert float(props["autotune.metric.output_throughput"]) > 0
    low, high = (float(x) for x in props["autotune.metric.output_throughput.ci95"].split(".."))
    assert low < float(props["autotune.metric.output_throughput"]) < high
    assert props["autotune.slo.ttft.p90 <= 10s"].startswith("met (measured ")
    assert props["autotune.slo.error_rate <= 1%"].startswith("met")

    text = (project.path / "summary.md").read_text()
    assert "### chat" in text and "**Best: `max-running-requests=16`**" in text
    assert summary.read_text() == text  # appended to the GitHub step summary

    # pytest-benchmark's own loader and CLI read the file
    from pytest_benchmark.storage.file import FileStorage

    class Quiet:
        def warning(self, *args: object, **kwargs: object) -> None:
            raise AssertionError(args)

    bench = project.path / "bench.json"
    storage = FileStorage(str(project.path), default_machine_id=None,  # type: ignore[no-untyped-call]
                          logger=Quiet())
    loaded = list(storage.load_benchmarks(str(bench)))  # type: ignore[no-untyped-call]
    names = sorted(b["name"] for b in loaded)
    assert names == sorted(f"D(50,20)-c{c}[{m}]" for c in (1, 4)
                           for m in ("e2e", "output_token", "tpot", "ttft"))
    per_token = next(b for b in loaded if b["name"] == "D(50,20)-c4[output_token]")
    data = json.loads(bench.read_text())
    point = results(project, "chat")["all_results"][0]["points"][1]
    assert per_token["ops"] == pytest.approx(point["metrics"]["output_throughput"])
    assert data["benchmarks"][0]["extra_info"]["simulated"] is True
    cli = Path(sys.executable).with_name("pytest-benchmark")
    shown = subprocess.run([str(cli), "compare", str(bench), "--columns",  # noqa: S603
                            "min,mean,ops"], capture_output=True, text=True, timeout=120,
                           check=False, cwd=project.path)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "D(50,20)-c4[output_token]" in shown.stdout


def test_a_conftest_score_has_no_interval_so_ties_are_not_judged(
    project: pytest.Pytester,
) -> None:
    use_standin(project, """
        def pytest_autotune_score_trial(config, trial):
            return float(trial.index)
    """)
    project.makefile(".yaml", equal=case("equal", EQUAL))
    result = run(project, "equal.yaml", "-k", "0.7 or 0.8")
    result.stdout.fnmatch_lines(["*best: #2 mem-fraction-static=0.8  (1 tok/s)*",
                                 "*(no interval on the scores: ties cannot be judged)*"])


def test_sim_slowdown_and_per_deployment_seeds(tmp_path: Path) -> None:
    """Unit-level: --sim-slowdown slows every step; deployments draw seeds of their own."""
    from pytest_autotune.backends.base import DeployContext, ServerSpec
    from pytest_autotune.backends.sim import deployment_seed
    from pytest_autotune.cases import case_from_marker
    from pytest_autotune.sim.cli import parse_args
    from pytest_autotune.sim.config import resolve
    from pytest_autotune.sim.virtual import random_jobs, run_closed

    def tput(*flags: str) -> float:
        cfg = resolve(parse_args(["--model-path", "meta-llama/Llama-3.1-8B-Instruct", *flags]))
        return run_closed(cfg, random_jobs(16, 50, 20), 4).output_throughput

    assert tput("--sim-slowdown", "1.25") == pytest.approx(tput() / 1.25, rel=0.05)
    with pytest.raises(ValueError, match="--sim-slowdown is a factor in"):
        resolve(parse_args(["--model-path", "meta-llama/Llama-3.1-8B-Instruct",
                            "--sim-slowdown", "0"]))

    def seed(run: str, attempt: int = 1, pinned: int | None = None) -> int:
        sim = {"seed": pinned} if pinned is not None else {}
        c = case_from_marker({"name": "s", "model": {"path": "x"}, "sim": sim,
                              "workload": {"scenarios": ["D(1,1)"], "concurrency": [1]}},
                             source="s", default_name="s", base_dir=tmp_path)
        spec = ServerSpec.from_case(c, c.configurations[0])
        return deployment_seed(spec, DeployContext(run_id=run, artifacts=tmp_path,
                                                   attempt=attempt))

    assert seed("run-1") == seed("run-1") != seed("run-2")
    assert seed("run-1", attempt=2) != seed("run-1")
    assert seed("run-1", pinned=7) == seed("run-2", pinned=7) == 7


def test_redeploy_measures_each_repeat_on_a_fresh_server(project: pytest.Pytester) -> None:
    use_standin(project)
    project.makefile(".yaml", fresh=case("fresh", """\
        workload: {scenarios: ["D(50,20)"], concurrency: [2], max_requests: 16, repeats: 2,
                   redeploy: true}
    """))
    result = run(project, "fresh.yaml", "--autotune-no-race")
    result.assert_outcomes(passed=1)
    entry = results(project, "fresh")["all_results"][0]
    assert entry["points"][0]["metrics"]["passes"] == 2
    artifacts = Path(entry["artifacts"])
    # the second pass ran against a second deployment, with logs of its own
    assert (artifacts / "server.log").exists() and (artifacts / "deploy-2" / "server.log").exists()
