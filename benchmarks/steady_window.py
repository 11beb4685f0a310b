"""How the steady-window throughput (bench/steady.py) and genai-bench's tick-bound aggregate
behave as a point's run grows: bias against the server's true throughput and spread between
repeats, per ``max_requests``; and how often the steady interval covers the truth.

Runs genai-bench's workload in virtual time (estimate mode's ``measure_point``: users started at
once, their requests built one after another by one client, the stop rule checked once a second,
requests in flight dropped), so it takes seconds, not hours. The truth is independent of both
estimators: a long run's output tokens of the requests that finished inside a window well after the
spawn, over that window.

    python benchmarks/steady_window.py [--repeats 12] [--out benchmarks/results/steady_window.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from pytest_autotune.bench.estimate import SPAWN_S, jobs, measure_point, template_tokens
from pytest_autotune.sim.cli import parse_args
from pytest_autotune.sim.config import resolve
from pytest_autotune.sim.virtual import VirtualCluster
from pytest_autotune.values import Workload, WorkloadPoint

#: (label, model, gpu, flags, scenario, concurrency)
POINTS = (
    ("search-8b", "meta-llama/Llama-3.1-8B-Instruct", "h100", ("--max-running-requests", "44"),
     "D(200,100)", 32),
    ("chat-1b c8", "meta-llama/Llama-3.2-1B-Instruct", "h20", (), "D(100,100)", 8),
    ("chat-1b c32", "meta-llama/Llama-3.2-1B-Instruct", "h20", (), "D(100,100)", 32),
)
SIZES = (48, 96, 160, 320, 640)


def cluster(model: str, gpu: str, flags: tuple[str, ...], seed: int) -> VirtualCluster:
    args = parse_args(["--model-path", model, "--sim-gpu", gpu, *flags])
    return VirtualCluster(resolve(args), seed=seed, noise=0.03, client_overhead=0.0035)


def truth(model: str, gpu: str, flags: tuple[str, ...], scenario: str, c: int,
          seed: int) -> float:
    """Output tokens of the requests that finished between 5 s and 5 s before the end of a
    2,000-request run on the same server (its seed draws its speed), per second."""
    vc = cluster(model, gpu, flags, seed=seed)
    w = Workload((scenario,), (c,), max_requests=2000)
    result = vc.run(concurrency=c, jobs=jobs(scenario, w, 10_000 + seed, template_tokens(model)),
                    max_time=3600.0, spawn=SPAWN_S, stop_count=2000)
    end = max(r.end for r in result.records)
    lo, hi = 5.0, end - 5.0
    tokens = sum(r.output_tokens for r in result.records if lo <= r.end < hi)
    return tokens / (hi - lo)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=12)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/steady_window.json"))
    args = parser.parse_args()
    started = time.monotonic()
    out: list[dict[str, object]] = []
    for label, model, gpu, flags, scenario, c in POINTS:
        trues = [truth(model, gpu, flags, scenario, c, rep) for rep in range(args.repeats)]
        true = statistics.fmean(trues)
        print(f"{label}: {scenario} at {c} users, true output throughput {true:,.0f} tok/s "
              f"(servers {min(trues):,.0f}–{max(trues):,.0f})")
        print(f"  {'max_req':>7} {'per_user':>8} {'steady s':>8} {'short':>5} "
              f"{'steady bias':>11} {'sd':>6} {'covers':>6} {'genai-bench bias':>16} {'sd':>6}")
        for size in SIZES:
            steady, aggregate, covered, per_user, seconds, short = [], [], 0, [], [], 0
            for rep, true in enumerate(trues):
                vc = cluster(model, gpu, flags, seed=rep)
                w = Workload((scenario,), (c,), max_requests=size)
                metrics, samples = measure_point(vc, WorkloadPoint(scenario, c), w, seed=rep)
                assert samples.steady is not None
                steady.append(metrics.output_throughput / true - 1)
                aggregate.append(metrics.genai_bench["output_throughput"] / true - 1)
                iv = samples.steady.interval("output_throughput")
                covered += iv.low <= true <= iv.high
                per_user.append(samples.steady.per_user)
                seconds.append(samples.steady.seconds)
                short += metrics.short_run
            row = {
                "point": label, "scenario": scenario, "concurrency": c, "max_requests": size,
                "true": statistics.fmean(trues), "repeats": args.repeats,
                "per_user": statistics.fmean(per_user), "steady_seconds": statistics.fmean(seconds),
                "short_share": short / args.repeats,
                "steady_bias": statistics.fmean(steady), "steady_sd": statistics.stdev(steady),
                "steady_interval_coverage": covered / args.repeats,
                "genai_bench_bias": statistics.fmean(aggregate),
                "genai_bench_sd": statistics.stdev(aggregate),
            }
            out.append(row)
            print(f"  {size:>7} {row['per_user']:>8.1f} {row['steady_seconds']:>8.2f} "
                  f"{short:>2}/{args.repeats:<2} {row['steady_bias']:>+11.1%} "
                  f"{row['steady_sd']:>6.1%} {row['steady_interval_coverage']:>6.0%} "
                  f"{row['genai_bench_bias']:>+16.1%} {row['genai_bench_sd']:>6.1%}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": out, "seconds": time.monotonic() - started},
                                   indent=1))
    print(f"wrote {args.out} ({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
