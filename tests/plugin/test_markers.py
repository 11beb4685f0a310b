"""@pytest.mark.autotune: fixtures, user assertions, and the scoring hooks of a conftest (points
measured by the genai-bench stand-in, tests/standin)."""

from __future__ import annotations

import pytest

from ..standin import use_standin

pytestmark = [pytest.mark.slow]

TEST_MODULE = """
import pytest

@pytest.mark.autotune(
    name="guard",
    model={"path": "meta-llama/Llama-3.2-1B-Instruct"},
    parameters={"mem-fraction-static": [0.8, 0.85]},
    workload={"scenarios": ["D(50,20)"], "concurrency": [2], "max_requests": 8},
    slo=["error_rate <= 1%", "ttft.p99 <= 1us"],
    sim={"startup_scale": 0.02, "noise": 0.0},
)
def test_guard(autotune_metrics, autotune_slo, autotune_server, autotune_point):
    assert autotune_server.url.startswith("http://127.0.0.1:")
    assert autotune_point.concurrency == 2
    assert autotune_metrics.num_requests >= 8 and autotune_metrics.error_rate == 0
    verdicts = autotune_slo.verdicts(autotune_metrics)
    assert [v.ok for v in verdicts] == [True, False]
    with pytest.raises(pytest.fail.Exception, match="SLO missed at D[(]50,20[)]-c2: 1 of 2"):
        autotune_slo.check(autotune_metrics)
"""

CONFTEST = """
def pytest_autotune_score_trial(config, trial):
    point = trial.point("D(50,20)", 2)
    # rank by grid position, ignoring the (deliberately impossible) TTFT SLO
    return float(trial.index) if point is not None and point.metrics else None
"""


def test_marker_fixtures_and_custom_scoring(project: pytest.Pytester) -> None:
    project.makepyfile(test_guard=TEST_MODULE)
    use_standin(project, CONFTEST)
    recorder = project.inline_run("-p", "no:cacheprovider")
    recorder.assertoutcome(passed=2)
    finished = recorder.getcalls("pytest_autotune_trial_finished")
    assert sorted(c.trial.config_id for c in finished) == [
        "mem-fraction-static=0.8", "mem-fraction-static=0.85"]
    [select] = recorder.getcalls("pytest_autotune_select_best")
    assert [t.score for t in select.trials] == [0.0, 1.0]
    [report] = recorder.getcalls("pytest_autotune_generate_report")
    assert report.best["guard"].config_id == "mem-fraction-static=0.85"
    # the SLO verdicts were recorded although the test asserted its own way
    assert all(not p.slo_ok and p.metrics for t in report.trials for p in t.points)


ONE_GPU_CASE = """\
name: after
model: {path: meta-llama/Llama-3.2-1B-Instruct}
workload: {scenarios: ["D(50,20)"], concurrency: [1], max_requests: 4}
sim: {startup_scale: 0.02, noise: 0.0}
timeouts: {deploy: 30s}
"""


def test_marker_server_stops_after_its_last_item(project: pytest.Pytester) -> None:
    """With a pool of one GPU, the YAML case after the marker test can only deploy if the
    marker test's last server was stopped right after its last item (not at session end)."""
    use_standin(project)
    project.makepyfile(test_guard=TEST_MODULE)
    project.makefile(".yaml", z_after=ONE_GPU_CASE)
    result = project.runpytest_subprocess("--autotune-sim-gpus", "1", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
