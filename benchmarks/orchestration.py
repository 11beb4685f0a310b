"""Orchestration overhead of pytest-autotune in sim mode.

A case of 4 configurations × 3 concurrency levels runs through the real plugin. From the run
report: the time servers took to become ready (spawn → /health and /v1/models answer) and the
time genai-bench processes ran; what is left of the wall time is the plugin's own overhead
(pytest start-up, collection, readiness polling slack, teardown, reports).

    .venv/bin/python benchmarks/orchestration.py [--repeat 2]

Prints a table and writes benchmarks/results/orchestration.json.
Target: ≤ 3 s of overhead per configuration; at most one genai-bench process per
configuration and scenario.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results" / "orchestration.json"

CASE = """\
name: overhead
model: {path: meta-llama/Llama-3.2-1B-Instruct}
parameters:
  mem-fraction-static: [0.8, 0.85]
  schedule-policy: [fcfs, lpm]
workload: {scenarios: ["D(100,50)"], concurrency: [1, 4, 16], max_requests: 16}
sim: {gpu: h100, startup_scale: 0.05, noise: 0.0}
"""


def once(project: Path, index: int) -> dict[str, Any]:
    results = project / f"results-{index}"
    argv = [sys.executable, "-m", "pytest", "overhead.yaml", "-q", "-p", "no:cacheprovider",
            "--autotune-results-dir", str(results), "--autotune-storage", str(project / "store")]
    start = time.monotonic()
    proc = subprocess.run(argv, cwd=project, capture_output=True, text=True, timeout=1800,  # noqa: S603
                          check=False)
    wall = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(proc.stdout[-4000:])
    [report] = list(results.glob("runs/*/report.json"))
    trials = json.loads(report.read_text())["cases"][0]["trials"]
    deploy = sum(t["deploy_seconds"] for t in trials)
    bench = sum(sum(p["bench_seconds"] or 0.0 for p in t["points"]) for t in trials)
    processes = [len(list(Path(t["artifacts"]).glob("genai-bench-*"))) for t in trials]
    overhead = wall - deploy - bench
    return {"wall_s": wall, "server_ready_s": deploy, "genai_bench_s": bench,
            "overhead_s": overhead, "overhead_per_config_s": overhead / len(trials),
            "configurations": len(trials), "genai_bench_processes": processes}


def collect_only(project: Path) -> float:
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "pytest", "overhead.yaml", "--collect-only", "-q",
                    "-p", "no:cacheprovider"], cwd=project, capture_output=True, timeout=120,
                   check=True)
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="autotune-overhead-") as tmp:
        project = Path(tmp)
        (project / "pytest.ini").write_text("[pytest]\nautotune_lock_dir = locks\n")
        (project / "overhead.yaml").write_text(CASE)
        runs = [once(project, i) for i in range(args.repeat)]
        collect = statistics.median(collect_only(project) for _ in range(3))
    keys = ("wall_s", "server_ready_s", "genai_bench_s", "overhead_s", "overhead_per_config_s")
    print(f"{'run':>3} " + " ".join(f"{k:>22}" for k in keys) + "  genai-bench processes")
    for i, r in enumerate(runs):
        print(f"{i:>3} " + " ".join(f"{r[k]:>22.1f}" for k in keys)
              + f"  {r['genai_bench_processes']}")
    median = {k: statistics.median(r[k] for r in runs) for k in keys}
    print(f"median overhead per configuration: {median['overhead_per_config_s']:.2f} s "
          f"(pytest start-up + collection alone: {collect:.2f} s)")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"runs": runs, "median": median,
                               "pytest_collect_only_s": collect}, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
