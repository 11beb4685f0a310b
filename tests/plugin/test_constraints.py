"""A case's constraints through pytest: a grid collects only the configurations they admit (with
``gpus`` the run's pool), a bad constraint is a collection error naming file, line and field,
and the sampling strategies measure only configurations that satisfy them.

Servers are real simulator processes; points are measured by the genai-bench stand-in
(tests/standin), not genai-bench.
"""

from __future__ import annotations

import json
import re
import textwrap

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from ..scratch import case
from ..standin import use_standin

ONE_POINT = """\
workload: {scenarios: ["D(50,20)"], concurrency: [4], max_requests: 8}
slo: ["error_rate <= 1%"]
"""

PARALLEL = ONE_POINT + """\
model: {path: meta-llama/Llama-3.2-1B-Instruct}
parameters:
  tp-size: [1, 2, 4]
  dp-size: [1, 2, 4]
constraints:
  - tp-size * dp-size <= gpus
"""


def parallel(name: str, extra: str = "") -> str:
    """A 1B case (tp 1 to 4 divides its heads) over tp × dp, with ``extra`` keys."""
    text = case(name, PARALLEL + extra)
    return text.replace("model: {path: meta-llama/Llama-3.1-8B-Instruct}\n", "", 1)


def collected(result: pytest.RunResult) -> list[str]:
    return [line for line in result.outlines if "::" in line]


def test_a_grid_collects_what_the_constraints_admit_in_the_pool(
        project: pytest.Pytester) -> None:
    project.makefile(".yaml", par=parallel("par"))
    result = project.runpytest("par.yaml", "--collect-only", "-q", "--autotune-sim-gpus=4")
    assert collected(result) == [f"par.yaml::{c}::D(50,20)-c4" for c in (
        "tp-size=1-dp-size=1", "tp-size=1-dp-size=2", "tp-size=1-dp-size=4",
        "tp-size=2-dp-size=1", "tp-size=2-dp-size=2", "tp-size=4-dp-size=1")]
    assert result.ret == 0
    wider = project.runpytest("par.yaml", "--collect-only", "-q", "--autotune-sim-gpus=16")
    assert len(collected(wider)) == 9  # the whole grid fits


def test_constraints_without_gpus_apply_at_load_and_read_fixed_flags(
        project: pytest.Pytester) -> None:
    project.makefile(".yaml", par=case("par", ONE_POINT + textwrap.dedent("""\
        flags: {chunked-prefill-size: 4096}
        parameters:
          max-running-requests: [16, 64, 256]
          schedule-policy: [fcfs, lpm]
        constraints:
          - max-running-requests * 64 <= chunked-prefill-size or schedule-policy == 'lpm'
        """)))
    result = project.runpytest("par.yaml", "--collect-only", "-q")
    assert [line.split("::")[1] for line in collected(result)] == [
        "max-running-requests=16-schedule-policy=fcfs",
        "max-running-requests=16-schedule-policy=lpm",
        "max-running-requests=64-schedule-policy=fcfs",
        "max-running-requests=64-schedule-policy=lpm",
        "max-running-requests=256-schedule-policy=lpm"]


def test_a_bad_constraint_is_a_collection_error_naming_file_line_field(
        project: pytest.Pytester) -> None:
    project.makefile(".yaml", par=parallel("par").replace(
        "tp-size * dp-size <= gpus", "tp-size * dp-sise <= gpus"))
    result = project.runpytest("par.yaml", "--collect-only", "-q")
    line = next(i for i, text in enumerate(parallel("par").splitlines(), 1)
                if "<= gpus" in text)
    result.stdout.fnmatch_lines([
        "*ERROR collecting par.yaml*",
        f"invalid tuning case: par.yaml:{line}: constraints[0]: unknown name 'dp-sise'; did "
        "you mean 'dp-size'? (names: tp-size, dp-size, gpus)",
    ])
    assert "Traceback" not in result.stdout.str()
    assert result.ret == pytest.ExitCode.INTERRUPTED


