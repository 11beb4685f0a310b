"""pytest-xdist: configurations spread over workers, GPUs leased without overlap, one report.

Points are measured by the genai-bench stand-in (tests/standin), not genai-bench."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from ..scratch import case, sim_processes
from ..standin import use_standin

pytestmark = [pytest.mark.slow]

ORDERED = """\
workload: {scenarios: ["D(50,20)"], concurrency: [1, 8], max_requests: 8}
parameters:
  max-running-requests: [1, 4, 32]
slo: ["error_rate <= 1%"]
"""


def outcomes(result: pytest.RunResult) -> dict[str, str]:
    """nodeid → PASSED/FAILED/... from ``-rA`` summary lines."""
    found: dict[str, str] = {}
    for line in result.outlines:
        m = re.match(r"^(PASSED|FAILED|ERROR|SKIPPED|INFEASIBLE) (\S+)", line)
        if m:
            found[m.group(2)] = m.group(1)
    return found


def best(project: pytest.Pytester, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((project.path / "results" / f"{name}_results.json")
                                      .read_text())
    return data


def test_parallel_run_reports_what_a_serial_run_reports(project: pytest.Pytester) -> None:
    use_standin(project)
    project.makefile(".yaml", ordered=case("ordered", ORDERED))
    serial = project.runpytest_subprocess("ordered.yaml", "-rA", "-p", "no:cacheprovider")
    serial_best = best(project, "ordered")
    parallel = project.runpytest_subprocess("ordered.yaml", "-rA", "-n", "2",
                                            "-p", "no:cacheprovider")
    parallel_best = best(project, "ordered")
    serial.assert_outcomes(passed=6)
    parallel.assert_outcomes(passed=6)
    assert outcomes(serial) == outcomes(parallel) and len(outcomes(serial)) == 6
    for data in (serial_best, parallel_best):
        assert data["best_result"]["config_id"] == "max-running-requests=32"
        assert [e["config_id"] for e in data["all_results"]] == [
            "max-running-requests=1", "max-running-requests=4", "max-running-requests=32"]
    # the parallel run deployed each configuration exactly once
    run_dirs = sorted((project.path / "results" / "runs").iterdir())
    deployed = sorted(p.name for p in (run_dirs[-1] / "ordered").iterdir())
    assert len(deployed) == 3 and not any(name.endswith(".2") for name in deployed)
    parallel.stdout.fnmatch_lines(["*best: #3 max-running-requests=32*"])


def test_gpu_leases_never_overlap_and_tp2_gets_two(project: pytest.Pytester) -> None:
    use_standin(project)
    project.makefile(".yaml", tp=case("tp", """\
        parameters:
          tp-size: [1, 2]
          mem-fraction-static: [0.8, 0.85]
    """))
    result = project.runpytest_subprocess("tp.yaml", "-n", "4", "--autotune-sim-gpus", "3",
                                          "-p", "no:cacheprovider", "-k", "c4")
    result.assert_outcomes(passed=4)
    [log] = list((project.path / "locks" / "virtual").glob("*/leases.jsonl"))
    events = [json.loads(line) for line in log.read_text().splitlines()]
    held: dict[str, str] = {}
    for event in sorted(events, key=lambda e: e["t"]):
        for gpu in event["gpus"]:
            if event["event"] == "acquire":
                assert gpu not in held, f"GPU {gpu} leased twice: {held[gpu]} and {event['note']}"
                held[gpu] = event["note"]
            else:
                held.pop(gpu)
    assert not held
    sizes = {e["note"].split(" ", 1)[1]: len(e["gpus"]) for e in events if e["event"] == "acquire"}
    assert sorted(sizes.values()) == [1, 1, 2, 2]
    assert all(n == 2 for key, n in sizes.items() if "tp-size=2" in key)
    [report] = list((project.path / "results" / "runs").glob("*/report.json"))
    for trial in json.loads(report.read_text())["cases"][0]["trials"]:
        assert len(trial["gpus"]) == trial["params"]["tp-size"], trial
        assert trial["status"] == "ok"


KILL_WORKER = """
import os, signal
from pathlib import Path

def pytest_runtest_call(item):
    # the first worker to reach a measured item of configuration 4 dies on the spot, once
    flag = Path(str(item.config.rootpath)) / "killed-once"
    if "max-running-requests=4" in item.nodeid and not flag.exists():
        flag.write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_crashed_worker_loses_only_its_configuration(project: pytest.Pytester) -> None:
    use_standin(project, KILL_WORKER)
    project.makefile(".yaml", ordered=case("ordered", ORDERED))
    result = project.runpytest_subprocess("ordered.yaml", "-n", "2", "-p", "no:cacheprovider",
                                          "-k", "c8")
    outcome = result.parseoutcomes()
    # the crashed item fails; xdist may run it again on the replacement worker
    assert outcome.get("failed") == 1 and outcome.get("passed", 0) >= 2, outcome
    result.stdout.fnmatch_lines(["*worker 'gw*' crashed while running*max-running-requests=4*",
                                 "*best: #3 max-running-requests=32*"])
    # the dead worker's server was swept and its GPU lease died with it
    assert not sim_processes(str(project.path))
    [log] = list((project.path / "locks" / "virtual").glob("*/leases.jsonl"))
    acquired = [json.loads(x) for x in log.read_text().splitlines()]
    assert sum(e["event"] == "acquire" for e in acquired) >= 3
    assert Path(project.path / "killed-once").exists()
