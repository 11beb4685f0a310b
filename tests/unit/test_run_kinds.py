"""Estimates, simulations and real measurements never stand in for one another, and a run that
failed its baseline gate is never the baseline: run-file kinds, ``latest-complete``, ``--lf``
merges, results files, ``pytest-autotune list|compare``, and unreadable run files."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pytest_autotune.backends.base import Capabilities
from pytest_autotune.cli import main
from pytest_autotune.decide.change import Change
from pytest_autotune.decide.gate import GateResult
from pytest_autotune.decide.scoring import select_best
from pytest_autotune.decide.stats import Interval
from pytest_autotune.errors import AutotuneWarning
from pytest_autotune.plugin.baseline import (
    WORKER_KEY,
    load_baselines,
    measured_kind,
    summary_lines,
)
from pytest_autotune.report.build import build_report
from pytest_autotune.report.writers import SeedResultsWriter, WriteContext
from pytest_autotune.results.integrity import merge
from pytest_autotune.results.records import (
    Completeness,
    ConfigIdentity,
    DeploymentFacts,
    Kind,
    KindMismatch,
    PointRecord,
    ReportFormatError,
    RunReport,
    Trial,
    group_records,
)
from pytest_autotune.results.runs import find_run, latest_complete, load_run, save_run
from pytest_autotune.values import Metrics, Stat, WorkloadPoint


def trial(score: float, *, mode: str = "sim", simulated: bool = True,
          version: str = "0.5.5") -> Trial:
    identity = ConfigIdentity(case="chat", source="chat.yaml", config_id="tp-size=1",
                              config_key="chat[tp-size=1]", index=0, params={"tp-size": 1},
                              mode=mode, simulated=simulated)
    metrics = Metrics(ttft=Stat(p99=0.05), tpot=Stat(p50=0.002), e2e=Stat(p99=0.3),
                      output_latency=Stat(), output_throughput=score, input_throughput=score,
                      total_throughput=2 * score, request_throughput=1.0, num_requests=8,
                      num_errors=0, run_duration=1.0,
                      intervals={"output_throughput": Interval(0.98 * score, 1.02 * score)})
    [made] = group_records([PointRecord(
        config=identity, point=WorkloadPoint("D(100,100)", 8), outcome="passed",
        metrics=metrics, deployment=DeploymentFacts(server_info={"version": version}))])
    made.score = score
    made.score_interval = Interval(0.98 * score, 1.02 * score)
    return made


def run(score: float = 1000.0, *, mode: str = "sim", simulated: bool = True,
        version: str = "0.5.5", gate: dict[str, Any] | None = None,
        complete: bool = True) -> dict[str, Any]:
    """A run file's contents as the plugin writes them."""
    made = trial(score, mode=mode, simulated=simulated, version=version)
    report = build_report([made], {"chat": select_best([made])}, run_id="20261203-101500-ab12",
                          started=0.0, mode=mode, commit="abc")
    if gate is not None:
        report.extra["baseline_gate"] = gate
    if not complete:
        report.completeness = Completeness(False, ("stopped early (-x)",), 2, 1, 1)
    return report.to_dict()


ESTIMATE = {"mode": "estimate", "simulated": True}
REAL = {"mode": "docker", "simulated": False}


# -- kinds ------------------------------------------------------------------------------------
def test_a_run_file_records_its_kind_and_older_files_get_it_from_their_mode() -> None:
    assert run()["kind"] == "simulated"
    assert run(**ESTIMATE)["kind"] == "estimate"  # type: ignore[arg-type]
    assert run(**REAL)["kind"] == "real"  # type: ignore[arg-type]
    # the simulator in an image: its own word (the version it serves) makes it simulated
    assert run(mode="docker", simulated=False, version="0.5.5-sim")["kind"] == "simulated"
    # written before runs recorded a kind: from the mode, the flag and the servers' word
    for data, kind in ((run(**ESTIMATE), "estimate"), (run(**REAL), "real"),  # type: ignore[arg-type]
                       (run(mode="docker", simulated=False, version="0.5.5-sim"), "simulated")):
        del data["kind"]
        assert RunReport.from_dict(data).kind == kind
    # without even a mode, no kind: such a file is never paired with another run
    bare = run()
    del bare["kind"], bare["mode"]
    assert RunReport.from_dict(bare).kind is None