def test_a_pool_too_small_for_any_configuration_is_a_collection_error(
        project: pytest.Pytester) -> None:
    text = parallel("par", "  - tp-size >= 2\n")
    project.makefile(".yaml", par=text)
    result = project.runpytest("par.yaml", "--collect-only", "-q", "--autotune-sim-gpus=1")
    line = text.splitlines().index("constraints:") + 1
    assert (f"invalid tuning case: par.yaml:{line}: constraints: no configuration of the grid "
            "satisfies the constraints with gpus = 1: each of its 9 configurations breaks one; "
            "the first, tp-size=1-dp-size=1, breaks constraints[1] (tp-size >= 2)"
            ) in result.stdout.lines
    assert result.ret == pytest.ExitCode.INTERRUPTED


def test_a_marker_takes_constraints(project: pytest.Pytester) -> None:
    project.makepyfile(test_par="""
        import pytest

        @pytest.mark.autotune(
            name="par",
            model={"path": "meta-llama/Llama-3.2-1B-Instruct"},
            parameters={"tp-size": [1, 2, 4], "dp-size": [1, 2]},
            constraints=["tp-size * dp-size <= gpus", "tp-size != 2"],
            workload={"scenarios": ["D(50,20)"], "concurrency": [1]},
        )
        def test_par(autotune_metrics):
            pass
    """)
    result = project.runpytest("--collect-only", "-q", "--autotune-sim-gpus=4")
    assert [re.sub(r"-D\(50,20\)-c1\]$", "]", line) for line in collected(result)] == [
        "test_par.py::test_par[tp-size=1-dp-size=1]",
        "test_par.py::test_par[tp-size=1-dp-size=2]",
        "test_par.py::test_par[tp-size=4-dp-size=1]"]


def test_sampled_slots_stop_where_the_admitted_configurations_do(
        project: pytest.Pytester) -> None:
    project.makefile(".yaml", par=parallel("par", "search: {strategy: random, trials: 20}\n"))
    result = project.runpytest("par.yaml", "--collect-only", "-q", "--autotune-sim-gpus=2")
    assert collected(result) == [f"par.yaml::trial-{i:02d}::D(50,20)-c4" for i in (1, 2, 3)]


@pytest.mark.slow
def test_random_measures_only_configurations_that_satisfy_them(
        project: pytest.Pytester) -> None:
    use_standin(project)
    project.makefile(".yaml", par=parallel("par", "search: {strategy: random, trials: 3}\n"))
    result = project.runpytest_subprocess("par.yaml", "-p", "no:cacheprovider",
                                          "--autotune-sim-gpus=2")
    result.assert_outcomes(passed=3)
    data = json.loads((project.path / "results" / "par_results.json").read_text())
    measured = sorted(e["config_id"] for e in data["all_results"])
    assert measured == ["tp-size=1-dp-size=1", "tp-size=1-dp-size=2", "tp-size=2-dp-size=1"]


@pytest.mark.slow
def test_optuna_tells_excluded_proposals_as_failed_and_deploys_none(
        project: pytest.Pytester) -> None:
    use_standin(project)
    project.makefile(".yaml", par=parallel(
        "par", "search: {strategy: optuna, trials: 3, seed: 2, startup_trials: 3}\n"))
    result = project.runpytest_subprocess("par.yaml", "-p", "no:cacheprovider",
                                          "--autotune-sim-gpus=2")
    result.assert_outcomes(passed=3)
    assert "infeasible" not in result.parseoutcomes()
    [log] = (project.path / "results" / "runs").glob("*/study.log")
    study = optuna.load_study(study_name="par",
                              storage=JournalStorage(JournalFileBackend(str(log))))
    excluded = [t for t in study.trials if "constraint" in t.user_attrs]
    measured = [t for t in study.trials
                if "constraint" not in t.user_attrs and "duplicate_of" not in t.user_attrs]
    assert [t.state for t in measured] == [TrialState.COMPLETE] * 3
    assert all(t.params["tp-size"] * t.params["dp-size"] <= 2 for t in measured)
    for trial in excluded:
        assert trial.state == TrialState.FAIL
        assert trial.user_attrs["constraint"] == "tp-size * dp-size <= gpus"
        assert trial.params["tp-size"] * trial.params["dp-size"] > 2
    # only the measured configurations were deployed: one results directory each
    dirs = [p for p in (project.path / "results" / "runs").glob("*/par/*") if p.is_dir()]
    assert len(dirs) == 3
