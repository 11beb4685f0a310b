"""Search efficiency in estimate mode with noise on: how many trials Optuna (the product's
``optuna`` strategy) and random search (the product's ``random`` strategy) need before they have
measured a configuration within 2 % of the grid's best score.

    .venv/bin/python benchmarks/search_efficiency.py            # 4 spaces, 10 seeds (~5-8 min)
    .venv/bin/python benchmarks/search_efficiency.py --quick    # 2 spaces, 5 seeds (~1-2 min)

Prints a table per space and writes benchmarks/results/search_efficiency.json.

What is measured
----------------
* Four spaces of 48-300 configurations mixing tp-size, dp-size, mem-fraction-static,
  chunked-prefill-size, schedule-policy, cuda-graph-max-bs and max-running-requests (see
  ``SPACES``), two of them with infeasible regions (tp × dp above the 8 GPUs; Llama-3.1-70B with
  too few GPUs per replica or too little memory for its weights). Each space is a case file
  loaded by the product's own loader, so its grid, workload and SLOs are what a run would use.
* Every configuration of every grid is evaluated in estimate mode in-process, as the estimate
  backend does: the simulator's flags resolved by ``sim.config.resolve`` (a start-up failure is
  infeasible), then each workload point measured by ``bench.estimate.measure_point`` on a
  ``VirtualCluster`` with genai-bench's client overhead, the SLOs judged by ``slo.evaluate`` and
  the trial scored by ``scoring.score_trial`` — the default objective: the highest output
  throughput at a point where every SLO holds; no such point: no score.
* Noise on: each configuration is evaluated ``R`` times (default 3) with the simulator's default
  noise (``--sim-noise`` 0.03, the same as a case's ``sim.noise``), each replicate its own
  deployment seed (so its own device factor, drift and jitter), and once more with noise 0 as a
  noise-free reference. A configuration's *true score* is the mean of its replicates (a replicate
  with no score counts 0, so a configuration that misses its SLOs one time in three loses a
  third); the grid's best is the best mean. The noise-free best is reported beside it.
* A search trial of configuration c observes one of c's noisy replicates, drawn at random per
  (seed, configuration) — the same draw for both strategies, so they see the same noise.
* Optuna: the product's ``OptunaStrategy`` itself, unchanged (seeded TPE with its default startup
  trials ``min(10, max(2, budget // 3))``, 10 on every space here, constant liar, Optuna's journal
  storage in a temporary directory, one study per seed), asked ``propose(slot)`` slot by slot and
  told each trial through ``observe(trial)``; configurations with no score (infeasible or missing
  every SLO) are told as failed, as in a run. A proposal of an already-measured configuration is
  answered by the strategy from the study (no deployment) and asked anew: it is not a trial here,
  as it costs nothing (after ten such answers in a row the strategy proposes an unmeasured
  configuration of its own; the table gives how many repeats a search had, and the strategy's own
  time per trial). Random: the product's ``RandomStrategy`` (a seeded sample without replacement
  over the grid). Both run with a budget of the grid's size and seeds 0…S-1 (``search.seed``).
* Trials to 2 %: the first trial (1-based) after which the best configuration measured so far,
  judged by its true score, is at least 98 % of the grid's best. Beside it: the same judged by
  the noise-free score against the noise-free best, and the figure judged by what the search
  itself believes is best (the configuration with the highest observed score so far, the earliest
  on ties), judged by its true score — what a user would deploy. A search that never gets there
  counts as the grid's size. A search stops once every criterion has been met (later trials
  cannot change a first hit), so it runs its whole budget only when one is never met. Reported
  over the seeds: median, interquartile range, min-max, as a count and as a share of the grid;
  ``top`` is how many configurations are within 2 % of the best (random sampling without
  replacement needs (N + 1) / (top + 1) trials on average).
* The target: Optuna's median (true score) at most 25 % of the grid's size on every space.

What is not measured
--------------------
* Wall time of a search in a run: here a trial costs a look-up (in a run, a deployment and a
  benchmark); only the strategy's own overhead per trial is reported.
* The product's winner decision (intervals, ties, preference for fewer GPUs): the believed best
  is the plain argmax of the observed scores.
* Real SGLang: the landscape is the simulator's. Scores are quantised by genai-bench's
  accounting (a run ends at a whole-second tick, so a 6 s run and a 7 s run differ by 1/7), so
  spaces have plateaus of equal scores and noise can move a configuration from one tick to the
  next; this is what estimate mode measures, and ``top`` says how wide each space's top is.
* xdist workers sharing one study, resumed studies, continuous (unstepped) ranges.

Runs the searches one after another in one process (no worker processes).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import platform
import random
import statistics
import tempfile
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_autotune.bench.estimate import CLIENT_OVERHEAD_S, measure_point
from pytest_autotune.cases.case import Case, SearchSettings, SimSettings
from pytest_autotune.cases.load import load_case_file
from pytest_autotune.decide.scoring import score_trial
from pytest_autotune.decide.slo import evaluate
from pytest_autotune.errors import BenchError
from pytest_autotune.results.records import ConfigIdentity, Outcome, PointResult, Trial
from pytest_autotune.runtimes.sglang import flag_args
from pytest_autotune.search.base import SearchContext, SearchExhausted
from pytest_autotune.search.randomized import RandomStrategy
from pytest_autotune.sim.cli import parse_args
from pytest_autotune.sim.config import resolve
from pytest_autotune.sim.virtual import VirtualCluster
from pytest_autotune.values import Configuration

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results" / "search_efficiency.json"
#: the estimate backend's GPU pool (its default)
GPUS = 8
#: within this share of the grid's best
WITHIN = 0.98
#: Optuna's median must be at most this share of the grid
TARGET = 0.25
#: the simulator's default noise (``--sim-noise`` and a case's ``sim.noise``)
DEFAULT_NOISE = SimSettings().noise


@dataclass(frozen=True)
class SpaceDef:
    name: str
    about: str
    case: str


SPACES: tuple[SpaceDef, ...] = (
    SpaceDef("qwen3-8b-parallel", "Qwen3-8B on up to 8 H100s: tp × dp (tp × dp > 8 is "
             "infeasible), prefill chunk, CUDA-graph batch", """\
