"""The extension seams: a mode added by a conftest, trial slots, scores on trial_finished,
report writers, and a core that does not import pytest.

These run real simulator servers; workload points are measured by the genai-bench stand-in
(``tests/standin``), not genai-bench: they test the plugin's logic, not the measurement chain.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ..standin import use_standin

CASE = """\
name: grid
model: {path: meta-llama/Llama-3.1-8B-Instruct}
sim: {gpu: h100, startup_scale: 0.02, noise: 0.0}
parameters:
  tp-size: [1, 2]
  mem-fraction-static: [0.15, 0.85]
workload:
  scenarios: ["D(50,20)"]
  concurrency: [1, 4]
  max_requests: 8
slo:
  - error_rate <= 1%
"""

#: a conftest that adds the mode ``relay`` (delegating to the simulator backend)
RELAY = (Path(__file__).parents[1] / "relay.py").read_text()

SLOTS = """\
from pytest_autotune.search.grid import GridStrategy


def pytest_autotune_make_strategy(config, case, name):
    return GridStrategy(case, slots=True)
"""


@pytest.fixture
def project(project: pytest.Pytester) -> pytest.Pytester:
    """The scratch project (conftest.py) with the grid case."""
    project.makefile(".yaml", grid=CASE)
    return project


def results(pytester: pytest.Pytester) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((pytester.path / "results" / "grid_results.json")
                                      .read_text())
    return data


def outcomes(data: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    return [(e["config_id"], p["id"], p["outcome"], p["slo_ok"])
            for e in data["all_results"] for p in e["points"]]


@pytest.mark.slow
def test_a_conftest_adds_a_mode(project: pytest.Pytester) -> None:
    use_standin(project, RELAY)
    result = project.runpytest_subprocess("grid.yaml", "--autotune-mode=relay",
                                          "-p", "no:cacheprovider")
    result.assert_outcomes(passed=6)
    assert result.parseoutcomes()["infeasible"] == 2
    result.stdout.fnmatch_lines(["*SIMULATED*", "*best: #*", "*launch: relay python3 -m sglang*"])
    assert sorted((project.path / "relayed.txt").read_text().splitlines()) == sorted(
        f"grid tp-size={tp}-mem-fraction-static={m}" for tp in (1, 2) for m in (0.15, 0.85))
    assert results(project)["mode"] == "relay"


def test_an_unknown_mode_names_the_hook(project: pytest.Pytester) -> None:
    result = project.runpytest("grid.yaml", "--autotune-mode=relay")
    result.stderr.fnmatch_lines(["*unknown mode 'relay'*pytest_autotune_make_backend*"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR


@pytest.mark.slow
def test_trial_slots_measure_what_fixed_ids_measure(project: pytest.Pytester) -> None:
    use_standin(project)
    fixed = project.runpytest_subprocess("grid.yaml", "-p", "no:cacheprovider")
    fixed.assert_outcomes(passed=6)
    fixed_data = results(project)

    use_standin(project, SLOTS)
    collected = project.runpytest("grid.yaml", "--collect-only", "-q")
    collected.stdout.fnmatch_lines(["grid.yaml::trial-01::D(50,20)-c1",
                                    "grid.yaml::trial-04::D(50,20)-c4", "8 tests collected*"])
    slots = project.runpytest_subprocess("grid.yaml", "-p", "no:cacheprovider")
    slots.assert_outcomes(passed=6)
    slot_data = results(project)

    assert outcomes(slot_data) == outcomes(fixed_data)
    # tp-size 2 serves ~20 % more than 1; its two memory fractions are within noise of each other
    assert slot_data["best_result"]["parameters"]["tp-size"] == 2
    assert fixed_data["best_result"]["parameters"]["tp-size"] == 2
    for a, b in zip(fixed_data["all_results"], slot_data["all_results"], strict=True):
        assert a["parameters"] == b["parameters"] and a["outcome"] == b["outcome"]
        assert a["launch_command"] == b["launch_command"]
        assert [p["metrics"]["num_requests"] for p in a["points"] if p["metrics"]] == \
            [p["metrics"]["num_requests"] for p in b["points"] if p["metrics"]]
    nodeids = [p["nodeid"] for e in slot_data["all_results"] for p in e["points"]]
    assert all("::trial-0" in n for n in nodeids)


def test_trial_finished_carries_the_score(project: pytest.Pytester) -> None:
    use_standin(project, """
        import json

        def pytest_autotune_trial_finished(config, trial):
            with open("finished.jsonl", "a") as f:
                f.write(json.dumps([trial.config_id, trial.complete, trial.score]) + "\\n")
    """)
    project.runpytest_subprocess("grid.yaml", "-k", "tp-size=1", "-p", "no:cacheprovider")
    lines = [json.loads(x) for x in (project.path / "finished.jsonl").read_text().splitlines()]
    assert [x[0] for x in lines] == ["tp-size=1-mem-fraction-static=0.15",
                                     "tp-size=1-mem-fraction-static=0.85"]
    assert all(complete for _, complete, _ in lines)
    assert lines[0][2] is None and lines[1][2] > 0  # infeasible: no score; measured: tok/s


PICK = """
    import dataclasses

    from pytest_autotune.decide.scoring import select_best


    def pytest_autotune_select_best(config, trials):
        ranked = select_best(trials).best
        pick = [t for t in trials if t.score is not None and (t.config_key == ranked.config_key)
                == {winner}][0]
        return dataclasses.replace(pick)  # a copy: configurations compare by case and key
