"""Parallel efficiency of pytest-xdist runs in sim mode, and the cost of a GPU lease.

Eight configurations of Llama-3.1-8B on a virtual pool of 8 H100s, each with a realistic
start-up (model load + CUDA-graph capture, scaled by STARTUP_SCALE) and a short benchmark, run
with ``-n 1``, ``-n 2`` and ``-n 4`` side by side in one invocation of this script:

    efficiency(n) = wall(-n 1) / (n × wall(-n n))

Then ``GpuPool.lease`` + ``release`` is timed with pytest-benchmark.

    .venv/bin/python benchmarks/parallel.py [--startup-scale 1.0] [--workers 1 2 4]

Prints a table and writes benchmarks/results/parallel.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results" / "parallel.json"

CASE = """\
name: eight
model: {{path: meta-llama/Llama-3.1-8B-Instruct}}
parameters:
  mem-fraction-static: [0.80, 0.81, 0.82, 0.83, 0.84, 0.85, 0.86, 0.87]
workload: {{scenarios: ["D(100,50)"], concurrency: [4], max_requests: 8}}
sim: {{gpu: h100, startup_scale: {scale}, noise: 0.0}}
"""

LEASE_BENCH = '''
from pytest_autotune.backends.gpus import GpuPool


def test_lease_and_release_one_gpu(benchmark, tmp_path):
    pool = GpuPool([str(i) for i in range(8)], tmp_path)

    def cycle():
        pool.lease(1, timeout=1).release()

    benchmark(cycle)


def test_lease_two_of_eight_with_six_held(benchmark, tmp_path):
    pool = GpuPool([str(i) for i in range(8)], tmp_path)
    held = pool.lease(6, timeout=1)

    def cycle():
        pool.lease(2, timeout=1).release()

    benchmark(cycle)
    held.release()
'''


def run_case(project: Path, workers: int) -> dict[str, Any]:
    results = project / f"results-n{workers}"
    argv = [sys.executable, "-m", "pytest", "eight.yaml", "-q", "-p", "no:cacheprovider",
            "-n", str(workers), "--autotune-results-dir", str(results),
            "--autotune-storage", str(project / ".autotune")]
    start = time.monotonic()
    proc = subprocess.run(argv, cwd=project, capture_output=True, text=True, timeout=3600,  # noqa: S603
                          check=False)
    wall = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"-n {workers} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    [report] = list(results.glob("runs/*/report.json"))
    trials = json.loads(report.read_text())["cases"][0]["trials"]
    deploy = [t["deploy_seconds"] for t in trials]
    bench = [sum(p["bench_seconds"] or 0 for p in t["points"]) for t in trials]
    return {"workers": workers, "wall_s": wall, "configurations": len(trials),
            "mean_deploy_s": sum(deploy) / len(deploy), "mean_bench_s": sum(bench) / len(bench)}


def lease_cost(project: Path) -> dict[str, Any]:
    bench_file = project / "test_lease_cost.py"
    bench_file.write_text(textwrap.dedent(LEASE_BENCH))
    out = project / "lease.json"
    subprocess.run(  # noqa: S603
        [sys.executable, "-m", "pytest", str(bench_file), "-q", "-p", "no:cacheprovider",
         "-p", "no:autotune", f"--benchmark-json={out}"], cwd=project, check=True, timeout=600,
        capture_output=True,
    )
    data = json.loads(out.read_text())
    return {b["name"]: {"median_us": b["stats"]["median"] * 1e6, "rounds": b["stats"]["rounds"]}
            for b in data["benchmarks"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--startup-scale", type=float, default=1.0)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="autotune-parallel-") as tmp:
        project = Path(tmp)
        (project / "pytest.ini").write_text("[pytest]\nautotune_lock_dir = locks\n")
        (project / "eight.yaml").write_text(CASE.format(scale=args.startup_scale))
        runs = [run_case(project, n) for n in args.workers]
        leases = lease_cost(project)
    base = next(r for r in runs if r["workers"] == min(args.workers))
    for r in runs:
        r["speedup"] = base["wall_s"] / r["wall_s"]
        r["efficiency"] = r["speedup"] / (r["workers"] / base["workers"])
    print(f"{'workers':>7} {'wall s':>8} {'speed-up':>9} {'efficiency':>10} "
          f"{'deploy s/config':>16} {'bench s/config':>15}")
    for r in runs:
        print(f"{r['workers']:>7} {r['wall_s']:>8.1f} {r['speedup']:>9.2f} "
              f"{r['efficiency']:>10.0%} {r['mean_deploy_s']:>16.1f} {r['mean_bench_s']:>15.1f}")
    for name, stats in leases.items():
        print(f"lease {name}: median {stats['median_us']:.0f} µs ({stats['rounds']} rounds)")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"cpus": os.cpu_count(), "startup_scale": args.startup_scale,
                               "runs": runs, "lease": leases}, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