name: qwen3-8b-parallel
model: {path: Qwen/Qwen3-8B}
sim: {gpu: h100}
parameters:
  tp-size: [1, 2, 4]
  dp-size: [1, 2, 4, 8]
  chunked-prefill-size: [1024, 4096]
  cuda-graph-max-bs: [8, 32]
workload: {scenarios: ["D(1200,128)"], concurrency: [16, 64], max_requests: 192, prefix_len: 1000}
slo: ["ttft.p99 <= 300ms", "tpot.p50 <= 12ms"]
"""),
    SpaceDef("llama8b-batching", "Llama-3.1-8B on one H100: decode batch cap, CUDA-graph batch, "
             "queue order", """\
name: llama8b-batching
model: {path: meta-llama/Llama-3.1-8B-Instruct}
sim: {gpu: h100}
parameters:
  max-running-requests: [16, 24, 32, 48, 64, 80, 96, 128]
  cuda-graph-max-bs: [8, 16, 32, 64, 96, 160]
  schedule-policy: [fcfs, lpm]
workload: {scenarios: ["D(256,256)"], concurrency: [16, 48, 80], max_requests: 96}
slo: ["ttft.p99 <= 300ms", "tpot.p50 <= 11ms"]
"""),
    SpaceDef("llama70b-kv", "Llama-3.1-70B, tp 2-4 × dp 1-2: memory fraction, batch cap, queue "
             "order on long shared-prefix prompts", """\
name: llama70b-kv
model: {path: meta-llama/Llama-3.1-70B-Instruct}
sim: {gpu: h100}
parameters:
  tp-size: [2, 4]
  dp-size: [1, 2]
  mem-fraction-static: {low: 0.84, high: 0.94, step: 0.02}
  max-running-requests: [32, 64, 128]
  schedule-policy: [fcfs, lpm]
