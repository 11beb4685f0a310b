"""Evaluate a tuning case's grid in-process (virtual time) and pick the winner with and without
its SLOs: shows how the best configuration of tuning_cases/throughput-vs-latency.yaml changes.

    .venv/bin/python benchmarks/sim_tuning_case.py [tuning_cases/throughput-vs-latency.yaml]

The workload is closed-loop genai-bench-like traffic (D(in,out), each concurrency level,
max(max_requests, concurrency) requests) with genai-bench's client overhead; the objective is the
default one: the highest output throughput at a workload point where every SLO holds.
Writes benchmarks/results/sim_tuning_case.json.
"""

from __future__ import annotations

import itertools
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from pytest_autotune.sim.cli import parse_args
from pytest_autotune.sim.config import resolve
from pytest_autotune.sim.sensitivity import percentile
from pytest_autotune.sim.virtual import random_jobs, run_closed

ROOT = Path(__file__).resolve().parents[1]
CLIENT_S = 0.0035
UNITS = {"ms": 1e-3, "s": 1.0, "%": 1e-2, "": 1.0}


def slo_ok(metrics: dict[str, float], slos: list[str]) -> bool:
    for expr in slos:
        m = re.fullmatch(r"\s*([\w.]+)\s*(<=|>=|<|>)\s*([\d.]+)\s*(ms|s|%)?\s*", expr)
        if m is None:
            raise ValueError(f"cannot parse SLO {expr!r}")
        name, op, num, unit = m.groups()
        limit = float(num) * UNITS[unit or ""]
        value = metrics[name]
        if not {"<=": value <= limit, ">=": value >= limit, "<": value < limit,
                ">": value > limit}[op]:
            return False
    return True


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "tuning_cases" / (
        "throughput-vs-latency.yaml")
    case = yaml.safe_load(path.read_text())
    sim = case.get("sim", {})
    params: dict[str, list[Any]] = case["parameters"]
    work = case["workload"]
    # a soft SLO ({expr:, soft: true}) still decides eligibility for the winner, as in the plugin
    slos: list[str] = [s if isinstance(s, str) else str(s["expr"]) for s in case.get("slo", [])]
    trials = []
    for combo in itertools.product(*params.values()):
        flags: list[str] = []
        for key, value in zip(params, combo, strict=True):
            if value is True:
                flags.append(f"--{key}")
            elif value is not False:
                flags += [f"--{key}", str(value)]
        cfg = resolve(parse_args(["--model-path", case["model"]["path"], "--sim-gpu",
                                  sim.get("gpu", "h100"), *flags]))
        label = " ".join(flags)
        if cfg.failure is not None:
            print(f"{label:28} infeasible: {cfg.failure.kind}")
            continue
        for scenario in work["scenarios"]:
            inp, out = (int(x) for x in scenario[2:-1].split(","))
            for conc in work["concurrency"]:
                n = max(int(work.get("max_requests", 64)), conc)
                res = run_closed(cfg, random_jobs(n, inp, out, seed=5), conc, seed=1,
                                 noise=float(sim.get("noise", 0.03)), client_overhead=CLIENT_S)
                ttft = [r.ttft for r in res.records]
                tpot = [t for r in res.records if (t := r.tpot) is not None]
                metrics = {"ttft.p99": percentile(ttft, 99), "ttft.p50": percentile(ttft, 50),
                           "tpot.p99": percentile(tpot, 99), "error_rate": 0.0,
                           "output_throughput": res.output_throughput}
                trials.append({"config": label, "scenario": scenario, "concurrency": conc,
                               "slo_ok": slo_ok(metrics, slos), **metrics})
                print(f"{label:28} {scenario} c={conc:<3} throughput={res.output_throughput:7.0f}"
                      f" tok/s  ttft.p99={metrics['ttft.p99'] * 1e3:6.0f} ms  "
                      f"SLO {'met' if trials[-1]['slo_ok'] else 'missed'}")

    def best(with_slo: bool) -> dict[str, Any] | None:
        ok = [t for t in trials if t["slo_ok"] or not with_slo]
        return max(ok, key=lambda t: t["output_throughput"]) if ok else None

    winners = {"with_slo": best(True), "without_slo": best(False)}
    for key, w in winners.items():
        if w is None:
            print(f"{key}: no feasible configuration")
        else:
            print(f"winner {key}: {w['config']} ({w['output_throughput']:.0f} tok/s at "
                  f"c={w['concurrency']}, ttft.p99 {w['ttft.p99'] * 1e3:.0f} ms)")
    dest = ROOT / "benchmarks" / "results" / "sim_tuning_case.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps({"case": str(path), "slo": slos, "trials": trials,
                                "winners": winners}, indent=2))
    print(f"wrote {dest}")


if __name__ == "__main__":
    main()
