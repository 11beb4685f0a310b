"""Modes never mix and the baseline is a run that passed, as a user meets them on the command
line: an estimate run is no baseline, merge target or results file of a simulated run; a run
that failed its gate is not the next ``latest-complete``; the terminal says when the gate passed
and what improved; ``--autotune-sim-slowdown`` plants a regression without editing the case.

Points are measured by the genai-bench stand-in against simulator servers without noise
(``scratch.BASE``); the estimate runs in-process."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ..scratch import case
from ..standin import use_standin

pytestmark = [pytest.mark.slow]

GATE = """\
name: gate
model: {path: meta-llama/Llama-3.1-8B-Instruct}
sim: {gpu: h100, startup_scale: 0.02, noise: 0.0}
workload: {scenarios: ["D(50,20)"], concurrency: [4], max_requests: 32}
parameters: {max-running-requests: [16]}
slo: ["error_rate <= 1%"]
"""


def run(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    return project.runpytest_subprocess(*args, "-p", "no:cacheprovider")


def stored(project: pytest.Pytester) -> list[dict[str, Any]]:
    return [json.loads(p.read_text())
            for p in sorted((project.path / ".autotune" / "runs").glob("*.json"))]


def test_an_estimate_is_never_a_baseline_and_a_failed_gate_is_not_the_next_one(
    project: pytest.Pytester,
) -> None:
    use_standin(project)
    project.makefile(".yaml", gate=GATE)
    run(project, "gate.yaml").assert_outcomes(passed=1)  # 0001: simulated
    estimate = run(project, "gate.yaml", "--autotune-mode=estimate")  # 0002: an estimate
    estimate.assert_outcomes(passed=1)
    estimate.stdout.fnmatch_lines([
        "results/gate_results.json is measured on the simulator; this run is an estimate * "
        "and does not replace it: written to results/gate_results.estimate.json instead*"])
    results = project.path / "results"
    assert json.loads((results / "gate_results.json").read_text())["kind"] == "simulated"
    assert json.loads((results / "gate_results.estimate.json").read_text())["kind"] == \
        "estimate"
    # the newest complete run is the estimate: a simulated run is gated on 0001, and passes
    same = run(project, "gate.yaml", "--autotune-baseline=latest-complete")  # 0003
    same.assert_outcomes(passed=1)
    same.stdout.fnmatch_lines(["autotune: baseline gate against 0001_*: threshold 5%*",
                               "autotune: baseline gate passed against 0001_*: 1 point(s) "
                               "compared, none significantly worse by more than the 5% "
                               "threshold"])
    # a regression planted from the command line fails the gate, and the run file says so
    slow = run(project, "gate.yaml", "--autotune-baseline=latest-complete",
               "--autotune-sim-slowdown=1.3")  # 0004
    slow.assert_outcomes(failed=1)
    slow.stdout.fnmatch_lines(["*regression vs baseline 0003_*: output_throughput -2*%*"])
    assert [r["kind"] for r in stored(project)] == ["simulated", "estimate", "simulated",
                                                   "simulated"]
    assert [r.get("baseline_gate", {}).get("outcome") for r in stored(project)] == \
        [None, None, "passed", "failed"]
    # the failed run is complete but no baseline: the unchanged code is gated on 0003 and
    # passes, instead of an "improvement" over the slowed run
    again = run(project, "gate.yaml", "--autotune-baseline=latest-complete")
    again.assert_outcomes(passed=1)
    again.stdout.fnmatch_lines(["autotune: baseline gate passed against 0003_*"])
    # an estimate asked for by name is refused, saying what to do
    refused = run(project, "gate.yaml", "--autotune-baseline=2")
    refused.stderr.fnmatch_lines([
        "*--autotune-baseline 2: 0002_* is an estimate (estimate mode: a model, nothing "
        "measured) and this run is measured on the simulator: estimates, simulations and real "
        "measurements are never compared; gate against a run of the same kind*"])
    assert refused.ret == pytest.ExitCode.USAGE_ERROR


def test_a_simulated_lf_rerun_is_never_merged_into_an_estimate(
    project: pytest.Pytester,
) -> None:
    use_standin(project)
    # concurrency 1 serves ~6 requests/s with 20-token answers, concurrency 4 ~23
    project.makefile(".yaml", rps=case("rps", "slo: ['request_throughput >= 15 req/s']\n"))
    project.runpytest_subprocess("rps.yaml").assert_outcomes(passed=1, failed=1)  # 0001
    # an estimate in between, without touching the cache of failures
    run(project, "rps.yaml", "--autotune-mode=estimate")  # 0002
    rerun = project.runpytest_subprocess("rps.yaml", "--lf")
    rerun.assert_outcomes(failed=1, deselected=1)
    rerun.stdout.fnmatch_lines([
        "*this --lf rerun is merged into 0001_*",
        "autotune: this --lf rerun is measured on the simulator and 0002_* is an estimate *: "
        "runs of different kinds never mix, so it is merged into 0001_*, the newest complete "
        "run of its kind"])
    merged = stored(project)[-1]
    assert merged["kind"] == "simulated" and merged["merged_from"].startswith("0001_")
    assert {t["mode"] for c in merged["cases"] for t in c["trials"]} == {"sim"}