"""


@pytest.mark.parametrize("winner", [False, True], ids=["another", "the-winner"])
def test_a_conftest_select_best_is_reported_as_the_project_s_choice(
    project: pytest.Pytester, winner: bool,
) -> None:
    """A conftest's select_best returning a trial the ranking did not choose is reported as
    the project's choice; a copy of the ranking's winner keeps the ranking's decision."""
    use_standin(project, PICK.format(winner=winner))
    result = project.runpytest_subprocess("grid.yaml", "-k", "0.85 and c4",
                                          "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    best = json.loads((project.path / "results" / "grid_results.partial.json")
                      .read_text())["best_result"]
    chosen = "chosen by the project's pytest_autotune_select_best"
    assert (best["decision"] == chosen) is not winner
    assert best["config_id"] == ("tp-size=2-mem-fraction-static=0.85" if winner else
                                 "tp-size=1-mem-fraction-static=0.85")
    if not winner:
        result.stdout.fnmatch_lines([f"*{chosen}*"])


def test_a_conftest_adds_a_report_writer(project: pytest.Pytester) -> None:
    use_standin(project, """
        class CsvWriter:
            format = "csv"
            stage = "files"

            def write(self, report, ctx):
                path = ctx.results_dir / "points.csv"
                rows = [f"{t.config_id},{p.id},{p.outcome}"
                        for case in report.cases for t in case.trials for p in t.points]
                path.write_text("\\n".join(rows) + "\\n")
                return [path]

        def pytest_autotune_report_writers(config):
            return [CsvWriter()]
    """)
    result = project.runpytest_subprocess("grid.yaml", "-k", "tp-size=2 and 0.85",
                                          "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["wrote results/points.csv"])
    rows = (project.path / "results" / "points.csv").read_text().split()
    assert rows == ["tp-size=2-mem-fraction-static=0.85,D(50,20)-c1,passed",
                    "tp-size=2-mem-fraction-static=0.85,D(50,20)-c4,passed"]


def test_a_slot_whose_configuration_cannot_fit_is_infeasible(project: pytest.Pytester) -> None:
    use_standin(project, SLOTS)
    result = project.runpytest_subprocess("grid.yaml", "--autotune-sim-gpus", "1",
                                          "-k", "trial-03 or trial-04", "-p", "no:cacheprovider")
    assert result.parseoutcomes()["infeasible"] == 4
    result.stdout.fnmatch_lines([
        "*1  tp-size=2 mem-fraction-static=0.15  INFEASIBLE before launch: needs 2 GPUs "
        "(tp-size 2), only 1 available*",
        "*autotune: grid: no configuration could run*",
    ])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


COUNTING = """\
import json

from pytest_autotune.plugin.defaults import pytest_autotune_score_trial as default_score
from pytest_autotune.search.grid import GridStrategy


def log(*entry):
    with open("calls.jsonl", "a") as f:
        f.write(json.dumps(entry) + "\\n")


class Observed(GridStrategy):
    def observe(self, trial):
        log("observe", trial.config_id, trial.score)


def pytest_autotune_make_strategy(config, case, name):
    return Observed(case, slots=True)


def pytest_autotune_score_trial(config, trial):
    log("score", trial.config_id)
    return default_score(config, trial)
"""


@pytest.mark.slow
def test_a_slot_strategy_observes_each_scored_trial_once(project: pytest.Pytester) -> None:
    use_standin(project, COUNTING)
    result = project.runpytest_subprocess("grid.yaml", "-k", "trial-02 or trial-04",
                                          "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
    calls = [json.loads(x) for x in (project.path / "calls.jsonl").read_text().splitlines()]
    ids = ["tp-size=1-mem-fraction-static=0.85", "tp-size=2-mem-fraction-static=0.85"]
    # one process, so one score per trial, and the strategy sees that score
    assert [c[:2] for c in calls] == [["score", ids[0]], ["observe", ids[0]],
                                     ["score", ids[1]], ["observe", ids[1]]]
    assert all(c[2] > 0 for c in calls if c[0] == "observe")
