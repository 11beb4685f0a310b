"""Estimate mode: how fast it is, and whether its shortlist holds the configuration a measured
grid picks.

1. Speed — a 200-configuration × 3-point grid of Llama-3.1-8B on H100 (mem-fraction-static ×
   max-running-requests × schedule-policy × chunked-prefill-size), run as
   ``pytest --autotune-mode=estimate`` in a subprocess, repeated; wall time of the whole run.
2. Shortlist agreement — for each example case in tuning_cases/ that a grid lists: the
   estimate-mode shortlist of K = 3 (what ``--autotune-shortlist=3`` would measure), and the
   winner of a sim-mode grid run (real genai-bench against simulator servers, fresh noise each
   repeat); agreement when the sim winner, or a configuration tied with it, is shortlisted.

    .venv/bin/python benchmarks/estimate_mode.py [--repeats 3] [--skip-agreement]

Prints both and writes benchmarks/results/estimate_mode.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results" / "estimate_mode.json"
GRID = """\
name: grid-200
model: {path: meta-llama/Llama-3.1-8B-Instruct}
sim: {gpu: h100}
parameters:
  mem-fraction-static: [0.75, 0.8, 0.85, 0.88, 0.9]
  max-running-requests: [8, 16, 32, 48, 64, 96, 128, 256, 384, 512]
  schedule-policy: [fcfs, lpm]
  chunked-prefill-size: [4096, 8192]
workload: {scenarios: ["D(200,100)"], concurrency: [1, 16, 64], max_requests: 64}
slo: ["ttft.p99 <= 500ms", "error_rate <= 1%"]
"""
CASES = ("chat-1b.yaml", "throughput-vs-latency.yaml")


def pytest_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
            "--autotune-progress=off", *args]


def speed(repeats: int) -> dict[str, Any]:
    seconds = []
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        (project / "grid.yaml").write_text(GRID)
        (project / "pytest.ini").write_text("[pytest]\n")
        for _ in range(repeats):
            start = time.perf_counter()
            proc = subprocess.run(pytest_argv("grid.yaml", "--autotune-mode=estimate"),  # noqa: S603
                                  cwd=project, capture_output=True, text=True, check=False)
            seconds.append(time.perf_counter() - start)
            tail = proc.stdout.strip().splitlines()[-1]
            if proc.returncode not in (0, 1):
                raise SystemExit(f"estimate run failed:\n{proc.stdout[-3000:]}")
            print(f"  200 × 3 estimate grid: {seconds[-1]:.1f} s  ({tail})")
    return {"configurations": 200, "points_per_configuration": 3, "seconds": seconds,
            "median_s": statistics.median(seconds), "last_summary": tail}


def sim_winner(case: str, project: Path) -> tuple[str | None, list[str]]:
    """Run the case's grid in sim mode; its winner and the configurations tied with it."""
    proc = subprocess.run(pytest_argv(case, "--autotune-progress=off"), cwd=project,  # noqa: S603
                          capture_output=True, text=True, check=False)
    name = case.removesuffix(".yaml")
    results = json.loads((project / "results" / f"{name}_results.json").read_text())
    best = results.get("best_result") or {}
    run = json.loads(sorted((project / ".autotune" / "runs").glob("*.json"))[-1].read_text())
    tied: list[str] = []
    for entry in run.get("cases", []):
        if entry.get("name") == name:
            tied = [t.get("config_id") for t in entry.get("tied") or []]
    if proc.returncode not in (0, 1):
        raise SystemExit(f"sim run of {case} failed:\n{proc.stdout[-3000:]}")
    return best.get("config_id"), tied


def shortlist(case: str, project: Path) -> dict[str, Any]:
    """``--autotune-shortlist=3`` collects the shortlist without measuring it."""
    proc = subprocess.run(pytest_argv(case, "--autotune-shortlist=3", "--collect-only"),  # noqa: S603
                          cwd=project, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"shortlist of {case} failed:\n{proc.stdout[-3000:]}")
    stored = sorted((project / "results" / "runs").glob("*/shortlist/*.json"))[-1]
    data: dict[str, Any] = json.loads(stored.read_text())
    return data


def agreement(repeats: int) -> list[dict[str, Any]]:
    rows = []
    for case in CASES:
        for r in range(repeats):
            with tempfile.TemporaryDirectory() as tmp:
                project = Path(tmp)
                (project / case).write_text((ROOT / "tuning_cases" / case).read_text())
                (project / "pytest.ini").write_text("[pytest]\n")
                listed = shortlist(case, project)
                chosen = [k.partition("[")[2].removesuffix("]") for k in listed["chosen"]]
                winner, tied = sim_winner(case, project)
                ok = winner in chosen or any(t in chosen for t in tied)
                rows.append({"case": case, "repeat": r, "shortlist": chosen,
                             "sim_winner": winner, "tied_with_winner": tied, "agrees": ok,
                             "estimate_seconds": listed["seconds"]})
                print(f"  {case} #{r}: shortlist {chosen}; sim winner {winner} "
                      f"(tied: {tied or 'none'}) -> {'agrees' if ok else 'MISSES'}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-agreement", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    print("speed:")
    fast = speed(args.repeats)
    rows = [] if args.skip_agreement else (print("shortlist agreement:") or agreement(
        args.repeats))
    out = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
           "speed": fast, "agreement": rows,
           "agreement_rate": (sum(r["agrees"] for r in rows) / len(rows)) if rows else None}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=2) + "\n")
    print(f"median {fast['median_s']:.1f} s for 200 × 3 points; agreement "
          f"{sum(r['agrees'] for r in rows)}/{len(rows)}; wrote {OUT}")


if __name__ == "__main__":
    main()
