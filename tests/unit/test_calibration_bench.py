"""The calibration benchmarks' own plumbing: ``--set`` overrides only float constants of
``costmodel.Calibration`` and names them when it refuses, several seeds combine into a mean with
its range, a saved AIConfigurator answer that lacks a case is refused with the case named, and the
grid's worst ratio counts a ratio below 1 as the same factor as its inverse. No simulation here
(the benchmarks run it)."""

from __future__ import annotations

import importlib
import json
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from pytest_autotune.sim.costmodel import Calibration

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load(name: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    # the scripts import each other as top-level modules, as when run from benchmarks/
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    for mod in ("sim_calibration", "aiconfigurator_vs_sim", "calibration_grid"):
        monkeypatch.delitem(sys.modules, mod, raising=False)
    return importlib.import_module(name)


def test_set_overrides_float_constants_and_names_them_when_it_refuses(
        monkeypatch: pytest.MonkeyPatch) -> None:
    bench = load("sim_calibration", monkeypatch)
    calib = bench.calibration(["kv_bw_eff=0.5", "allreduce_s=20e-6"])
    assert (calib.kv_bw_eff, calib.allreduce_s) == (0.5, 20e-6)
    assert calib.bw_eff == Calibration().bw_eff
    assert bench.calibration([]) == Calibration()
    for bad in ("kv_bw=0.5", "kv_bw_eff", "request_straggler_s=0.1"):
        with pytest.raises(SystemExit, match=re.escape(
                "float constants of costmodel.Calibration: bw_eff, kv_bw_eff")):
            bench.calibration([bad])


def test_seeds_combine_into_the_mean_error_and_its_range(monkeypatch: pytest.MonkeyPatch) -> None:
    bench = load("sim_calibration", monkeypatch)

    def row(simulated: float, error: float) -> dict[str, object]:
        return {"anchor": "A4", "metric": "TTFT median (ms)", "published": 50.0,
                "simulated": simulated, "error": error, "target": 0.08,
                "ok": abs(error) <= 0.08}

    [combined] = bench.combine([[row(45.0, -0.10)], [row(48.0, -0.04)], [row(51.0, 0.02)]])
    assert combined["simulated"] == pytest.approx(48.0)
    assert combined["error"] == pytest.approx(-0.04)
    assert (combined["error_min"], combined["error_max"]) == (-0.10, 0.02)
    assert combined["ok"] is True and combined["ok_every_seed"] is False


def test_a_saved_answer_without_a_case_is_refused_with_the_case_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bench = load("aiconfigurator_vs_sim", monkeypatch)
    [case] = [bench.parse_case("h100:8b:1")]
    points = [{"system": case.system, "model": case.aic_model, "tp": case.tp, "isl": isl,
               "osl": osl, "batch_size": bs}
              for isl, osl in bench.SHAPES for bs in bench.BATCH_SIZES]
    saved = tmp_path / "aic.json"
    saved.write_text(json.dumps({"points": points}))
    assert bench.load_aiconfigurator(saved, [case])["points"] == points
    other = bench.parse_case("h100:70b:4")
    with pytest.raises(SystemExit, match=re.escape(f"no points for {other.label}")):
        bench.load_aiconfigurator(saved, [case, other])
    saved.write_text("{}")
    with pytest.raises(SystemExit, match=re.escape("not an answer of aiconfigurator_side.py")):
        bench.load_aiconfigurator(saved, [case])


def test_the_grid_counts_a_ratio_below_one_as_its_inverse(monkeypatch: pytest.MonkeyPatch) -> None:
    grid = load("calibration_grid", monkeypatch)
    summary = [{"median": {"ttft": 1.2, "tpot": 1.1, "decode_thr": 0.5, "e2e_thr": 1.0},
                "saturated_largest": {"delta": -0.2}, "saturated_fitting": {"delta": 0.1}}]
    worst = grid.aic_worst(summary)
    assert worst["decode_thr"] == pytest.approx(2.0)
    assert worst["ttft"] == pytest.approx(1.2)
    assert worst["saturated"] == pytest.approx(1.25)
