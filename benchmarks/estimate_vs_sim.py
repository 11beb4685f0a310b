"""Do estimate mode and sim mode tell the same story? The same points through both.

    .venv/bin/python benchmarks/estimate_vs_sim.py [--repeats N] [--case NAME ...]

Sim side: the simulator as a server process (ground-truth log on) and one real genai-bench
invocation running every point of a case, as the plugin runs them. Estimate side: the same points
in virtual time through ``bench/estimate.py``, on one virtual server, in the same order. Each
side is repeated ``--repeats`` times with different seeds to show its own spread. Prints, per
point, TTFT / TPOT / E2E p50, p90, p99 and output throughput of both and the estimate's error,
and from the truth log the server's own TTFT / TPOT / E2E and how the first requests of each run
reached it (the time from the first to the last, the most within 5 ms of each other).

Writes benchmarks/results/estimate_vs_sim.json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_autotune.bench import tokenizers
from pytest_autotune.bench.estimate import CLIENT_OVERHEAD_S, PAUSE_S, measure_point
from pytest_autotune.bench.results import read_runs
from pytest_autotune.sim.cli import parse_args
from pytest_autotune.sim.config import resolve
from pytest_autotune.sim.sensitivity import percentile
from pytest_autotune.sim.tokens import family_of
from pytest_autotune.sim.virtual import VirtualCluster
from pytest_autotune.values import Metrics, Workload, WorkloadPoint

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "estimate_vs_sim.json"
METRICS = [(m, q) for m in ("ttft", "tpot", "e2e") for q in ("p50", "p90", "p99")]


@dataclass(frozen=True)
class Case:
    name: str
    model: str
    flags: tuple[str, ...]
    scenarios: tuple[str, ...]
    concurrency: tuple[int, ...]
    max_requests: int


CASES = {
    # the case: Qwen2.5-7B on H100, lpm, chunked prefill 2048
    "qwen7b": Case("qwen7b", "Qwen/Qwen2.5-7B-Instruct",
                   ("--sim-gpu", "h100", "--schedule-policy", "lpm",
                    "--chunked-prefill-size", "2048"),
                   ("D(200,200)", "D(2000,100)"), (8, 32), 96),
    # the standing test's points (tests/e2e/sim/test_estimate_agreement.py)
    "standing": Case("standing", "Qwen/Qwen2.5-7B-Instruct",
                     ("--sim-gpu", "h100", "--schedule-policy", "lpm",
                      "--chunked-prefill-size", "2048"),
                     ("D(200,200)", "D(2000,100)"), (8,), 32),
    # chat-1b's shape: Llama-3.2-1B on H20, short prompts
    "chat1b": Case("chat1b", "meta-llama/Llama-3.2-1B-Instruct", ("--sim-gpu", "h20"),
                   ("D(100,100)",), (4, 32), 96),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sim_argv(case: Case, port: int, seed: int, noise: float) -> list[str]:
    return ["--model-path", case.model, "--port", str(port), "--sim-seed", str(seed),
            "--sim-noise", str(noise), *case.flags]


def sim_side(case: Case, tmp: Path, seed: int, noise: float) -> \
        tuple[dict[WorkloadPoint, Metrics], dict[WorkloadPoint, list[dict[str, Any]]]]:
    port = free_port()
    truth = tmp / f"truth-{port}.jsonl"
    argv = [sys.executable, "-m", "pytest_autotune.sim", *sim_argv(case, port, seed, noise),
            "--sim-startup-scale", "0.01", "--sim-truth-log", str(truth)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "ENABLE_UI": "false"}
    with (tmp / f"sim-{port}.log").open("wb") as fh:
        proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT,  # noqa: S603
                                cwd=str(ROOT), env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("simulator did not start") from None
                time.sleep(0.05)
        family = family_of(case.model)
        folder = tmp / f"run-{port}"
        bench = [str(Path(sys.executable).parent / "genai-bench"), "benchmark",
                 "--api-backend", "sglang", "--api-base", f"http://127.0.0.1:{port}",
                 "--api-key", "dummy", "--api-model-name", case.model,
                 "--model-tokenizer", str(tokenizers.directory(family.name if family else None)),
                 "--task", "text-to-text", "--max-requests-per-run", str(case.max_requests),
                 "--max-time-per-run", "1", "--experiment-base-dir", str(tmp),
                 "--experiment-folder-name", folder.name, "--log-dir", str(folder)]
        for s in case.scenarios:
            bench += ["--traffic-scenario", s]
        for c in case.concurrency:
            bench += ["--num-concurrency", str(c)]
        res = subprocess.run(bench, capture_output=True, text=True, env=env,  # noqa: S603
                             cwd=str(tmp), timeout=900, check=False)
        if res.returncode != 0:
            raise RuntimeError(f"genai-bench failed:\n{res.stdout[-2000:]}{res.stderr[-2000:]}")
        measured = {p: m for p, (m, _) in read_runs(folder).items()}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    lines = [json.loads(x) for x in truth.read_text().splitlines()] if truth.exists() else []
    chat = [t for t in lines if t["endpoint"] == "chat"]
    by_point: dict[WorkloadPoint, list[dict[str, Any]]] = {}
    for point in Workload(case.scenarios, case.concurrency).points():  # genai-bench's order
        n = measured[point].num_requests
        by_point[point], chat = chat[:n], chat[n:]
    return measured, by_point


def truth_summary(records: list[dict[str, Any]], concurrency: int) -> dict[str, float]:
    """The server's own TTFT, TPOT and E2E (ms), and how the first ``concurrency`` requests arrived:
    the time from the first to the last (ms) and the most within 5 ms of each other."""
    out = {}
    for name, q in METRICS:
        xs = [t[name] * 1e3 for t in records if t[name] is not None]
        out[f"{name}.{q}"] = percentile(xs, float(q[1:]))
    first = sorted(t["arrival"] for t in records)[:concurrency]
    return {**out, "first_wave_ms": (first[-1] - first[0]) * 1e3,
            "max_in_5ms": max(sum(1 for b in first if a <= b < a + 0.005) for a in first)}


def estimate_side(case: Case, seed: int, noise: float) -> dict[WorkloadPoint, Metrics]:
    cfg = resolve(parse_args(sim_argv(case, 30000, seed, noise)))
    cluster = VirtualCluster(cfg, seed=seed, noise=noise, client_overhead=CLIENT_OVERHEAD_S)
    workload = Workload(case.scenarios, case.concurrency, max_requests=case.max_requests)
    cluster.idle(PAUSE_S)
    out = {}
    for index, point in enumerate(workload.points()):
        out[point] = measure_point(cluster, point, workload, seed=seed * 1009 + index)[0]
    return out


def values(m: Metrics) -> dict[str, float]:
    out = {f"{name}.{q}": getattr(getattr(m, name), q) * 1e3 for name, q in METRICS}
    out["output_throughput"] = m.output_throughput
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--case", action="append", choices=sorted(CASES))
    parser.add_argument("--noise", type=float, default=0.03)
    args = parser.parse_args()
    result: dict[str, Any] = {}
    for name in args.case or sorted(CASES):
        case = CASES[name]
        sims: list[dict[WorkloadPoint, Metrics]] = []
        ests: list[dict[WorkloadPoint, Metrics]] = []
        wave_log = []
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(args.repeats):
                measured, truth = sim_side(case, Path(tmp), seed=r + 1, noise=args.noise)
                sims.append(measured)
                wave_log.append({p.id: truth_summary(t, p.concurrency)
                                 for p, t in truth.items()})
                ests.append(estimate_side(case, seed=r + 1, noise=args.noise))
        rows = []
        for i, log in enumerate(wave_log):
            for pid, summary in log.items():
                print(f"{name:7} {pid:20} truth (run {i + 1}): "
                      + ", ".join(f"{k} {v:.1f}" for k, v in summary.items()))
        for point in Workload(case.scenarios, case.concurrency).points():
            s = [values(x[point]) for x in sims]
            e = [values(x[point]) for x in ests]
            for key in s[0]:
                sv = [v[key] for v in s]
                ev = [v[key] for v in e]
                sm, em = statistics.fmean(sv), statistics.fmean(ev)
                rows.append({"point": point.id, "metric": key, "sim": sv, "estimate": ev,
                             "error": em / sm - 1 if sm else 0.0})
                print(f"{name:7} {point.id:20} {key:18} sim {' '.join(f'{v:9.1f}' for v in sv)}"
                      f"  est {' '.join(f'{v:9.1f}' for v in ev)}  err {em / sm - 1:+7.1%}")
        result[name] = {"rows": rows, "waves": wave_log}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
