"""How each tunable flag moves the simulated metrics, next to SGLang's documented direction.

    .venv/bin/python benchmarks/sim_sensitivity.py

Virtual time, noise 0 (deterministic); the experiments are the ones tests/unit/sim/
test_sensitivity.py asserts (pytest_autotune/sim/sensitivity.py). Writes
benchmarks/results/sim_sensitivity.json.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from pytest_autotune.sim.sensitivity import EXPERIMENTS, monotone, run_experiment

UNITS = {"output_throughput": ("tok/s", 1.0), "ttft_mean": ("ms", 1e3), "tpot_mean": ("ms", 1e3),
         "itl_p99": ("ms", 1e3), "cache_hit_rate": ("", 1.0), "retractions": ("", 1.0),
         "max_total_num_tokens": ("tokens", 1.0)}


def main() -> None:
    out: list[dict[str, Any]] = []
    print(f"{'flag':36} {'metric':26} {'expected':8} {'values → metric':58} ok")
    for exp in EXPERIMENTS:
        t0 = time.perf_counter()
        rows = run_experiment(exp)
        elapsed = time.perf_counter() - t0
        for metric, direction in {exp.metric: exp.direction, **exp.also}.items():
            unit, scale = UNITS[metric]
            values = [m[metric] for _, m in rows]
            ok = monotone(values, direction)
            shown = ", ".join(f"{v}: {x * scale:.4g}" for (v, _), x in zip(rows, values,
                                                                           strict=True))
            label = f"{metric} ({unit})" if unit else metric
            print(f"{exp.name:36} {label:26} {direction:8} {shown:58} {'yes' if ok else 'NO'}")
            out.append({"experiment": exp.name, "flag": exp.flag, "base_flags": list(exp.base),
                        "model": exp.model, "concurrency": exp.concurrency,
                        "requests": len(exp.jobs), "metric": metric, "direction": direction,
                        "values": [v for v, _ in rows], "measured": values, "ok": ok,
                        "why": exp.doc, "seconds": round(elapsed, 3)})
    dest = Path(__file__).resolve().parent / "results" / "sim_sensitivity.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(out, indent=2))
    print(f"\n{sum(r['ok'] for r in out)}/{len(out)} directions hold; wrote {dest}")


if __name__ == "__main__":
    main()
