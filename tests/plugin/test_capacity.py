"""Capacity under SLO (``workload.capacity``): each configuration's highest load at which every
SLO holds, found by probing; every probe is a point of the report; ``maximize_capacity``."""

from __future__ import annotations

from typing import Any

import pytest

from ..scratch import case, results, run
from ..standin import use_standin

CAPACITY = """\
parameters:
  max-running-requests: [4, 64]
workload:
  capacity: {scenario: "D(200,50)", low: 1, high: 64, tolerance: 10%}
  max_requests: 32
slo: ["ttft.p99 <= 300ms", "error_rate <= 1%"]
objective: maximize_capacity
"""


def probes(entry: dict[str, Any]) -> list[tuple[int, str]]:
    return [(p["point"]["concurrency"], p["outcome"]) for p in entry["points"]]


def test_capacity_is_searched_and_ranks_configurations(project: pytest.Pytester) -> None:
    project.makefile(".yaml", cap=case("cap", CAPACITY))
    result = run(project, "cap.yaml", "--autotune-mode=estimate", "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([
        "*cap.yaml::max-running-requests=4::capacity-D(200,50) PASSED*",
        "*capacity of D(200,50) (users at which every SLO holds): #1 * (missed at *); #2 ≥ 64",
        "*best: #2 max-running-requests=64  (64 users)",
    ])
    data = results(project, "cap")
    small, large = data["all_results"]
    # four running requests queue the rest: TTFT passes 300 ms between 4 and 8 users
    loads = probes(small)
    assert loads[:3] == [(1, "passed"), (2, "passed"), (4, "passed")]
    assert (8, "failed") in loads
    capacity = small["objective_score"]
    assert 4 <= capacity < 8
    assert (capacity, "passed") in loads and (capacity + 1, "failed") in loads
    assert probes(large) == [(c, "passed") for c in (1, 2, 4, 8, 16, 32, 64)]
    assert large["objective_score"] == 64


def test_no_load_meeting_the_slos_fails_the_item_with_the_miss(project: pytest.Pytester) -> None:
    project.makefile(".yaml", tight=case("tight", CAPACITY.replace("300ms", "1ms")))
    result = run(project, "tight.yaml", "--autotune-mode=estimate")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([
        "no load from 1 met every SLO: SLO missed at D(200,50)-c1: 1 of 2 failed",
        "  FAIL ttft.p99 <= 1ms * measured *",
    ])
    assert all(probes(e) == [(1, "failed")] for e in results(project, "tight")["all_results"])


@pytest.mark.slow
def test_capacity_beside_fixed_points_on_real_servers(project: pytest.Pytester) -> None:
    """Fixed points and the capacity search share a configuration's one server (also under
    xdist); a probe at a fixed point's load reuses its measurement."""
    use_standin(project)
    project.makefile(".yaml", both=case("both", """\
        parameters:
          max-running-requests: [2, 8]
        workload:
          scenarios: ["D(50,20)"]
          concurrency: [2]
          max_requests: 8
          capacity: {scenario: "D(50,20)", low: 1, high: 4}
        slo: ["error_rate <= 1%"]
        """))
    result = run(project, "both.yaml", "-n", "2")
    result.assert_outcomes(passed=4)
    for entry in results(project, "both")["all_results"]:
        assert probes(entry) == [(1, "passed"), (2, "passed"), (4, "passed")]
    run_dir = next((project.path / "results" / "runs").iterdir())
    assert len([p for p in (run_dir / "both").iterdir() if p.is_dir()]) == 2  # one server each


@pytest.mark.parametrize(("body", "message"), [
    ("objective: maximize_capacity\n",
     "objective: maximize_capacity ranks configurations by the load a capacity search finds"),
    ("workload:\n  capacity: {scenario: \"D(10,10)\", low: 8, high: 4}\n",
     "high (4) is below low (8)"),
    ("workload:\n  capacity: {scenario: \"D(10,10)\", by: rate}\n",
     "workload.capacity.by*"),
])
def test_capacity_mistakes_are_named(project: pytest.Pytester, body: str, message: str) -> None:
    project.makefile(".yaml", bad=case("bad", body))
    result = run(project, "bad.yaml", "--autotune-mode=estimate")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines([f"*bad.yaml*{message}*"])


def test_a_workload_needs_points_or_a_capacity(project: pytest.Pytester) -> None:
    project.makefile(".yaml", bare=case("bare", "workload:\n  max_requests: 8\n"))
    result = run(project, "bare.yaml")
    result.stdout.fnmatch_lines(["*a workload needs scenarios and concurrency levels*"])
