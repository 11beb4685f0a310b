"""Benchmark time pruning saves: a case whose hard TTFT SLO is already missed at the lowest
concurrency, run with and without pruning, alternately (A B A B …) so drift hits both.

The case (real genai-bench against the simulator) measures ``D(100,50)`` at concurrency 1, 8
and 32 under ``ttft.p50 <= 1ms``, which the first point already misses: with pruning
genai-bench stops after c1, without it all three run.

    .venv/bin/python benchmarks/pruning.py [--pairs 3]

Prints the medians and the pairwise ratio and writes benchmarks/results/pruning.json. The
example cases in tuning_cases/ miss no hard SLO, so pruning saves them nothing.
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

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results" / "pruning.json"

CASE = """\
name: tight
model: {path: meta-llama/Llama-3.1-8B-Instruct}
sim: {gpu: h100, startup_scale: 0.02}
workload: {scenarios: ["D(100,50)"], concurrency: [1, 8, 32], max_requests: 64}
slo: ["ttft.p50 <= 1ms"]
"""


def timed(project: Path, *extra: str) -> float:
    argv = [sys.executable, "-m", "pytest", "tight.yaml", "-q", "-p", "no:cacheprovider",
            "--autotune-progress=off", *extra]
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=project, capture_output=True, text=True,  # noqa: S603
                          timeout=900, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 1:  # the SLO is missed on purpose: pytest exits 1
        raise SystemExit(f"unexpected exit {proc.returncode}:\n{proc.stdout[-3000:]}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="autotune-pruning-") as tmp:
        project = Path(tmp)
        (project / "pytest.ini").write_text("[pytest]\nautotune_lock_dir = locks\n")
        (project / "tight.yaml").write_text(CASE)
        pruned, full = [], []
        for _ in range(args.pairs):
            pruned.append(timed(project))
            full.append(timed(project, "--autotune-no-prune"))
    ratios = [a / b for a, b in zip(pruned, full, strict=True)]
    result = {"pairs": args.pairs, "pruned_s": pruned, "unpruned_s": full,
              "pruned_median_s": statistics.median(pruned),
              "unpruned_median_s": statistics.median(full),
              "ratio_median": statistics.median(ratios), "ratio_min": min(ratios),
              "ratio_max": max(ratios)}
    print(f"with pruning:    median {result['pruned_median_s']:.1f} s "
          f"({', '.join(f'{t:.1f}' for t in pruned)})")
    print(f"without pruning: median {result['unpruned_median_s']:.1f} s "
          f"({', '.join(f'{t:.1f}' for t in full)})")
    print(f"ratio (pairwise): median {result['ratio_median']:.2f}, "
          f"min {result['ratio_min']:.2f}, max {result['ratio_max']:.2f}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