def test_a_trial_knows_its_kind() -> None:
    assert trial(1.0).kind == "simulated"
    assert trial(1.0, mode="estimate").kind == "estimate"
    assert trial(1.0, mode="docker", simulated=False).kind == "real"
    assert trial(1.0, mode="docker", simulated=False, version="0.5.5-sim").kind == "simulated"


# -- latest-complete --------------------------------------------------------------------------
def test_latest_complete_pairs_only_runs_of_one_kind(tmp_path: Path) -> None:
    sim = save_run(tmp_path, run(), "abc")
    real = save_run(tmp_path, run(**REAL), "abc")  # type: ignore[arg-type]
    estimate = save_run(tmp_path, run(**ESTIMATE), "abc")  # type: ignore[arg-type]
    assert latest_complete(tmp_path, kind="simulated") == sim
    assert latest_complete(tmp_path, kind="real") == real
    assert latest_complete(tmp_path, kind="estimate") == estimate
    assert latest_complete(tmp_path) == estimate  # no kind asked: the newest
    assert find_run(tmp_path, "latest-complete", kind="simulated") == sim
    with pytest.raises(FileNotFoundError,
                       match="no complete run that is measured on a real server"):
        find_run(tmp_path / "other", "latest-complete", kind="real")


def test_a_run_that_failed_its_gate_is_never_latest_complete(tmp_path: Path) -> None:
    passed = save_run(tmp_path, run(gate={"baseline": "0001", "outcome": "passed",
                                          "failed": False, "findings": []}), "abc")
    failed = save_run(tmp_path, run(900.0, gate={"baseline": "0001", "outcome": "failed",
                                                 "failed": True, "findings": ["x"]}), "abc")
    assert load_run(failed).gate == "failed" and load_run(passed).gate == "passed"
    assert latest_complete(tmp_path, kind="simulated") == passed
    assert find_run(tmp_path, "latest-complete") == passed
    # a --lf rerun still merges into it: it is complete, its failed points are what reruns
    assert latest_complete(tmp_path, kind="simulated", passed_gate=False) == failed
    # a gate outcome written before runs recorded "outcome": its "failed" says it
    older = save_run(tmp_path, run(gate={"baseline": "0001", "failed": True}), "abc")
    assert load_run(older).gate == "failed"
    assert latest_complete(tmp_path, kind="simulated") == passed
    # never gated: no outcome, a baseline like any complete run
    assert load_run(save_run(tmp_path, run(), "abc")).gate is None


# -- unreadable run files ---------------------------------------------------------------------
def cut_short(storage: Path) -> Path:
    path = save_run(storage, run(), "abc")
    path.write_text(path.read_text()[:200])  # a copy cut short
    return path


def test_an_unreadable_run_file_is_named_in_a_warning_and_skipped(tmp_path: Path) -> None:
    good = save_run(tmp_path, run(), "abc")
    bad = cut_short(tmp_path)
    wanted = f"skipped {re.escape(str(bad))}: unreadable run file, not complete JSON .*Restore"
    with pytest.warns(AutotuneWarning, match=wanted):
        assert latest_complete(tmp_path, kind="simulated") == good


def test_an_unreadable_run_file_asked_for_by_name_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    save_run(tmp_path, run(), "abc")
    bad = cut_short(tmp_path)
    with pytest.raises(ReportFormatError, match=f"{re.escape(str(bad))}: unreadable run file"):
        load_run(find_run(tmp_path, "2"))
    assert main(["--storage", str(tmp_path), "show", "2"]) == 2
    assert f"{bad}: unreadable run file" in capsys.readouterr().err
    assert main(["--storage", str(tmp_path), "show", "latest-complete"]) == 0
    captured = capsys.readouterr()
    assert f"warning: skipped {bad}: unreadable run file" in captured.err
    assert "best: #1 tp-size=1" in captured.out