workload: {scenarios: ["D(2000,256)"], concurrency: [32, 96], max_requests: 128, prefix_len: 1800}
slo: ["ttft.p99 <= 2s", "tpot.p50 <= 50ms"]
"""),
    SpaceDef("llama70b-parallel", "Llama-3.1-70B on up to 8 H100s: tp × dp × memory fraction × "
             "CUDA-graph batch; 60 % infeasible (too few GPUs per replica, tp × dp > 8)", """\
name: llama70b-parallel
model: {path: meta-llama/Llama-3.1-70B-Instruct}
sim: {gpu: h100}
parameters:
  tp-size: [1, 2, 4, 8]
  dp-size: [1, 2, 4]
  mem-fraction-static: {low: 0.75, high: 0.95, step: 0.05}
  cuda-graph-max-bs: [16, 32, 64, 128, 256]
workload: {scenarios: ["D(256,256)"], concurrency: [32, 128], max_requests: 128}
slo: ["ttft.p99 <= 1s", "tpot.p50 <= 40ms"]
"""),
)
QUICK_SPACES = ("qwen3-8b-parallel", "llama8b-batching")


# -- the grid, evaluated --------------------------------------------------------------------------
@dataclass
class Evaluation:
    """One deployment of one configuration: its points and its score (None: none)."""

    score: float | None
    points: list[PointResult]
    failure: str | None = None


@dataclass
class Grid:
    case: Case
    configs: list[Configuration]
    #: [configuration][replicate]
    noisy: list[list[Evaluation]]
    clean: list[Evaluation]
    seconds_noisy: float
    seconds_clean: float

    @property
    def size(self) -> int:
        return len(self.configs)

    def mean(self, i: int) -> float:
        return statistics.fmean(e.score or 0.0 for e in self.noisy[i])

    def clean_score(self, i: int) -> float:
        return self.clean[i].score or 0.0


def deployment_seed(space: str, config: Configuration, replicate: int) -> int:
    return zlib.crc32(f"{space}|{config.key}|{replicate}".encode())


def evaluate_config(case: Case, config: Configuration, *, seed: int, noise: float) -> Evaluation:
    """What estimate mode measures of ``config``: resolved like the simulator, then each point
    run in virtual time and scored by the default objective."""
    argv = ["--model-path", case.model_path, *flag_args(config.params), "--sim-gpu", case.sim.gpu,
            "--sim-gpus-available", str(GPUS), "--sim-seed", str(seed), "--sim-noise", str(noise)]
    cfg = resolve(parse_args(argv))
    points = case.workload.points()
    if cfg.failure is not None:
        reason = f"SGLang would fail to start ({cfg.failure.kind})"
        return Evaluation(None, [PointResult(p, "infeasible", None, reason=reason)
                                 for p in points], failure=cfg.failure.kind)
    cluster = VirtualCluster(cfg, seed=seed, noise=noise, client_overhead=CLIENT_OVERHEAD_S)
    results = []
    for index, point in enumerate(points):
        try:  # the prompts of a first benchmark pass, as EstimateRunner draws them
            metrics, _ = measure_point(cluster, point, case.workload, seed=1009 + index)
        except BenchError as exc:
            results.append(PointResult(point, "error", None, reason=str(exc)))
            continue
        verdicts = tuple(evaluate(case.slos, metrics))
        outcome: Outcome = "failed" if any(v.hard_failure for v in verdicts) else "passed"
        results.append(PointResult(point, outcome, metrics, verdicts))
    trial = Trial(config=identity(case, config), expected_points=len(points), points=results)
    return Evaluation(score_trial(trial), results)


def identity(case: Case, config: Configuration) -> ConfigIdentity:
    return ConfigIdentity(case=case.name, source=case.source, config_id=config.id,
                          config_key=config.key, index=config.index, params=config.as_dict(),
                          mode="estimate", simulated=True, objective=case.objective)


def evaluate_grid(case: Case, replicates: int, noise: float) -> Grid:
    configs = list(case.configurations)
    noisy: list[list[Evaluation]] = []
    clean: list[Evaluation] = []
    start = time.perf_counter()
    for config in configs:
        noisy.append([evaluate_config(case, config, noise=noise,
                                      seed=deployment_seed(case.name, config, r))
                      for r in range(1, replicates + 1)])
    seconds_noisy = time.perf_counter() - start
    start = time.perf_counter()
    for config in configs:
        clean.append(evaluate_config(case, config, seed=0, noise=0.0))
    seconds_clean = time.perf_counter() - start
    return Grid(case, configs, noisy, clean, seconds_noisy, seconds_clean)


# -- the searches ---------------------------------------------------------------------------------
#: true: best measured so far by its mean score; noise_free: by its noise-free score against the
#: noise-free best; believed: the search's own argmax of observed scores, by its mean score
CRITERIA = ("true", "noise_free", "believed")


@dataclass
class Judge:
    """Follows one search trial by trial and notes when each criterion is first met."""

    grid: Grid
    true: list[float]
    clean: list[float]
    best_true: float
    best_clean: float
    hits: dict[str, int | None] = field(default_factory=lambda: dict.fromkeys(CRITERIA))
    _best_true: float = 0.0
    _best_clean: float = 0.0
    _believed: tuple[float, int] | None = None
    trials: int = 0

    def see(self, index: int, observed: float | None) -> None:
        self.trials += 1
        self._best_true = max(self._best_true, self.true[index])
        self._best_clean = max(self._best_clean, self.clean[index])
        if observed is not None and (self._believed is None or observed > self._believed[0]):
            self._believed = (observed, index)
        met = {"true": self._best_true >= WITHIN * self.best_true,
               "noise_free": self._best_clean >= WITHIN * self.best_clean,
               "believed": self._believed is not None
               and self.true[self._believed[1]] >= WITHIN * self.best_true}
        for name, ok in met.items():
            if ok and self.hits[name] is None:
                self.hits[name] = self.trials

    @property
    def done(self) -> bool:
        return all(v is not None for v in self.hits.values())


def observed_replicate(space: str, seed: int, config: Configuration, replicates: int) -> int:
    return random.Random(f"{space}|{seed}|{config.key}").randrange(replicates)


def with_search(case: Case, strategy: str, seed: int, budget: int) -> Case:
    return dataclasses.replace(case, search=SearchSettings(strategy=strategy, trials=budget,
                                                           seed=seed))


@dataclass
class Run:
    hits: dict[str, int | None]
    trials: int
    seconds: float
    repeats_answered: int = 0


def search(grid: Grid, name: str, seed: int, replicates: int, judge: Judge,
           tmp: Path) -> Run:
    """One search with the product's strategy ``name`` until every criterion is met (the first
    hit is all that is reported) or the grid is exhausted."""
    case = with_search(grid.case, name, seed, grid.size)
    index = {c.key: i for i, c in enumerate(grid.configs)}
    strategy: Any
    if name == "optuna":
        from pytest_autotune.search.optuna import OptunaStrategy

        run_dir = tmp / f"{case.name}-{seed}"
        strategy = OptunaStrategy(case, SearchContext(run_id=f"bench-{seed}", run_dir=run_dir))
    else:
        strategy = RandomStrategy(case)
    start = time.perf_counter()
    for slot in range(grid.size):
        try:
            config = strategy.propose(slot)
        except SearchExhausted:
            break
        i = index[config.key]
        evaluation = grid.noisy[i][observed_replicate(case.name, seed, config, replicates)]
        trial = Trial(config=identity(case, config), expected_points=len(evaluation.points),
                      points=list(evaluation.points), score=evaluation.score)
        strategy.observe(trial)
        judge.see(i, evaluation.score)
        if judge.done:
            break
    seconds = time.perf_counter() - start
    repeats = 0
    if name == "optuna":
        study = strategy.study(None)
        repeats = sum(1 for t in study.get_trials(deepcopy=False)
                      if "duplicate_of" in t.user_attrs)
    return Run(dict(judge.hits), judge.trials, seconds, repeats)


# -- summaries ------------------------------------------------------------------------------------
def summary(values: Sequence[int | None], size: int) -> dict[str, Any]:
    capped = [v if v is not None else size for v in values]
    q1, _, q3 = statistics.quantiles(capped, n=4, method="inclusive")
    median = statistics.median(capped)
    return {"per_seed": list(values), "reached": sum(v is not None for v in values),
            "median": median, "q1": q1, "q3": q3, "min": min(capped), "max": max(capped),
            "median_share": median / size, "q1_share": q1 / size, "q3_share": q3 / size}


def top_count(scores: Sequence[float]) -> int:
    best = max(scores)
    return sum(1 for s in scores if best > 0 and s >= WITHIN * best)


def space_result(space: SpaceDef, grid: Grid, seeds: int, replicates: int,
                 tmp: Path, say: Callable[[str], None]) -> dict[str, Any]:
    true = [grid.mean(i) for i in range(grid.size)]
    clean = [grid.clean_score(i) for i in range(grid.size)]
    best_i = max(range(grid.size), key=lambda i: true[i])
    clean_i = max(range(grid.size), key=lambda i: clean[i])
    started = sum(1 for e in grid.clean if e.failure is None)
    scored = sum(1 for i in range(grid.size) if true[i] > 0)
    mixed = sum(1 for row in grid.noisy if len({e.score is None for e in row}) > 1)
    evaluations = grid.size * replicates
    strategies: dict[str, Any] = {}
    for name in ("optuna", "random"):
        runs = []
        for seed in range(seeds):
            judge = Judge(grid, true, clean, true[best_i], clean[clean_i])
            runs.append(search(grid, name, seed, replicates, judge, tmp))
        strategies[name] = {
            **{c: summary([r.hits[c] for r in runs], grid.size) for c in CRITERIA},
            "trials_run": [r.trials for r in runs],
            "search_seconds": sum(r.seconds for r in runs),
        }
        if name == "optuna":
            strategies[name]["repeated_proposals"] = [r.repeats_answered for r in runs]
        say(f"  {name}: median {strategies[name]['true']['median']:g} trials "
            f"({sum(r.seconds for r in runs):.1f} s of searching)")
    top = top_count(true)
    return {
        "name": space.name, "about": space.about, "case": space.case, "size": grid.size,
        "axes": {a.label: [str(v) for v in a.values] for a in grid.case.space.axes},
        "started": started, "infeasible": grid.size - started, "scored": scored,
        "mixed_outcome_configurations": mixed,
        "best": {"configuration": grid.configs[best_i].id, "mean_score": true[best_i],
                 "replicate_scores": [e.score for e in grid.noisy[best_i]],
                 "noise_free_score": clean[best_i]},
        "best_noise_free": {"configuration": grid.configs[clean_i].id,
                            "score": clean[clean_i], "mean_score": true[clean_i]},
        "top": top, "top_noise_free": top_count(clean),
        "random_expected_trials": (grid.size + 1) / (top + 1),
        "evaluation": {
            "noisy_seconds": grid.seconds_noisy, "noise_free_seconds": grid.seconds_clean,
            "seconds_per_configuration": grid.seconds_noisy / evaluations,
            "seconds_per_started_configuration": grid.seconds_noisy / max(1, started * replicates),
        },
        "optuna": strategies["optuna"], "random": strategies["random"],
        "configurations": [
            {"configuration": c.id, "mean_score": true[i],
             "replicate_scores": [e.score for e in grid.noisy[i]], "noise_free_score": clean[i],
             "failure": grid.clean[i].failure} for i, c in enumerate(grid.configs)],
        "optuna_meets_target": strategies["optuna"]["true"]["median_share"] <= TARGET,
    }


def fmt(s: dict[str, Any]) -> str:
    return (f"{s['median']:>5g} {100 * s['median_share']:4.0f}%  "
            f"[{s['q1']:g}-{s['q3']:g}] {s['min']}-{s['max']}")


def print_table(spaces: list[dict[str, Any]]) -> None:
    print()
    print(f"trials to within {100 * (1 - WITHIN):.0f} % of the grid's best (median, share of "
          f"the grid, [IQR], min-max over seeds); a miss counts as the grid's size")
    for s in spaces:
        e = s["evaluation"]
        print(f"\n{s['name']}: {s['size']} configurations, {s['started']} start, "
              f"{s['scored']} scored, {s['top']} within 2 % of the best mean "
              f"({s['top_noise_free']} noise-free) "
              f"(random expects {s['random_expected_trials']:.1f}); "
              f"{1000 * e['seconds_per_configuration']:.0f} ms per evaluation "
              f"({1000 * e['seconds_per_started_configuration']:.0f} ms per started one)")
        print(f"  best: {s['best']['configuration']}  mean {s['best']['mean_score']:.0f} tok/s, "
              f"noise-free {s['best']['noise_free_score']:.0f}")
        if s["best_noise_free"]["configuration"] != s["best"]["configuration"]:
            print(f"  noise-free best: {s['best_noise_free']['configuration']}  "
                  f"{s['best_noise_free']['score']:.0f} tok/s")
        print(f"  {'':8} {'true score':<28} {'noise-free':<28} {'believed best':<28}")
        for name in ("optuna", "random"):
            row = s[name]
            print(f"  {name:8} " + " ".join(f"{fmt(row[c]):<28}" for c in CRITERIA))
        o = s["optuna"]
        print(f"  optuna: {statistics.median(o['repeated_proposals']):g} repeated proposals "
              f"answered from the study per search (median), "
              f"{1000 * o['search_seconds'] / max(1, sum(o['trials_run'])):.0f} ms per trial "
              f"of strategy overhead")
        verdict = "meets" if s["optuna_meets_target"] else "MISSES"
        print(f"  optuna {verdict} the {100 * TARGET:.0f} % target "
              f"(median {100 * s['optuna']['true']['median_share']:.0f} % of the grid)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"{', '.join(QUICK_SPACES)} only, 5 seeds")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per strategy (10)")
    parser.add_argument("--replicates", type=int, default=3, help="noisy evaluations per "
                        "configuration (3)")
    parser.add_argument("--noise", type=float, default=DEFAULT_NOISE,
                        help=f"the simulator's noise ({DEFAULT_NOISE})")
    parser.add_argument("--space", action="append", choices=[s.name for s in SPACES],
                        help="only this space (repeatable)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    seeds = args.seeds or (5 if args.quick else 10)
    chosen = args.space or (list(QUICK_SPACES) if args.quick else [s.name for s in SPACES])
    logging.getLogger("pytest_autotune.optuna").setLevel(logging.ERROR)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started = time.perf_counter()
    results = []
    with tempfile.TemporaryDirectory(prefix="autotune-search-eff-") as tmp_name:
        tmp = Path(tmp_name)
        for space in (s for s in SPACES if s.name in chosen):
            path = tmp / f"{space.name}.yaml"
            path.write_text(space.case)
            case = load_case_file(path, display=f"search_efficiency.py::{space.name}")
            print(f"{space.name}: evaluating {len(case.configurations)} configurations × "
                  f"{args.replicates} noisy + 1 noise-free", flush=True)
            grid = evaluate_grid(case, args.replicates, args.noise)
            print(f"  {grid.seconds_noisy + grid.seconds_clean:.1f} s", flush=True)
            results.append(space_result(space, grid, seeds, args.replicates, tmp,
                                        lambda line: print(line, flush=True)))
    elapsed = time.perf_counter() - started
    print_table(results)
    met = all(s["optuna_meets_target"] for s in results)
    print(f"\noptuna within {100 * TARGET:.0f} % of the grid on every space: "
          f"{'yes' if met else 'no'}; {elapsed:.0f} s in all")
    report = {
        "machine": {"python": platform.python_version(), "optuna": optuna.__version__,
                    "platform": platform.platform(), "cpus": os.cpu_count()},
        "settings": {"noise": args.noise, "replicates": args.replicates, "seeds": seeds,
                     "within": WITHIN, "target_share": TARGET, "gpus": GPUS,
                     "budget": "the grid's size", "quick": args.quick,
                     "true_score": "mean of the replicates' scores, no score counting 0",
                     "criteria": {
                         "true": "best measured so far, by mean score, >= 0.98 x best mean",
                         "noise_free": "best measured so far, by noise-free score, >= 0.98 x "
                                       "noise-free best",
                         "believed": "highest observed score so far (earliest on ties), by "
                                     "mean score, >= 0.98 x best mean"}},
        "spaces": results, "optuna_meets_target_everywhere": met, "seconds": elapsed,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
