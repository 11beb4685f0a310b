"""How much identical deployments of the simulator differ: the run-to-run spread of throughput and
latency statistics across fresh deployments (a new noise seed each), in virtual time.

    .venv/bin/python benchmarks/sim_noise.py [--deployments 40] [--noise 0.03]

For each shape (model, GPU, workload point) it deploys the same configuration N times, measures
one genai-bench-like closed-loop pass (and, on the same deployment, a second pass a minute later)
and prints the coefficient of variation (stdev / mean) of output throughput, mean TTFT, p50 and
p99 TTFT, and of the difference between two passes on one deployment. The calibration target is
what identical runs on real GPU deployments show: ~2 % for throughput, ~5 % for p99 latencies
(docs/simulator.md, "Noise"). Writes benchmarks/results/sim_noise.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from pytest_autotune.sim.cli import parse_args
from pytest_autotune.sim.config import resolve
from pytest_autotune.sim.sensitivity import percentile
from pytest_autotune.sim.virtual import VirtualCluster, random_jobs

ROOT = Path(__file__).resolve().parents[1]
CLIENT_S = 0.0035
SHAPES = [
    ("meta-llama/Llama-3.1-8B-Instruct", "h100", [], 100, 100, 8, 64),
    ("meta-llama/Llama-3.1-8B-Instruct", "h100", [], 1000, 200, 32, 96),
    ("meta-llama/Llama-3.2-1B-Instruct", "h20", [], 100, 100, 32, 48),
    ("meta-llama/Llama-3.1-70B-Instruct", "h100", ["--tp-size", "4", "--dp-size", "2"], 1000, 200,
     16, 48),
]


def cv(values: list[float]) -> float:
    return statistics.stdev(values) / statistics.fmean(values)


def one_pass(cluster: VirtualCluster, n: int, inp: int, out: int, conc: int,
             seed: int) -> dict[str, float]:
    res = cluster.run(concurrency=conc, jobs=random_jobs(n, inp, out, seed=seed))
    ttft = [r.ttft for r in res.records]
    return {"output_throughput": res.output_throughput, "ttft.mean": statistics.fmean(ttft),
            "ttft.p50": percentile(ttft, 50), "ttft.p99": percentile(ttft, 99)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--deployments", type=int, default=40)
    ap.add_argument("--noise", type=float, default=None, help="--sim-noise (default: the sim's)")
    args = ap.parse_args()
    rows: list[dict[str, Any]] = []
    for model, gpu, flags, inp, out, conc, n in SHAPES:
        argv = ["--model-path", model, "--sim-gpu", gpu, *flags]
        if args.noise is not None:
            argv += ["--sim-noise", str(args.noise)]
        sim_args = parse_args(argv)
        cfg = resolve(sim_args)
        first: list[dict[str, float]] = []
        second: list[dict[str, float]] = []
        for seed in range(1, args.deployments + 1):
            cluster = VirtualCluster(cfg, seed * 7919, sim_args.sim_noise, None, CLIENT_S, False)
            first.append(one_pass(cluster, n, inp, out, conc, seed))
            cluster.idle(60.0)
            second.append(one_pass(cluster, n, inp, out, conc, seed + 1000))
        row: dict[str, Any] = {"model": model, "gpu": gpu, "flags": flags,
                               "point": f"D({inp},{out})-c{conc}", "requests": n,
                               "noise": sim_args.sim_noise, "deployments": args.deployments}
        for key in first[0]:
            row[f"cv_{key}"] = cv([p[key] for p in first])
            # two passes on one deployment: the spread of their ratio (run-to-run on one server)
            row[f"cv_pass_{key}"] = cv([b[key] / a[key] for a, b in zip(first, second,
                                                                       strict=True)]) / 2**0.5
        rows.append(row)
        print(f"{model.split('/')[-1]:<24} {gpu:<5} {' '.join(flags):<22} {row['point']:<18} "
              f"CV across deployments: tput {row['cv_output_throughput']:.2%}  "
              f"ttft mean {row['cv_ttft.mean']:.2%}  p50 {row['cv_ttft.p50']:.2%}  "
              f"p99 {row['cv_ttft.p99']:.2%} | pass to pass: tput "
              f"{row['cv_pass_output_throughput']:.2%}  p99 {row['cv_pass_ttft.p99']:.2%}")
    dest = ROOT / "benchmarks" / "results" / "sim_noise.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(rows, indent=2))
    print(f"wrote {dest}")


if __name__ == "__main__":
    main()
