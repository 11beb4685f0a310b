"""`pytest-autotune list|show|compare` over stored run files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_autotune.cli import main
from pytest_autotune.report.storage import save_run


def report(score: float) -> dict[str, Any]:
    metrics = {"output_throughput": score, "error_rate": 0.0, "ttft": {"p99": 0.05},
               "tpot": {"p50": 0.002}, "e2e": {"p99": 0.3}}
    trial = {"config_key": "chat[tp-size=1]", "config_id": "tp-size=1", "params": {"tp-size": 1},
             "status": "ok", "score": score, "reason": None,
             "points": [{"id": "D(100,100)-c8", "outcome": "passed", "metrics": metrics,
                         "verdicts": [{"slo": "ttft.p99 <= 200ms", "ok": True}]}]}
    return {"run_id": "r", "mode": "sim", "simulated": True, "note": "SIMULATED: test",
            "cases": [{"name": "chat", "source": "chat.yaml", "objective_description": "tok/s",
                       "direction": "maximize", "unit": "tok/s", "slos": ["ttft.p99 <= 200ms"],
                       "best": "chat[tp-size=1]", "best_config_id": "tp-size=1",
                       "best_score": score, "launch_command": ["python3", "-m", "x"],
                       "trials": [trial]}]}


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
