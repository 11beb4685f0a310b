"""How each tunable flag moves the simulated metrics (virtual time, noise 0, deterministic).

Each :class:`Experiment` sweeps one flag on a workload chosen so that the flag matters, and names
the metric and the direction SGLang documents. ``benchmarks/sim_sensitivity.py`` prints the table
and ``tests/unit/sim/test_sensitivity.py`` asserts every direction.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from .cli import parse_args
from .config import ResolvedConfig, resolve
from .virtual import Job, Result, VirtualCluster, random_jobs, run_closed

__all__ = ["EXPERIMENTS", "Experiment", "measure", "monotone", "percentile", "run_experiment"]


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default), ``q`` in 0..100."""
    xs = sorted(values)
    if not xs:
        return math.nan
    k = (len(xs) - 1) * q / 100
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def measure(res: Result) -> dict[str, float]:
    recs = res.records
    ttft = [r.ttft for r in recs]
    tpot = [t for r in recs if (t := r.tpot) is not None]
    itl: list[float] = []
    for r in recs:
        if r.token_times:
            itl.extend(b - a for a, b in itertools.pairwise(r.token_times))
    sched = res.schedulers
    return {
        "output_throughput": res.output_throughput,
        "ttft_mean": sum(ttft) / len(ttft),
        "ttft_p99": percentile(ttft, 99),
        "tpot_mean": sum(tpot) / len(tpot) if tpot else math.nan,
        "itl_p99": percentile(itl, 99) if itl else math.nan,
        "e2e_mean": sum(r.e2e for r in recs) / len(recs),
        "cache_hit_rate": res.cache_hit_rate,
        "retractions": float(sum(s.stats.retracted for s in sched)),
        "max_total_num_tokens": float(sched[0].pool),
    }


@dataclass(frozen=True)
class Experiment:
    name: str
    flag: str
    values: tuple[str, ...]
    metric: str
    direction: str  # "up": metric grows as the flag value goes left to right; "down": shrinks
    doc: str
    jobs: tuple[Job, ...]
    concurrency: int  # closed-loop users; 0 = every request arrives at once (a burst)
    model: str = "meta-llama/Llama-3.1-8B-Instruct"
    base: tuple[str, ...] = ()
    token_times: bool = False
    also: dict[str, str] = field(default_factory=dict)  # further metric -> direction

    def config(self, value: str) -> ResolvedConfig:
        flags = [] if value == "off" else ([self.flag] if value == "on" else [self.flag, value])
        return resolve(parse_args(["--model-path", self.model, *self.base, *flags]))


def _jobs(n: int, inp: int, out: int, prefix_len: int = 0,
          num_prefixes: int = 1) -> tuple[Job, ...]:
    return tuple(random_jobs(n, inp, out, seed=11, prefix_len=prefix_len,
                             num_prefixes=num_prefixes))


EXPERIMENTS: tuple[Experiment, ...] = (
    Experiment("mem-fraction-static", "--mem-fraction-static", ("0.6", "0.75", "0.88"),
               "output_throughput", "up",
               "more KV cache -> larger batches -> higher max throughput at high concurrency",
               _jobs(512, 1000, 1000), 256, also={"max_total_num_tokens": "up"}),
    Experiment("chunked-prefill-size", "--chunked-prefill-size", ("512", "2048", "8192"),
               "ttft_mean", "down",
               "larger chunks need fewer passes for a long prompt: lower TTFT",
               _jobs(12, 8000, 50), 1),
    Experiment("chunked-prefill-size (mixed load)", "--chunked-prefill-size",
               ("512", "2048", "8192"), "itl_p99", "up",
               "with decodes mixed into each chunk, a larger chunk stalls them longer",
               _jobs(64, 6000, 200), 16, base=("--enable-mixed-chunk",), token_times=True),
    Experiment("cuda-graph-max-bs", "--cuda-graph-max-bs", ("64", "256"), "tpot_mean", "down",
               "decode batches above the largest captured graph run eagerly (slower)",
               _jobs(256, 200, 300), 128),
    Experiment("schedule-policy", "--schedule-policy", ("fcfs", "lpm"), "cache_hit_rate", "up",
               "cache-aware ordering keeps shared prefixes in the cache under memory pressure",
               _jobs(600, 2600, 30, prefix_len=2000, num_prefixes=24), 96,
               base=("--max-total-tokens", "40000"), also={"output_throughput": "up"}),
    Experiment("tp-size", "--tp-size", ("1", "2", "4"), "tpot_mean", "down",
               "tensor parallelism splits weights and KV: lower per-token latency",
               _jobs(64, 1000, 200), 8, also={"ttft_mean": "down"}),
    Experiment("max-running-requests", "--max-running-requests", ("16", "64", "256"),
               "tpot_mean", "up",
               "a lower cap gives smaller decode batches (lower ITL) and more queueing (TTFT)",
               _jobs(384, 500, 300), 128, also={"ttft_mean": "down"}),
    Experiment("schedule-conservativeness", "--schedule-conservativeness", ("0.3", "1.0", "2.0"),
               "retractions", "down",
               "a more conservative admission over-commits the KV pool less after an idle "
               "period: fewer retractions, more queueing",
               _jobs(256, 200, 400), 0, base=("--max-total-tokens", "60000"),
               also={"ttft_mean": "up"}),
    Experiment("stream-interval", "--stream-interval", ("1", "4", "16"), "output_throughput",
               "up", "fewer streamed chunks save CPU per step: higher throughput when CPU-bound",
               _jobs(768, 100, 500), 256, model="llama-3.2-1b", base=("--sim-gpu", "h200")),
    Experiment("disable-radix-cache", "--disable-radix-cache", ("off", "on"), "cache_hit_rate",
               "down", "without the prefix cache shared prefixes are prefilled again",
               _jobs(256, 2000, 100, prefix_len=1500, num_prefixes=4), 32,
               also={"ttft_mean": "up", "output_throughput": "down"}),
    Experiment("dp-size", "--dp-size", ("1", "2"), "output_throughput", "up",
               "data-parallel replicas add capacity (docs: favour DP for throughput)",
               _jobs(256, 1000, 200), 64),
)


def run_experiment(exp: Experiment) -> list[tuple[str, dict[str, float]]]:
    rows = []
    for value in exp.values:
        cfg = exp.config(value)
        if exp.concurrency:
            res = run_closed(cfg, exp.jobs, exp.concurrency, keep_token_times=exp.token_times)
        else:
            res = VirtualCluster(cfg, keep_token_times=exp.token_times).run(
                sends=[(0.0, job) for job in exp.jobs])
        rows.append((value, measure(res)))
    return rows


def monotone(values: Sequence[float], direction: str) -> bool:
    pairs = list(itertools.pairwise(values))
    if direction == "up":
        return all(b > a for a, b in pairs)
    return all(b < a for a, b in pairs)
