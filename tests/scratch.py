"""Scratch projects for tests that run pytest on a tuning case: a small 8B-on-H100 case, and a
check that no simulator process outlives the test."""

from __future__ import annotations

import json
import subprocess
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

BASE = """\
model: {path: meta-llama/Llama-3.1-8B-Instruct}
sim: {gpu: h100, startup_scale: 0.02, noise: 0.0}
"""
WORKLOAD = """\
workload:
  scenarios: ["D(50,20)"]
  concurrency: [1, 4]
  max_requests: 8
"""


def sim_processes(under: str) -> list[str]:
    """Simulator processes whose files live under ``under`` (a test's project)."""
    out = subprocess.run(["pgrep", "-af", "pytest_autotune.sim"], capture_output=True,
                         text=True, check=False, timeout=10)
    return [line for line in out.stdout.splitlines() if under in line]


def scratch_project(pytester: pytest.Pytester) -> Iterator[pytest.Pytester]:
    """A project with its own lock directory; asserts that no simulator process outlives it."""
    pytester.makeini(textwrap.dedent("""\
        [pytest]
        autotune_lock_dir = locks
    """))
    yield pytester
    leaked = sim_processes(str(pytester.path))
    assert not leaked, f"simulator processes left behind: {leaked}"


def case(name: str, body: str) -> str:
    """A small 8B-on-H100 case; ``body`` adds keys (and may replace the workload)."""
    body = textwrap.dedent(body)
    workload = "" if body.startswith("workload:") or "\nworkload:" in body else WORKLOAD
    return f"name: {name}\n{BASE}{workload}{body}"


def run(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    """pytest in a subprocess on the project, skip reasons shown, no cache."""
    return project.runpytest_subprocess(*args, "-rs", "-p", "no:cacheprovider")


def results(project: pytest.Pytester, name: str) -> dict[str, Any]:
    """The case's results file (the earlier tool's ``<name>_results.json`` layout)."""
    data: dict[str, Any] = json.loads(
        (project.path / "results" / f"{name}_results.json").read_text())
    return data
