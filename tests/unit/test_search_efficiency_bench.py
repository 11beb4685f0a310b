"""benchmarks/search_efficiency.py keeps to what it claims: its spaces are 48–300 configurations
that mix the tuned flags, one has infeasible regions, and the trial counting is 1-based and stops
at the first hit. No simulation and no Optuna here (the benchmark itself runs them)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from pytest_autotune.cases.load import load_case_file
from pytest_autotune.runtimes.sglang import flag_args
from pytest_autotune.sim.cli import parse_args
from pytest_autotune.sim.config import resolve

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "search_efficiency.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("search_efficiency_bench", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_spaces_are_what_the_issue_asks_for(bench: ModuleType, tmp_path: Path) -> None:
    flags: set[str] = set()
    infeasible = []
    for space in bench.SPACES:
        path = tmp_path / f"{space.name}.yaml"
        path.write_text(space.case)
        case = load_case_file(path)
        assert 48 <= len(case.configurations) <= 300, space.name
        flags |= {axis.name for axis in case.space.axes}
        failed = 0
        for config in case.configurations:
            argv = ["--model-path", case.model_path, *flag_args(config.params),
                    "--sim-gpu", case.sim.gpu, "--sim-gpus-available", str(bench.GPUS)]
            failed += resolve(parse_args(argv)).failure is not None
        infeasible.append(failed)
    assert len(bench.SPACES) >= 4
    assert flags == {"tp-size", "dp-size", "mem-fraction-static", "chunked-prefill-size",
                     "schedule-policy", "cuda-graph-max-bs", "max-running-requests"}
    assert max(infeasible) > 0


def test_trials_to_target_counts_from_one_and_keeps_the_first_hit(bench: ModuleType) -> None:
    true = [10.0, 50.0, 99.0, 100.0]
    judge = bench.Judge(grid=None, true=true, clean=true, best_true=100.0, best_clean=100.0)
    judge.see(0, 10.0)
    assert judge.hits == {"true": None, "noise_free": None, "believed": None}
    judge.see(1, 120.0)  # a lucky observation: believed best, but truly 50
    judge.see(2, 99.0)
    assert judge.hits == {"true": 3, "noise_free": 3, "believed": None}
    judge.see(3, 130.0)
    assert judge.hits == {"true": 3, "noise_free": 3, "believed": 4} and judge.done
    stats = bench.summary([3, None, 5], size=48)
    assert stats["median"] == 5 and stats["max"] == 48 and stats["reached"] == 2