# -- pytest-autotune list / compare -----------------------------------------------------------
def test_list_shows_mode_kind_completeness_and_gate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    save_run(tmp_path, run(**ESTIMATE), "abc")  # type: ignore[arg-type]
    save_run(tmp_path, run(gate={"baseline": "0001", "outcome": "failed", "failed": True},
                           complete=False), "abc")
    save_run(tmp_path, run(**REAL, gate={"baseline": "0001", "failed": False}), "abc")  # type: ignore[arg-type]
    bad = cut_short(tmp_path)
    assert main(["--storage", str(tmp_path), "list"]) == 0
    captured = capsys.readouterr()
    rows = [line.split() for line in captured.out.splitlines()]
    assert rows[0] == ["run", "file", "mode", "kind", "state", "gate", "cases"]
    assert [r[1:] for r in rows[1:4]] == [["estimate", "estimate", "complete", "-", "chat"],
                                          ["sim", "simulated", "partial", "failed", "chat"],
                                          ["docker", "real", "complete", "passed", "chat"]]
    assert rows[4] == [bad.name, "unreadable", "(see", "the", "warning)"]
    assert f"warning: {bad}: unreadable run file" in captured.err


def test_compare_refuses_runs_of_different_kinds_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = save_run(tmp_path, run(1000.0), "abc")
    estimate = save_run(tmp_path, run(6500.0, **ESTIMATE), "abc")  # type: ignore[arg-type]
    assert main(["--storage", str(tmp_path), "compare", "2", "1"]) == 2
    err = capsys.readouterr().err
    assert (f"{estimate.name} is an estimate (estimate mode: a model, nothing measured), "
            f"{sim.name} is measured on the simulator: estimates, simulations and real "
            "measurements are never compared; compare two runs of one kind") in err
    # latest-complete as A is the newest complete run of B's kind
    save_run(tmp_path, run(1001.0), "abc")
    assert main(["--storage", str(tmp_path), "compare", "latest-complete", "3",
                 "--fail-on-regression", "5"]) == 0
    assert "no regression" in capsys.readouterr().out


# -- --lf merges ------------------------------------------------------------------------------
def test_a_merge_never_mixes_kinds() -> None:
    estimate = RunReport.from_dict(run(**ESTIMATE))  # type: ignore[arg-type]
    with pytest.raises(KindMismatch, match="chat tp-size=1 is measured on the simulator and "
                                           "the run it was to be merged into is an estimate"):
        merge(estimate, [trial(1000.0)])
    sim = RunReport.from_dict(run())
    [merged] = merge(sim, [trial(1200.0)])
    assert merged.points[0].metrics is not None
    assert merged.points[0].metrics.output_throughput == 1200.0


# -- results files ----------------------------------------------------------------------------
def write_results(tmp_path: Path, data: dict[str, Any]) -> WriteContext:
    ctx = WriteContext(results_dir=tmp_path / "results", storage=tmp_path / ".autotune",
                       run_dir=tmp_path / "r", rootpath=tmp_path)
    ctx.written += SeedResultsWriter().write(RunReport.from_dict(data), ctx)
    return ctx


def held(tmp_path: Path, suffix: str = "") -> Any:
    return json.loads((tmp_path / "results" / f"chat_results{suffix}.json").read_text())


def test_an_estimate_never_replaces_a_measured_results_file(tmp_path: Path) -> None:
    write_results(tmp_path, run(1000.0))
    ctx = write_results(tmp_path, run(6500.0, **ESTIMATE))  # type: ignore[arg-type]
    assert held(tmp_path)["kind"] == "simulated"
    assert held(tmp_path, ".estimate")["kind"] == "estimate"
    assert ctx.written == [tmp_path / "results" / "chat_results.estimate.json"]
    assert ctx.notes == [
        "results/chat_results.json is measured on the simulator; this run is an estimate "
        "(estimate mode: a model, nothing measured) and does not replace it: written to "
        "results/chat_results.estimate.json instead (delete the former to let this kind take "
        "its place)"]
    # a real server's results outrank the simulator's: the simulated file moves aside
    ctx = write_results(tmp_path, run(900.0, **REAL))  # type: ignore[arg-type]
    assert held(tmp_path)["kind"] == "real" and held(tmp_path, ".simulated")["kind"] == "simulated"
    assert "moved to results/chat_results.simulated.json" in ctx.notes[0]
    # a results file written before they recorded a kind: its mode says
    data = held(tmp_path)
    del data["kind"]
    (tmp_path / "results" / "chat_results.json").write_text(json.dumps(data))
    write_results(tmp_path, run(1000.0))
    assert held(tmp_path)["mode"] == "docker"


