"""Import cost of the plugin: ``pytest --help`` with pytest-autotune loaded vs blocked.

Runs both commands alternately (A B A B …) so that drift on a shared machine hits both, and
reports the medians and the median of the pairwise differences.

    .venv/bin/python benchmarks/import_cost.py [--runs 15]

Writes benchmarks/results/import_cost.json. Target: < 0.3 s more with the plugin.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results" / "import_cost.json"


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, capture_output=True, timeout=120, check=True)  # noqa: S603
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with_plugin = [sys.executable, "-m", "pytest", "--help"]
    without = [sys.executable, "-m", "pytest", "-p", "no:autotune", "--help"]
    timed(with_plugin)
    timed(without)  # warm the file cache
    a: list[float] = []
    b: list[float] = []
    for _ in range(args.runs):
        a.append(timed(with_plugin))
        b.append(timed(without))
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    result = {"with_plugin_median_s": statistics.median(a),
              "without_plugin_median_s": statistics.median(b),
              "difference_median_s": statistics.median(diffs), "runs": args.runs}
    print(f"pytest --help with plugin:    {result['with_plugin_median_s']:.3f} s (median)")
    print(f"pytest --help without plugin: {result['without_plugin_median_s']:.3f} s (median)")
    print(f"difference (median of pairs): {result['difference_median_s'] * 1000:.0f} ms")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
