"""`pytest-autotune list|show|compare` over stored run files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_autotune.cli import main
from pytest_autotune.decide.scoring import select_best
from pytest_autotune.decide.slo import evaluate, parse_slo
from pytest_autotune.decide.stats import Interval
from pytest_autotune.report.build import build_report
from pytest_autotune.results.records import (
    REPORT_VERSION,
    Completeness,
    ConfigIdentity,
    PointRecord,
    ReportFormatError,
    RunReport,
    group_records,
)
from pytest_autotune.results.runs import load_run, save_run
from pytest_autotune.values import Metrics, Stat, WorkloadPoint


def report(score: float, *, case: str = "chat", complete: bool = True) -> dict[str, Any]:
    """A run report as the plugin writes it: one case, one configuration, one point, ±2 %
    intervals on the throughput and the score."""
    identity = ConfigIdentity(case=case, source=f"{case}.yaml", config_id="tp-size=1",
                              config_key=f"{case}[tp-size=1]", index=0, params={"tp-size": 1},
                              launch_command=("python3", "-m", "x"), simulated=True)
    metrics = Metrics(ttft=Stat(p99=0.05), tpot=Stat(p50=0.002), e2e=Stat(p99=0.3),
                      output_latency=Stat(), output_throughput=score, input_throughput=score,
                      total_throughput=2 * score, request_throughput=1.0, num_requests=8,
                      num_errors=0, run_duration=1.0,
                      intervals={"output_throughput": Interval(0.98 * score, 1.02 * score),
                                 "ttft.p99": Interval(0.045, 0.055)})
    verdicts = tuple(evaluate([parse_slo("ttft.p99 <= 200ms")], metrics))
    [trial] = group_records([PointRecord(config=identity, point=WorkloadPoint("D(100,100)", 8),
                                         outcome="passed", metrics=metrics,
                                         verdicts=verdicts)])
    trial.score = score
    trial.score_interval = Interval(0.98 * score, 1.02 * score)
    run = build_report([trial], {case: select_best([trial])}, run_id="r", started=0.0, mode="sim",
                       commit="abc")
    run.note = "SIMULATED: test"
    if not complete:
        run.completeness = Completeness(False, ("stopped early (-x)",), 2, 1, 1)
    data = run.to_dict()
    assert RunReport.from_dict(data).to_dict() == data  # the run file round-trips
    return data


def test_show_list_and_compare(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    save_run(tmp_path, report(1000.0), "abc")
    save_run(tmp_path, report(900.0), "abc")
    assert main(["--storage", str(tmp_path), "list"]) == 0
    assert "0002_abc_" in capsys.readouterr().out
    assert main(["--storage", str(tmp_path), "show"]) == 0
    out = capsys.readouterr().out
    assert "SIMULATED: test" in out and "D(100,100)-c8" in out
    assert "best: #1 tp-size=1  (900 tok/s ±2.0%)" in out and "launch: python3 -m x" in out
    assert main(["--storage", str(tmp_path), "compare", "1", "--fail-on-regression", "5"]) == 1
    out = capsys.readouterr().out
    assert "-10.0% (95 % CI -12.7% … -7.3%), beyond the 5% threshold" in out
    assert "regression vs 0001_abc_" in out
    assert main(["--storage", str(tmp_path), "compare", "1", "--fail-on-regression", "15"]) == 0
    assert "worse but within the 15% threshold" in capsys.readouterr().out
    assert main(["--storage", str(tmp_path), "show", "9"]) == 2


def test_compare_fails_on_what_only_one_run_has_and_on_a_partial_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    save_run(tmp_path, report(1000.0), "abc")
    save_run(tmp_path, report(1001.0, case="other"), "abc")
    assert main(["--storage", str(tmp_path), "compare", "1", "--fail-on-regression", "5"]) == 1
    out = capsys.readouterr().out
    assert "missing in this run: chat tp-size=1 @ D(100,100)-c8" in out
    assert "not in the baseline: other tp-size=1 @ D(100,100)-c8" in out
    assert main(["--storage", str(tmp_path), "compare", "1", "--fail-on-regression", "5",
                 "--allow-missing"]) == 0
    save_run(tmp_path, report(1000.0, complete=False), "abc")
    assert main(["--storage", str(tmp_path), "compare", "1", "3", "--fail-on-regression",
                 "5"]) == 1
    assert "incomplete run: stopped early (-x)" in capsys.readouterr().out
    # a partial run is never the latest complete one
    assert main(["--storage", str(tmp_path), "compare", "1", "latest-complete",
                 "--fail-on-regression", "5", "--allow-missing"]) == 0


def test_show_survives_a_closed_pipe(tmp_path: Path) -> None:
    import subprocess
    import sys

    save_run(tmp_path, report(1000.0), "abc")
    shown = subprocess.Popen([sys.executable, "-m", "pytest_autotune.cli", "--storage",  # noqa: S603
                              str(tmp_path), "show"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    assert shown.stdout is not None
    shown.stdout.readline()
    shown.stdout.close()  # `| head -1`
    _, err = shown.communicate(timeout=60)
    assert shown.returncode == 0 and b"Traceback" not in err


def test_run_files_carry_their_format_version_and_newer_ones_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = save_run(tmp_path, report(1000.0), "abc")
    assert load_run(path).version == REPORT_VERSION
    data = report(1000.0)
    data["version"] = REPORT_VERSION + 1
    newer = save_run(tmp_path, data, "abc")
    with pytest.raises(ReportFormatError, match=r"0002_abc_.*upgrade pytest-autotune"):
        load_run(newer)
    assert main(["--storage", str(tmp_path), "show", "2"]) == 2
    assert "upgrade pytest-autotune" in capsys.readouterr().err
    data.pop("version")
    unversioned = save_run(tmp_path, data, "abc")
    with pytest.raises(ReportFormatError, match="is it a pytest-autotune run file"):
        load_run(unversioned)


def test_version_1_run_files_still_load(tmp_path: Path) -> None:
    data = report(1000.0)
    data["version"] = 1
    loaded = load_run(save_run(tmp_path, data, "abc"))
    assert loaded.cases[0].best is not None and loaded.cases[0].best.score == 1000.0


def test_a_run_file_is_named_by_its_start_and_names_the_best_as_item_ids_do(
    tmp_path: Path,
) -> None:
    data = {**report(1000.0), "run_id": "20261203-101500-ab12"}
    path = save_run(tmp_path, data, "abc")
    assert path.name == "0001_abc_20261203-101500.json"  # the run id's time, not the end's
    stored = json.loads(path.read_text())
    assert stored["cases"][0]["best"] == "tp-size=1"  # no case[...] brackets
    assert load_run(path).cases[0].best is not None
    older = {**stored, "cases": [{**stored["cases"][0], "best": "chat[tp-size=1]"}]}
    assert RunReport.from_dict(older).cases[0].best is not None  # run files before this change