# -- the baseline gate ------------------------------------------------------------------------
def baselines(storage: Path, ref: str, caps: Capabilities,
              workerinput: dict[str, Any] | None = None) -> dict[Kind, tuple[Any, Path]]:
    settings: Any = SimpleNamespace(baseline=ref, storage=storage, regression_threshold=0.05)
    return load_baselines(settings, caps, workerinput or {})


SIM, EST, DOCKER = (Capabilities(simulated=True),
                    Capabilities(simulated=True, estimated=True, local_gpus=False),
                    Capabilities())


def test_the_gate_takes_a_baseline_of_its_own_kind(tmp_path: Path) -> None:
    sim = save_run(tmp_path, run(), "abc")
    estimate = save_run(tmp_path, run(**ESTIMATE), "abc")  # type: ignore[arg-type]
    chosen = baselines(tmp_path, "latest-complete", SIM)
    assert {k: p for k, (_, p) in chosen.items()} == {"simulated": sim}
    chosen = baselines(tmp_path, "latest-complete", EST)
    assert {k: p for k, (_, p) in chosen.items()} == {"estimate": estimate}
    with pytest.raises(pytest.UsageError, match=(
            f"--autotune-baseline 2: {estimate.name} is an estimate .* and this run is measured "
            "on the simulator: estimates, simulations and real measurements are never "
            "compared; gate against a run of the same kind")):
        baselines(tmp_path, "2", SIM)
    # docker, ome, endpoint: a server may turn out to be the simulator; never an estimate
    real = save_run(tmp_path, run(**REAL), "abc")  # type: ignore[arg-type]
    chosen = baselines(tmp_path, "latest-complete", DOCKER)
    assert {k: p for k, (_, p) in chosen.items()} == {"simulated": sim, "real": real}
    with pytest.raises(pytest.UsageError, match=r"is an estimate .* and this run measures the "
                                                r"servers it deploys"):
        baselines(tmp_path, "2", DOCKER)
    with pytest.raises(pytest.UsageError, match="no complete run that is an estimate"):
        baselines(tmp_path / "empty", "latest-complete", EST)


def test_a_worker_loads_the_baselines_its_controller_chose(tmp_path: Path) -> None:
    sim = save_run(tmp_path, run(), "abc")
    newer = save_run(tmp_path, run(), "abc")
    sent = {WORKER_KEY: json.dumps({"simulated": str(sim)})}
    chosen = baselines(tmp_path, "latest-complete", SIM, sent)
    assert {k: p for k, (_, p) in chosen.items()} == {"simulated": sim}
    assert {k: p for k, (_, p) in baselines(tmp_path, "latest-complete", SIM).items()} == \
        {"simulated": newer}


def test_the_kind_of_a_measurement_comes_from_the_server() -> None:
    sim_server = DeploymentFacts(server_info={"version": "0.5.5-sim"})
    real_server = DeploymentFacts(server_info={"version": "0.5.5"})
    assert measured_kind(DOCKER, sim_server) == "simulated"
    assert measured_kind(DOCKER, real_server) == "real"
    assert measured_kind(SIM, real_server) == "simulated"
    assert measured_kind(EST, sim_server) == "estimate"


def test_the_terminal_says_the_gate_passed_and_what_improved() -> None:
    better = Change("output_throughput", True, 1000.0, 1200.0, Interval(0.15, 0.25),
                    "improvement")
    same = Change("ttft.p90", False, 0.1, 0.1, Interval(-0.02, 0.02), "within noise")
    result = GateResult(baseline="0003_abc.json",
                        point_changes={("chat", "tp-size=1", "D(100,100)-c8"): [better, same]})
    assert summary_lines(result, "0003_abc.json", 0.05) == [
        "baseline gate passed against 0003_abc.json: 1 point(s) compared, none significantly "
        "worse by more than the 5% threshold",
        "improved vs 0003_abc.json: chat tp-size=1 @ D(100,100)-c8: output_throughput +20.0% "
        "(95 % CI +15.0% … +25.0%), an improvement"]
    result.incomplete = ["interrupted"]
    assert summary_lines(result, "0003_abc.json", 0.05)[0].startswith("improved vs")
