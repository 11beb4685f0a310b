"""Failures in sim mode: a server that dies mid-benchmark errors its points (with its log) and
the next configuration still runs; genai-bench is stopped at once instead of hammering a dead
port."""

from __future__ import annotations

import pytest

from ..scratch import case

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

KILLER = """
import os, signal, subprocess, threading, time
from pathlib import Path

import pytest


def _kill_when_busy(truth_dir_hint):
    # wait until genai-bench has sent a few requests to the first configuration, then kill it
    deadline = time.time() + 120
    while time.time() < deadline:
        for truth in Path("results").glob(f"runs/*/die/{truth_dir_hint}*/truth.jsonl"):
            if len(truth.read_text().splitlines()) >= 3:
                out = subprocess.run(["pgrep", "-f", str(truth.resolve())], capture_output=True,
                                     text=True)
                for pid in out.stdout.split():
                    os.kill(int(pid), signal.SIGKILL)
                return
        time.sleep(0.1)


def pytest_sessionstart(session):
    threading.Thread(target=_kill_when_busy, args=("000-",), daemon=True).start()
"""


def test_server_killed_mid_benchmark_errors_and_the_run_goes_on(
    project: pytest.Pytester,
) -> None:
    project.makeconftest(KILLER)
    project.makefile(".yaml", die=case("die", """\
        workload: {scenarios: ["D(50,20)"], concurrency: [1, 4], max_requests: 400,
                   max_time: 1m}
        parameters: {mem-fraction-static: [0.8, 0.85]}
        slo: ["error_rate <= 1%"]
    """))
    result = project.runpytest_subprocess("die.yaml", "-p", "no:cacheprovider",
                                          "-k", "not (mem-fraction-static=0.85 and c4)")
    # configuration 0.8: both points error; configuration 0.85: c1 runs
    result.assert_outcomes(errors=2, passed=1, deselected=1)
    result.stdout.fnmatch_lines([
        "*benchmark failed: genai-bench stopped: the server exited during the benchmark*",
        "*--- server log (last lines) ---*",
    ])
    duration = float(result.stdout.lines[-1].split(" in ")[1].split("s")[0])
    assert duration < 120, "genai-bench should stop when the server dies, not run its 1-min cap"
