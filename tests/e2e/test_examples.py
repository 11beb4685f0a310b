"""The example suites in tuning_cases/ all pass in sim mode (what `make demo` runs), and run
unchanged in a mode that a conftest adds (``relay``, tests/relay.py), side by side."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ..standin import STANDIN_CONFTEST

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
CASES = ("chat-1b", "chat-guard", "throughput-vs-latency")
#: searched by optuna: which configurations it measures depends on what earlier trials scored,
#: so the two runs (genai-bench, the stand-in) may measure different ones; every one passes
SEARCHED = {"search-8b": 3}


def start(cwd: Path, out: Path, *args: str) -> subprocess.Popen[str]:
    """``pytest tuning_cases`` in ``cwd``, its files under ``out``."""
    return subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "pytest", "tuning_cases", "-p", "no:cacheprovider",
         "--autotune-results-dir", str(out / "results"), "--autotune-storage", str(out / "store"),
         "--autotune-lock-dir", str(out / "locks"), *args],
        cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def finish(*procs: subprocess.Popen[str]) -> list[str]:
    """Every run's output, each waited for (or killed) before any is judged: a failing run
    leaves no other one behind."""
    done = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=900)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        done.append((proc.returncode, out, err))
    for code, out, err in done:
        assert code == 0, out[-6000:] + err[-2000:]
    return [out for _, out, _ in done]


def outcomes(results: Path) -> dict[str, list[tuple[str, str, str]]]:
    """Per case: (configuration, point, outcome) of every item."""
    found = {}
    for case in CASES:
        data: dict[str, Any] = json.loads((results / f"{case}_results.json").read_text())
        found[case] = [(e["config_id"], p["id"], p["outcome"])
                       for e in data["all_results"] for p in e["points"]]
    return found


def test_every_example_case_passes_in_sim_mode_and_in_a_conftest_mode(tmp_path: Path) -> None:
    # the demo as `make demo` runs it: this repository's configuration, real genai-bench
    demo = start(ROOT, tmp_path / "demo")
    try:
        # beside it: a project of its own whose conftest adds the mode `relay`; its points are
        # measured by the genai-bench stand-in (tests/standin), which keeps the runs' load apart
        project = tmp_path / "project"
        shutil.copytree(ROOT / "tuning_cases", project / "tuning_cases")
        (project / "conftest.py").write_text(STANDIN_CONFTEST + "\n" +
                                             (ROOT / "tests" / "relay.py").read_text())
        relay = start(project, tmp_path / "relay", "--autotune-mode=relay")
    except BaseException:
        demo.kill()
        demo.communicate()
        raise
    demo_out, relay_out = finish(demo, relay)

    for out in (demo_out, relay_out):
        assert "SIMULATED: numbers come from the pytest-autotune simulator" in out
        assert "23 passed, 2 infeasible" in out
        # the trade-off of throughput-vs-latency: one of its two candidates wins, never the
        # others, and never no one (every c=16 point meets the soft TTFT target by 1.2 s or
        # more). Which one depends on the client and the machine's load: through genai-bench
        # TP4×DP2's p99 TTFT at c=64 (~2.45 s in virtual time) was 2.6–3.4 s on a busy 2-core
        # machine against the 2.9 s target, and when it misses TP8's c=16 point wins; the
        # stand-in of the relay run measures lower tails at c=64 (TP8 2.2 s), so there TP8's
        # c=64 point can meet the target and win
        assert ("best: #2 tp-size=4-dp-size=2" in out) != ("best: #3 tp-size=8-dp-size=1" in out)
    assert "launch: relay python3 -m sglang.launch_server" in relay_out
    demo_results, relay_results = tmp_path / "demo" / "results", tmp_path / "relay" / "results"
    assert outcomes(relay_results) == outcomes(demo_results)
    for results in (demo_results, relay_results):
        for case, trials in SEARCHED.items():
            data = json.loads((results / f"{case}_results.json").read_text())
            assert [p["outcome"] for e in data["all_results"] for p in e["points"]] == \
                ["passed"] * trials
            assert len({e["config_id"] for e in data["all_results"]}) == trials
            assert data["best_result"]["config_id"] in {e["config_id"] for e in
                                                        data["all_results"]}
    # the demo's HTML report: named in its output, a section per case
    [html] = (demo_results / "runs").glob("*/report.html")
    assert f"wrote {html}" in demo_out
    page = html.read_text(encoding="utf-8")
    assert all(f'id="case-{case}"' in page for case in (*CASES, *SEARCHED))
    for case in CASES:
        data = json.loads((relay_results / f"{case}_results.json").read_text())
        assert data["mode"] == "relay" and data["simulated"] is True
    relayed = (project / "relayed.txt").read_text().splitlines()
    # chat-1b, chat-guard, the 3 feasible TP/DP layouts, and the 3 trials of search-8b
    assert len(relayed) == 4 + 2 + 3 + 3
