"""The example suites in tuning_cases/ all pass in sim mode (what `make demo` runs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]


def test_every_example_case_passes_in_sim_mode(tmp_path: Path) -> None:
    proc = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "pytest", "tuning_cases", "-p", "no:cacheprovider",
         "--autotune-results-dir", str(tmp_path / "results"),
         "--autotune-storage", str(tmp_path / "store"),
         "--autotune-lock-dir", str(tmp_path / "locks")],
        cwd=ROOT, capture_output=True, text=True, timeout=900, check=False,
    )
    out = proc.stdout
    assert proc.returncode == 0, out[-6000:] + proc.stderr[-2000:]
    assert "SIMULATED: numbers come from the pytest-autotune simulator" in out
    # the demo of why tuning matters: the winner is not the default and follows the SLO
    assert "best: #2 tp-size=4-dp-size=2" in out
    for case in ("chat-1b", "chat-guard", "throughput-vs-latency"):
        assert (tmp_path / "results" / f"{case}_results.json").exists()
