"""Search strategies beyond the grid, run through pytest: trial slots proposed by random and
optuna, one Optuna study shared by xdist workers, a study resumed by a later run, and an
infeasible configuration told to the study as failed.

Servers are real simulator processes; points are measured by the genai-bench stand-in
(tests/standin), not genai-bench.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import optuna

# Optuna's RDB storage imports SQLAlchemy and its models lazily. First imported inside a pytester
# test (the sqlite study read below), they would be dropped from sys.modules at its teardown while
# optuna's storage module keeps them, and a later test of this process would mix two SQLAlchemy
# instances ("subject table for an INSERT ... expected"): import them at collection instead.
import optuna.storages._rdb.models
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from ..scratch import case
from ..standin import use_standin

ONE_POINT = """\
workload: {scenarios: ["D(50,20)"], concurrency: [4], max_requests: 8}
slo: ["error_rate <= 1%"]
"""

#: no search block: a log range, which only a sampling strategy can search
SPACE = ONE_POINT + """\
parameters:
  max-running-requests: {low: 2, high: 64, log: true}
  schedule-policy: [fcfs, lpm]
"""


def searched(name: str, search: str) -> str:
    """A case over ``SPACE`` with the search block ``search``."""
    return case(name, SPACE + f"search: {search}\n")


def results(project: pytest.Pytester, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((project.path / "results" / f"{name}_results.json")
                                      .read_text())
    return data


def slot_ids(result: pytest.RunResult) -> list[str]:
    """The node ids ``-v`` printed, in the order they ran."""
    return [m.group(1) for line in result.outlines
            if (m := re.match(r"^(\S+::trial-\d+::\S+) (PASSED|FAILED|ERROR|SKIPPED|INFEASIBLE)",
                              line))]


def originals(study: optuna.Study) -> list[FrozenTrial]:
    """The trials that measured a configuration (not proposals repeated and told again)."""
    return [t for t in study.trials if "duplicate_of" not in t.user_attrs]


def journal_study(project: pytest.Pytester, name: str) -> optuna.Study:
    [log] = (project.path / "results" / "runs").glob("*/study.log")
    return optuna.load_study(study_name=name,
                             storage=JournalStorage(JournalFileBackend(str(log))))


@pytest.mark.slow
def test_random_search_from_the_options_collects_trial_slots(project: pytest.Pytester) -> None:
    """--autotune-search and --autotune-trials override the case (a grid by default, which
    could not list the log range)."""
    use_standin(project)
    project.makefile(".yaml", space=case("space", SPACE))
    result = project.runpytest_subprocess("space.yaml", "-v", "-p", "no:cacheprovider",
                                          "--autotune-search=random", "--autotune-trials=2")
    result.assert_outcomes(passed=2)
    assert slot_ids(result) == ["space.yaml::trial-01::D(50,20)-c4",
                                "space.yaml::trial-02::D(50,20)-c4"]
    data = results(project, "space")
    configs = [e["config_id"] for e in data["all_results"]]
    assert len(set(configs)) == 2 and data["best_result"]["config_id"] in configs
    # the table shows each trial's configuration, and the best one's launch command
    result.stdout.fnmatch_lines(["*1  max-running-requests=* schedule-policy=*",
                                 "*2  max-running-requests=* schedule-policy=*",
                                 "*best: #*", "*launch: python3 -m sglang.launch_server*"])


@pytest.mark.slow
def test_optuna_search_asks_and_tells_one_study(project: pytest.Pytester) -> None:
    use_standin(project)
    project.makefile(".yaml", tune=searched(
        "tune", "{strategy: optuna, trials: 3, seed: 4, startup_trials: 2}"))
    result = project.runpytest_subprocess("tune.yaml", "-v", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    assert [i.split("::")[1] for i in slot_ids(result)] == ["trial-01", "trial-02", "trial-03"]
    result.stdout.fnmatch_lines(["*best: #*"])
    data = results(project, "tune")
    study = journal_study(project, "tune")
    measured = originals(study)
    assert [t.state for t in measured] == [TrialState.COMPLETE] * 3
    assert [t.user_attrs["configuration"] for t in measured] == [
        e["config_id"] for e in data["all_results"]]
    # each trial was told its score: the highest output throughput at a point within the SLOs
    assert [t.value for t in measured] == pytest.approx(
        [e["objective_score"] for e in data["all_results"]])


@pytest.mark.slow
def test_xdist_workers_share_one_study(project: pytest.Pytester) -> None:
    use_standin(project)
    project.makefile(".yaml", tune=searched("tune", "{strategy: optuna, trials: 4, seed: 1}"))
    result = project.runpytest_subprocess("tune.yaml", "-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
    # one journal file in the run's directory holds every trial of both workers
    study = journal_study(project, "tune")
    measured = originals(study)
    assert len(measured) == 4 and {t.state for t in measured} == {TrialState.COMPLETE}
    assert {t.user_attrs["process"] for t in measured} == {"gw0", "gw1"}
    assert len({t.user_attrs["run"] for t in study.trials}) == 1
    configs = {e["config_id"] for e in results(project, "tune")["all_results"]}
    assert {t.user_attrs["configuration"] for t in measured} == configs and len(configs) == 4


@pytest.mark.slow
def test_a_later_run_resumes_the_study(project: pytest.Pytester) -> None:
    use_standin(project)
    project.makefile(".yaml", tune=searched("tune", "{strategy: optuna, trials: 2, seed: 3}"))
    url = f"sqlite:///{project.path / 'study.db'}"
    for _ in range(2):
        result = project.runpytest_subprocess("tune.yaml", "-p", "no:cacheprovider",
                                              f"--autotune-study={url}")
        result.assert_outcomes(passed=2)
    study = optuna.load_study(study_name="tune", storage=url)
    measured = originals(study)
    runs = [t.user_attrs["run"] for t in measured]
    assert len(measured) == 4 and runs[0] == runs[1] != runs[2] == runs[3]
    assert [t.number for t in measured] == sorted(t.number for t in measured)  # numbers go on
    assert len({t.user_attrs["configuration"] for t in measured}) == 4  # nothing measured twice
    assert not list((project.path / "results" / "runs").glob("*/study.log"))


@pytest.mark.slow
def test_an_infeasible_configuration_is_told_as_failed(project: pytest.Pytester) -> None:
    use_standin(project)
    project.makefile(".yaml", tp=case("tp", ONE_POINT + "parameters: {tp-size: [1, 16]}\n"
                                      "search: {strategy: optuna, trials: 2}\n"))
    result = project.runpytest_subprocess("tp.yaml", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert result.parseoutcomes()["infeasible"] == 1
    result.stdout.fnmatch_lines(["*INFEASIBLE before launch: needs 16 GPUs (tp-size 16), "
                                 "only 8 available*", "*best: #* tp-size=1*"])
    study = journal_study(project, "tp")
    states = {t.params["tp-size"]: (t.state, t.user_attrs["status"]) for t in originals(study)}
    assert states == {1: (TrialState.COMPLETE, "ok"), 16: (TrialState.FAIL, "infeasible")}
    assert originals(study)[0].user_attrs["slot"] == "trial-01"


def test_a_sampled_case_collects_slots_without_deploying(project: pytest.Pytester) -> None:
    project.makefile(".yaml", tune=searched("tune", "{strategy: optuna, trials: 12}"))
    result = project.runpytest("tune.yaml", "--collect-only", "-q")
    assert [line for line in result.outlines if "::" in line] == [
        f"tune.yaml::trial-{i:02d}::D(50,20)-c4" for i in range(1, 13)]
    assert not (Path(project.path) / "results").exists()
