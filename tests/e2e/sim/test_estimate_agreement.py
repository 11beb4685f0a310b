"""Estimate mode and sim mode tell the same story.

The same workload points run through both: the simulator as a server measured by one real
genai-bench invocation (as the plugin runs them), and estimate mode's virtual-time run of the
simulator's scheduler. Every SLO metric the plugin scores — TTFT, TPOT and E2E at p50, p90 and
p99, and output throughput — must agree within the bounds below (docs/backends.md, "How close
the estimate is"; benchmarks/estimate_vs_sim.py measures the agreement and the sim's spread).

The points are the case in which the estimate once missed the synchronised users entirely
(Qwen2.5-7B on an H100, ``lpm``, chunked prefill 2048): at D(2000,100) c=8 the eight users'
first requests reach the server together, as locust starts them, and queue for prefill.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pytest_autotune.bench import tokenizers
from pytest_autotune.bench.estimate import CLIENT_OVERHEAD_S, measure_point
from pytest_autotune.bench.plan import Invocation
from pytest_autotune.bench.results import read_runs
from pytest_autotune.bench.runner import BenchRequest, build_argv
from pytest_autotune.sim.cli import parse_args
from pytest_autotune.sim.config import resolve
from pytest_autotune.sim.sensitivity import percentile
from pytest_autotune.sim.virtual import VirtualCluster
from pytest_autotune.values import Metrics, Workload, WorkloadPoint

from .test_genai_bench import genai_bench

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

MODEL = "Qwen/Qwen2.5-7B-Instruct"
FLAGS = ("--sim-gpu", "h100", "--schedule-policy", "lpm", "--chunked-prefill-size", "2048",
         "--sim-noise", "0.03", "--sim-seed", "1")
WORKLOAD = Workload(("D(200,200)", "D(2000,100)"), (8,), max_requests=32)

#: how far the estimate may be from what the simulator did (its ground-truth log: the server's
#: TTFT, TPOT and E2E, from each request's HTTP arrival): a share of the sim's value plus a slack
#: in ms; the shares cover the sim's own spread between runs (docs/backends.md)
SERVER_BOUNDS: dict[str, tuple[float, float]] = {
    "ttft": (0.45, 25.0),
    "tpot": (0.10, 0.5),
    "e2e": (0.15, 50.0),
}
#: how far it may be from what genai-bench measured, beyond the time genai-bench's own process
#: added to that percentile (its value less the truth log's): the estimate models an idle client,
#: while on a busy machine genai-bench reads tokens late — the measured excess is allowed,
#: whatever it is, and the rest must agree. Throughput is compared with genai-bench's scaled by
#: how much longer its requests lasted at the client than at the server (E2E medians: each user
#: sends its next request only when it has read the last one), and its share covers genai-bench's
#: one-second tick (a point of 32 requests lasts 5-8 ticks)
CLIENT_BOUNDS: dict[str, tuple[float, float]] = {
    "ttft": (0.45, 30.0),
    "tpot": (0.15, 1.0),
    "e2e": (0.15, 60.0),
    "output_throughput": (0.35, 0.0),
}
PERCENTILES = ("p50", "p90", "p99")


def values(m: Metrics) -> dict[str, float]:
    out = {f"{name}.{q}": float(getattr(getattr(m, name), q)) * 1e3
           for name in ("ttft", "tpot", "e2e") for q in PERCENTILES}
    out["output_throughput"] = m.output_throughput
    return out


def truth_values(records: list[dict[str, Any]]) -> dict[str, float]:
    out = {}
    for name in ("ttft", "tpot", "e2e"):
        xs = [float(t[name]) * 1e3 for t in records if t[name] is not None]
        for q in PERCENTILES:
            out[f"{name}.{q}"] = percentile(xs, float(q[1:]))
    return out


def estimate() -> dict[WorkloadPoint, Metrics]:
    args = parse_args(["--model-path", MODEL, *FLAGS])
    cluster = VirtualCluster(resolve(args), seed=args.sim_seed, noise=args.sim_noise,
                             client_overhead=CLIENT_OVERHEAD_S)
    out = {}
    for index, point in enumerate(WORKLOAD.points()):
        out[point] = measure_point(cluster, point, WORKLOAD, seed=1009 + index)[0]
    return out


def test_estimate_agrees_with_sim_mode(sim_factory: Any, tmp_path: Path) -> None:
    sim = sim_factory(*FLAGS, model=MODEL)
    req = BenchRequest(
        url=f"http://127.0.0.1:{sim.port}", api_model_name=MODEL,
        tokenizer=str(tokenizers.directory("qwen2.5")), workload=WORKLOAD,
        invocation=Invocation(WORKLOAD.scenarios, WORKLOAD.concurrency),
        out_dir=tmp_path / "run")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "HF_DATASETS_OFFLINE": "1", "ENABLE_UI": "false"}
    res = subprocess.run(build_argv(req, genai_bench()), capture_output=True, text=True,  # noqa: S603
                         timeout=300, env=env, cwd=str(tmp_path), check=False)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    measured = {point: metrics for point, (metrics, _) in read_runs(req.out_dir).items()}
    estimated = estimate()
    assert set(measured) == set(estimated) == set(WORKLOAD.points())
    # the truth log in order of finishing; genai-bench ran the points one after another
    truth = [t for t in map(json.loads, sim.truth.read_text().splitlines())
             if t["endpoint"] == "chat"]
    rows, misses = [], []

    def check(point: WorkloadPoint, side: str, key: str, est: float, sim_value: float,
              allowed: float) -> None:
        rows.append(f"{point.id:16} {side:6} {key:18} estimate {est:9.1f}  sim {sim_value:9.1f}"
                    f"  error {est / sim_value - 1:+7.1%}  allowed ±{allowed:.1f}")
        if abs(est - sim_value) > allowed:
            misses.append(rows[-1])

    for point in WORKLOAD.points():
        n = measured[point].num_requests
        server, truth = truth_values(truth[:n]), truth[n:]
        bench, est = values(measured[point]), values(estimated[point])
        for key, value in server.items():
            share, slack = SERVER_BOUNDS[key.split(".")[0]]
            check(point, "server", key, est[key], value, share * value + slack)
        excess = {key: max(0.0, bench[key] - value) for key, value in server.items()}
        bench["output_throughput"] *= max(1.0, bench["e2e.p50"] / server["e2e.p50"])
        for key, value in bench.items():
            share, slack = CLIENT_BOUNDS[key.split(".")[0]]
            check(point, "client", key, est[key], value,
                  share * value + slack + excess.get(key, 0.0))
    print("\n".join(rows))
    assert not misses, "the estimate disagrees with sim mode:\n" + "\n".join(misses)
