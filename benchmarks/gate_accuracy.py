"""How often the baseline gate and the tie detector are right, with the simulator's default
(realistic) noise and fresh deployments: A/A false alarms, A/B detection of planted slowdowns,
ties among configurations equal by construction, no ties across a real 10 % gap, and what racing
saves against fixed repeats.

    .venv/bin/python benchmarks/gate_accuracy.py [--pairs 40] [--ab 20] [--ties 40]

Each run deploys fresh simulated servers (a new noise seed per deployment, as sim mode does) and
measures genai-bench-like closed-loop passes in virtual time, in-process; the requests go through
the plugin's own statistics (bench/intervals.py with the default noise floor), scoring, ranking
(ranking.py) and gate (gate.py), exactly as a pytest run would use them. What this leaves out is
the benchmark client's own timing noise on the machine that runs it. Writes
benchmarks/results/gate_accuracy.json.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pytest_autotune.bench.intervals import NoiseFloor, point_estimates, pool_passes
from pytest_autotune.bench.samples import RequestSamples
from pytest_autotune.cases import case_from_marker
from pytest_autotune.cases.case import Case
from pytest_autotune.decide import scoring
from pytest_autotune.decide.gate import compare_runs
from pytest_autotune.decide.racing import Racing
from pytest_autotune.decide.ranking import decide
from pytest_autotune.decide.slo import evaluate
from pytest_autotune.engine.deploy import GATE_PASSES, PassPlan
from pytest_autotune.report.build import build_report
from pytest_autotune.results.records import (
    ConfigIdentity,
    PointRecord,
    RunReport,
    Trial,
    group_records,
)
from pytest_autotune.sim.cli import parse_args
from pytest_autotune.sim.config import resolve
from pytest_autotune.sim.virtual import VirtualCluster, random_jobs
from pytest_autotune.values import Metrics, Stat, WorkloadPoint

ROOT = Path(__file__).resolve().parents[1]
CLIENT_S = 0.0035
NOISE = 0.03
IDLE_BETWEEN_PASSES_S = 10.0
FLOOR = NoiseFloor()  # the default --autotune-noise-floor

GATE_CASE = {
    "name": "gate", "model": {"path": "meta-llama/Llama-3.1-8B-Instruct"},
    "parameters": {"max-running-requests": [64]},
    "workload": {"scenarios": ["D(100,100)"], "concurrency": [8, 32], "max_requests": 64},
    "slo": ["ttft.p90 <= 500ms", "error_rate <= 1%"],
}
EQUAL_CASE = {
    "name": "equal", "model": {"path": "meta-llama/Llama-3.1-8B-Instruct"},
    "parameters": {"mem-fraction-static": [0.7, 0.8, 0.9]},  # unsaturated: the same server
    "workload": {"scenarios": ["D(100,100)"], "concurrency": [8], "max_requests": 64},
    "slo": ["error_rate <= 1%"],
}


def load(spec: dict[str, Any]) -> Case:
    return case_from_marker(spec, source=f"{spec['name']}.yaml", default_name=spec["name"],
                            base_dir=ROOT)


def empty_metrics() -> Metrics:
    return Metrics(ttft=Stat(), tpot=Stat(), e2e=Stat(), output_latency=Stat(),
                   output_throughput=0, input_throughput=0, total_throughput=0,
                   request_throughput=0, num_requests=0, num_errors=0, run_duration=0)


def one_pass(cluster: VirtualCluster, point: WorkloadPoint, n: int, seed: int) -> \
        tuple[Metrics, RequestSamples]:
    inp, out = (int(x) for x in point.scenario[2:-1].split(","))
    res = cluster.run(concurrency=point.concurrency, jobs=random_jobs(n, inp, out, seed=seed))
    recs = res.records
    samples = RequestSamples(
        ttft=tuple(r.ttft for r in recs), tpot=tuple(t for r in recs if (t := r.tpot)),
        e2e=tuple(r.e2e for r in recs), output_latency=tuple(r.end - r.first_token for r in recs),
        input_tokens=tuple(r.input_tokens for r in recs),
        output_tokens=tuple(r.output_tokens for r in recs), duration=res.duration)
    return replace(point_estimates(samples, [empty_metrics()]), passes=1), samples


@dataclass
class Passes:
    """A stand-in for a Deployment, as racing sees one."""

    case: Case
    config: Any
    passes: PassPlan


def run_case(case: Case, seed: int, *, slowdown: float = 1.0, repeats: int = 1,
             race: bool = False, redeploy: bool = False, floor: NoiseFloor = FLOOR) -> \
        tuple[RunReport, int]:
    """One run of ``case``: a fresh deployment per configuration (and per pass, with
    ``redeploy``); returns the report and the benchmark passes spent (point × pass)."""
    records: list[PointRecord] = []
    field: list[Trial] = []
    spent = 0
    for config in case.configurations:
        flags = [f"--{k}={v}" for k, v in config.params]
        args = parse_args(["--model-path", case.model_path, "--sim-noise", str(NOISE),
                           "--sim-slowdown", str(slowdown), *flags])
        cluster = VirtualCluster(resolve(args), seed * 7919 + config.index, NOISE, None,
                                 CLIENT_S, False)
        runs: dict[WorkloadPoint, list[tuple[Metrics, RequestSamples]]] = {}
        plan = PassPlan(first=1 if race else repeats, cap=repeats,
                        more=Racing(lambda c: field) if race else None)
        count = 0
        while True:
            if count and redeploy:
                cluster = VirtualCluster(resolve(args), seed * 7919 + config.index + 104729 *
                                         count, NOISE, None, CLIENT_S, False)
            for point in case.workload.points():
                runs.setdefault(point, []).append(
                    one_pass(cluster, point, case.workload.max_requests, seed + 31 * count))
                cluster.idle(IDLE_BETWEEN_PASSES_S)
            count += 1
            combined = {p: pool_passes(r, floor, redeployed=redeploy) for p, r in runs.items()}
            if count < plan.first:
                continue
            if count >= plan.cap or plan.more is None:
                break
            if not plan.more(Passes(case, config, plan), combined, count):  # type: ignore[arg-type]
                break
        spent += count * len(runs)
        identity = ConfigIdentity(case=case.name, source=case.source, config_id=config.id,
                                  config_key=config.key, index=config.index,
                                  params=config.as_dict(), objective=case.objective,
                                  simulated=True)
        mine = []
        for point, metrics in combined.items():
            mine.append(PointRecord(config=identity, point=point, outcome="passed",
                                    metrics=metrics,
                                    verdicts=tuple(evaluate(case.slos, metrics)),
                                    expected_points=len(combined)))
        records += mine
        [trial] = group_records(mine)
        field.append(scoring.with_builtin_score(trial))
    trials = [scoring.with_builtin_score(t) for t in group_records(records)]
    report = build_report(trials, {case.name: decide(trials, "maximize")}, run_id=f"s{seed}",
                          started=0.0, mode="sim", commit="bench")
    return report, spent


def gate_rates(case: Case, pairs: int, slowdown: float, repeats: int, seed0: int,
               redeploy: bool = False) -> dict[str, Any]:
    alarms = 0
    for i in range(pairs):
        a, _ = run_case(case, seed0 + 2 * i, repeats=repeats, redeploy=redeploy)
        b, _ = run_case(case, seed0 + 2 * i + 1, slowdown=slowdown, repeats=repeats,
                        redeploy=redeploy)
        alarms += compare_runs(a, b, baseline_name="A").failed
    return {"slowdown": slowdown, "repeats": repeats, "redeploy": redeploy, "pairs": pairs,
            "failed": alarms, "rate": alarms / pairs}


def tie_rates(case: Case, runs: int, gap_slowdown: float | None, seed0: int, repeats: int = 1,
              redeploy: bool = False) -> dict[str, Any]:
    tied = 0
    for i in range(runs):
        report, _ = run_case(case, seed0 + i, repeats=repeats, redeploy=redeploy)
        if gap_slowdown is not None:  # configuration 2 really slower
            slower, _ = run_case(case, seed0 + 1000 + i, slowdown=gap_slowdown, repeats=repeats,
                                 redeploy=redeploy)
            fast = report.cases[0].trials[0]
            slow = replace(slower.cases[0].trials[1])
            trials = [fast, slow]
            decision = decide(trials, "maximize")
            tied += bool(decision.tied)
        else:
            tied += len(report.cases[0].tied) == len(report.cases[0].trials) - 1
    return {"runs": runs, "tied": tied, "rate": tied / runs, "repeats": repeats,
            "redeploy": redeploy, "gap": None if gap_slowdown is None else 1 - 1 / gap_slowdown}


def racing_cost(case: Case, runs: int, seed0: int) -> dict[str, Any]:
    raced = fixed = 0
    for i in range(runs):
        raced += run_case(case, seed0 + i, repeats=3, race=True)[1]
        fixed += run_case(case, seed0 + i, repeats=3, race=False)[1]
    return {"runs": runs, "passes_raced": raced, "passes_fixed": fixed,
            "saved": 1 - raced / fixed}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=40, help="A/A pairs (default 40)")
    ap.add_argument("--ab", type=int, default=20, help="A/B pairs per slowdown (default 20)")
    ap.add_argument("--ties", type=int, default=40, help="runs of the tie checks (default 40)")
    args = ap.parse_args()
    started = time.monotonic()
    gate, equal = load(GATE_CASE), load(EQUAL_CASE)
    out: dict[str, Any] = {"noise": NOISE, "floor": [0.02, 0.05], "gate": [], "ties": {}}
    for repeats, redeploy in ((1, False), (3, False), (3, True)):
        out["gate"].append(gate_rates(gate, args.pairs, 1.0, repeats, 1000, redeploy))
        for slowdown in (1.05, 1.10):
            out["gate"].append(gate_rates(gate, args.ab, slowdown, repeats, 5000, redeploy))
    for row in out["gate"]:
        kind = "A/A false alarms" if row["slowdown"] == 1.0 else \
            f"A/B slowdown {row['slowdown']:.2f} detected"
        how = f"{row['repeats']} pass(es)" + (", redeployed" if row["redeploy"] else "") + \
            (" (the default of a gated run)" if (row["repeats"], row["redeploy"]) ==
             (GATE_PASSES, False) else "")
        print(f"gate, {how}: {kind}: {row['failed']} of {row['pairs']} ({row['rate']:.1%})")
    for repeats, redeploy in ((1, False), (3, True)):
        how = f"{repeats} pass(es)" + (", redeployed" if redeploy else "")
        equal_row = tie_rates(equal, args.ties, None, 9000, repeats, redeploy)
        gap_row = tie_rates(equal, args.ties, 1 / 0.9, 9500, repeats, redeploy)
        out["ties"][how] = {"equal": equal_row, "gap_10pct": gap_row}
        print(f"ties, {how}: equal configurations reported tied in {equal_row['tied']} of "
              f"{args.ties} runs; a real 10 % gap reported tied in {gap_row['tied']} of "
              f"{args.ties}")
    examples = [load(spec) for spec in _example_specs()]
    out["racing"] = {c.name: racing_cost(c, 5, 12000) for c in examples}
    for name, row in out["racing"].items():
        print(f"racing vs fixed 3 repeats, {name}: {row['passes_raced']} passes vs "
              f"{row['passes_fixed']} (saved {row['saved']:.0%})")
    out["seconds"] = time.monotonic() - started
    dest = ROOT / "benchmarks" / "results" / "gate_accuracy.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(out, indent=2))
    print(f"wrote {dest} ({out['seconds']:.0f} s)")


def _example_specs() -> list[dict[str, Any]]:
    import yaml

    specs = []
    for name in ("chat-1b", "throughput-vs-latency"):
        data = yaml.safe_load((ROOT / "tuning_cases" / f"{name}.yaml").read_text())
        data.pop("sim", None)
        data["parameters"] = {k: v for k, v in data["parameters"].items()}
        if name == "throughput-vs-latency":  # tp 8 × dp 2 needs 16 GPUs: never measured
            data["parameters"] = {"tp-size": [4, 8], "dp-size": [1]}
        specs.append(data)
    return specs


if __name__ == "__main__":
    main()
