"""`pytest-autotune list|show|compare` over stored run files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_autotune.cli import main
from pytest_autotune.model import Metrics, Stat, WorkloadPoint
from pytest_autotune.report.build import build_report
from pytest_autotune.report.storage import load_run, save_run
from pytest_autotune.results import (
    REPORT_VERSION,
    ConfigIdentity,
    PointRecord,
    ReportFormatError,
    RunReport,
    group_records,
)
from pytest_autotune.slo import evaluate, parse_slo


def report(score: float) -> dict[str, Any]:
    """A run report as the plugin writes it: one case, one configuration, one point."""
    identity = ConfigIdentity(case="chat", source="chat.yaml", config_id="tp-size=1",
                              config_key="chat[tp-size=1]", index=0, params={"tp-size": 1},
                              launch_command=("python3", "-m", "x"), simulated=True)
    metrics = Metrics(ttft=Stat(p99=0.05), tpot=Stat(p50=0.002), e2e=Stat(p99=0.3),
                      output_latency=Stat(), output_throughput=score, input_throughput=score,
                      total_throughput=2 * score, request_throughput=1.0, num_requests=8,
                      num_errors=0, run_duration=1.0)
    verdicts = tuple(evaluate([parse_slo("ttft.p99 <= 200ms")], metrics))
    [trial] = group_records([PointRecord(config=identity, point=WorkloadPoint("D(100,100)", 8),
                                         outcome="passed", metrics=metrics,
                                         verdicts=verdicts)])
    trial.score = score
    run = build_report([trial], {"chat": trial}, run_id="r", started=0.0, mode="sim",
                       commit="abc")
    run.note = "SIMULATED: test"
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
    assert "best: #1 tp-size=1  (900 tok/s)" in out and "launch: python3 -m x" in out
    assert main(["--storage", str(tmp_path), "compare", "1", "--fail-on-regression", "5"]) == 1
    assert "-10.0%" in capsys.readouterr().out
    assert main(["--storage", str(tmp_path), "compare", "1", "--fail-on-regression", "15"]) == 0
    assert main(["--storage", str(tmp_path), "show", "9"]) == 2


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
