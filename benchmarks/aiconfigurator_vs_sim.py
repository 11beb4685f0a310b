"""The simulator's cost model beside NVIDIA AIConfigurator's static-batch estimates for SGLang.

    .venv/bin/python benchmarks/aiconfigurator_vs_sim.py [--case h100:70b:8 ...] [--aic-python PY]
                                                         [--aic-json FILE] [--set NAME=VALUE ...]

AIConfigurator (PyPI ``aiconfigurator``) predicts SGLang step times offline from kernel
timings measured on real GPUs (GEMM, attention, all-reduce tables per GPU and SGLang version).
It runs in its own environment, made by ``scripts/ensure-aiconfigurator-venv`` (a subprocess:
``benchmarks/aiconfigurator_side.py`` prints its numbers as JSON); the simulator runs
in-process, noise 0. Default cases: Llama-3.1-8B tp 1 and Llama-3.1-70B tp 4 on H100 SXM and
H200 SXM, Llama-3.1-70B tp 8 on H100; BF16 weights and KV cache, FA3 attention (SGLang's
default on Hopper, on both sides); ISL/OSL (128, 128), (1024, 256), (4096, 512); batch sizes
1–400.

What is compared, on both sides the same static-batch definitions (AIConfigurator's ``static``
mode):

* **TTFT**: one prefill (extend) pass over the whole batch, ``B × ISL`` new tokens.
  AIConfigurator: its context latency; simulator: ``CostModel.prefill(B·ISL, B·ISL·(ISL+1)/2,
  B)`` (causal attention work, the scheduler's own formula). Chunked prefill, queueing and the
  HTTP ingress/egress the simulator adds for a served request are left out on purpose.
* **TPOT**: the mean decode step of a batch of ``B`` as every context grows from ISL to
  ISL + OSL. AIConfigurator: generation latency / (OSL − 1), every step evaluated (stride 1);
  simulator: the mean of ``CostModel.decode(B, B·(ISL + j))`` for j = 1 … OSL − 1 (the KV count
  the scheduler passes), so CUDA-graph padding, the eager penalty above the largest captured
  batch and the overlapped CPU side are in.
* **throughput**: decode throughput ``B / TPOT`` (tokens/s), and the end-to-end static-batch
  figure ``B × OSL / (TTFT + (OSL − 1) × TPOT)`` (AIConfigurator's ``tokens/s``).

Ratios are simulator / AIConfigurator. Targets: the median ratio of each metric within ×1.35
(0.74–1.35) per model × GPU × shape, and the saturated decode throughput within ×1.35 too, taken
at the largest batch (400) and at the largest batch whose full KV (``B × (ISL + OSL)``) fits the
simulated server's KV pool (a batch beyond it cannot run at once on a real server; AIConfigurator
flags OOM for its static batch, which also counts the whole batch's prefill activations).
AIConfigurator is a cross-check, not ground truth: the measured anchors of
``benchmarks/sim_calibration.py`` outrank it (docs/simulator.md, "Calibration").

This cross-checks the step-time model (and the CPU/GPU overlap inside it), not the request
scheduler (continuous batching, chunked prefill, admission), and not the hardware figures: the
simulator's GPU catalogue takes bandwidth and FLOPs from AIConfigurator's system files. Only
SGLang data versions AIConfigurator lets one query are used (for H100/H200 0.5.14; the project's
reference is 0.5.5). Writes benchmarks/results/aiconfigurator_vs_sim.json and AIConfigurator's
own answer to benchmarks/results/aiconfigurator_side.json; ``--aic-json`` reads such an answer
back instead of asking AIConfigurator again (it is deterministic; ``benchmarks/calibration_grid.py``
reuses it), and ``--set NAME=VALUE`` overrides a constant of ``costmodel.Calibration``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim_calibration import calibration  # the sibling script: benchmarks/ is on sys.path

from pytest_autotune.sim.cli import parse_args
from pytest_autotune.sim.config import ResolvedConfig, resolve
from pytest_autotune.sim.costmodel import Calibration, CostModel

ROOT = Path(__file__).resolve().parent.parent
ENSURE = ROOT / "scripts" / "ensure-aiconfigurator-venv"
SIDE = ROOT / "benchmarks" / "aiconfigurator_side.py"
DEST = ROOT / "benchmarks" / "results" / "aiconfigurator_vs_sim.json"
AIC_DEST = ROOT / "benchmarks" / "results" / "aiconfigurator_side.json"

#: simulator model path, AIConfigurator model path (same architecture and weights)
MODELS: dict[str, tuple[str, str]] = {
    "8b": ("meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Meta-Llama-3.1-8B"),
    "70b": ("meta-llama/Llama-3.1-70B-Instruct", "meta-llama/Meta-Llama-3.1-70B"),
}
#: simulator GPU key, AIConfigurator system
GPUS: dict[str, str] = {"h100": "h100_sxm", "h200": "h200_sxm", "a100-80g": "a100_sxm"}
DEFAULT_CASES = ("h100:8b:1", "h100:70b:4", "h100:70b:8", "h200:8b:1", "h200:70b:4")
SHAPES: tuple[tuple[int, int], ...] = ((128, 128), (1024, 256), (4096, 512))
BATCH_SIZES: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256, 400)
#: batch-size bands for the per-range medians
BANDS: tuple[tuple[str, int, int], ...] = (("1-16", 1, 16), ("32-128", 32, 128),
                                           ("256-400", 256, 400))
#: a cross-check's tolerance: AIConfigurator models SGLang 0.5.14 from kernel timings and calls
#: itself optimistic, the anchors measure whole servers of other releases
RATIO_HI = 1.35
RATIO_LO = 1 / RATIO_HI
METRICS = ("ttft", "tpot", "decode_thr", "e2e_thr")


@dataclass(frozen=True)
class Case:
    gpu: str
    model: str
    tp: int

    @property
    def label(self) -> str:
        return f"{self.gpu} {self.model.upper()} tp{self.tp}"

    @property
    def sim_model(self) -> str:
        return MODELS[self.model][0]

    @property
    def aic_model(self) -> str:
        return MODELS[self.model][1]

    @property
    def system(self) -> str:
        return GPUS[self.gpu]


def parse_case(text: str) -> Case:
    try:
        gpu, model, tp = text.split(":")
        case = Case(gpu, model.lower(), int(tp))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected GPU:MODEL:TP, got {text!r}") from exc
    if case.gpu not in GPUS or case.model not in MODELS:
        raise argparse.ArgumentTypeError(
            f"GPU one of {sorted(GPUS)}, MODEL one of {sorted(MODELS)}: {text!r}")
    return case


# -- AIConfigurator side (its own environment) -------------------------------------------------
def aiconfigurator_python() -> str:
    out = subprocess.run(  # noqa: S603 - argv list
        [sys.executable, str(ENSURE)], check=True, stdout=subprocess.PIPE, text=True
    ).stdout
    return out.strip().splitlines()[-1]


def load_aiconfigurator(path: Path, cases: list[Case]) -> dict[str, Any]:
    """AIConfigurator's answer saved by an earlier run; it must hold every point asked for."""
    try:
        aic: dict[str, Any] = json.loads(path.read_text())
        have = {(p["system"], p["model"], p["tp"], p["isl"], p["osl"], p["batch_size"])
                for p in aic["points"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SystemExit(f"--aic-json {path}: not an answer of aiconfigurator_side.py ({exc}); "
                         "run without --aic-json to ask AIConfigurator") from exc
    missing = [c.label for c in cases for isl, osl in SHAPES for bs in BATCH_SIZES
               if (c.system, c.aic_model, c.tp, isl, osl, bs) not in have]
    if missing:
        raise SystemExit(f"--aic-json {path}: no points for {', '.join(sorted(set(missing)))}; "
                         "run without --aic-json to ask AIConfigurator for them")
    return aic


def aiconfigurator_side(python: str, cases: list[Case]) -> dict[str, Any]:
    request = {
        "backend": "sglang",
        "version": None,
        "cases": [{"system": c.system, "model": c.aic_model, "tp": c.tp} for c in cases],
        "shapes": [list(s) for s in SHAPES],
        "batch_sizes": list(BATCH_SIZES),
    }
    proc = subprocess.run(  # noqa: S603 - argv list
        [python, str(SIDE)], input=json.dumps(request), capture_output=True, text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"aiconfigurator side failed:\n{proc.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# -- simulator side (in-process) ----------------------------------------------------------------
def sim_config(case: Case) -> ResolvedConfig:
    return resolve(parse_args(["--model-path", case.sim_model, "--sim-gpu", case.gpu,
                               "--tp-size", str(case.tp)]))


def sim_point(cost: CostModel, cfg: ResolvedConfig, isl: int, osl: int, bs: int
              ) -> dict[str, Any]:
    ttft = cost.prefill(bs * isl, bs * isl * (isl + 1) / 2, bs)
    steps = [cost.decode(bs, bs * (isl + j)) for j in range(1, osl)]
    tpot = sum(steps) / len(steps)
    return {
        "ttft_ms": ttft * 1e3,
        "tpot_ms": tpot * 1e3,
        "fits": bs * (isl + osl) <= cfg.max_total_num_tokens,
        "cuda_graph": cost.uses_graph(bs),
    }


# -- comparison ---------------------------------------------------------------------------------
def throughputs(ttft_ms: float, tpot_ms: float, bs: int, osl: int) -> tuple[float, float]:
    """(decode tokens/s, end-to-end static-batch tokens/s)."""
    return bs / tpot_ms * 1e3, bs * osl / (ttft_ms + (osl - 1) * tpot_ms) * 1e3


def compare(cases: list[Case], aic: dict[str, Any], calib: Calibration | None = None
            ) -> list[dict[str, Any]]:
    index = {(p["system"], p["model"], p["tp"], p["isl"], p["osl"], p["batch_size"]): p
             for p in aic["points"]}
    rows: list[dict[str, Any]] = []
    for case in cases:
        cfg = sim_config(case)
        cost = CostModel(cfg, calib)
        for isl, osl in SHAPES:
            for bs in BATCH_SIZES:
                a = index[(case.system, case.aic_model, case.tp, isl, osl, bs)]
                s = sim_point(cost, cfg, isl, osl, bs)
                a_dec, a_e2e = throughputs(a["ttft_ms"], a["tpot_ms"], bs, osl)
                s_dec, s_e2e = throughputs(s["ttft_ms"], s["tpot_ms"], bs, osl)
                rows.append({
                    "case": case.label, "gpu": case.gpu, "model": case.model, "tp": case.tp,
                    "isl": isl, "osl": osl, "batch_size": bs,
                    "aic_ttft_ms": a["ttft_ms"], "sim_ttft_ms": s["ttft_ms"],
                    "aic_tpot_ms": a["tpot_ms"], "sim_tpot_ms": s["tpot_ms"],
                    "aic_decode_thr": a_dec, "sim_decode_thr": s_dec,
                    "aic_e2e_thr": a_e2e, "sim_e2e_thr": s_e2e,
                    "ratio_ttft": s["ttft_ms"] / a["ttft_ms"],
                    "ratio_tpot": s["tpot_ms"] / a["tpot_ms"],
                    "ratio_decode_thr": s_dec / a_dec,
                    "ratio_e2e_thr": s_e2e / a_e2e,
                    "sim_fits_kv_pool": s["fits"], "sim_cuda_graph": s["cuda_graph"],
                    "aic_oom": a["oom"],
                })
    return rows


def within(ratio: float) -> bool:
    return RATIO_LO <= ratio <= RATIO_HI


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, int, int], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["case"], r["isl"], r["osl"]), []).append(r)
    out: list[dict[str, Any]] = []
    for (label, isl, osl), group in groups.items():
        med = {m: statistics.median(r[f"ratio_{m}"] for r in group) for m in METRICS}
        bands = {
            name: {m: statistics.median(r[f"ratio_{m}"] for r in group
                                        if lo <= r["batch_size"] <= hi) for m in METRICS}
            for name, lo, hi in BANDS
        }
        largest = group[-1]
        fitting = [r for r in group if r["sim_fits_kv_pool"]]
        sat = fitting[-1] if fitting else group[0]
        out.append({
            "case": label, "isl": isl, "osl": osl,
            "median": med, "median_ok": {m: within(v) for m, v in med.items()},
            "median_by_batch": bands,
            "saturated_largest": {"batch_size": largest["batch_size"],
                                  "delta": largest["ratio_decode_thr"] - 1,
                                  "ok": within(largest["ratio_decode_thr"])},
            "saturated_fitting": {"batch_size": sat["batch_size"],
                                  "delta": sat["ratio_decode_thr"] - 1,
                                  "ok": within(sat["ratio_decode_thr"])},
        })
    return out


# -- output -------------------------------------------------------------------------------------
def print_tables(rows: list[dict[str, Any]]) -> None:
    current: tuple[str, int, int] | None = None
    for r in rows:
        key = (r["case"], r["isl"], r["osl"])
        if key != current:
            current = key
            print(f"\n{r['case']}, ISL {r['isl']} / OSL {r['osl']}  (ms; ratio = sim / AIC)")
            print(f"{'bs':>4} {'AIC TTFT':>10} {'sim TTFT':>10} {'ratio':>6}  "
                  f"{'AIC TPOT':>9} {'sim TPOT':>9} {'ratio':>6}  {'AIC tok/s':>10} "
                  f"{'thr':>6} {'e2e thr':>7}  note")
        notes = []
        if not r["sim_fits_kv_pool"]:
            notes.append("KV>pool")
        if r["aic_oom"]:
            notes.append("AIC-OOM")
        if not r["sim_cuda_graph"]:
            notes.append("eager")
        print(f"{r['batch_size']:>4} {r['aic_ttft_ms']:>10.1f} {r['sim_ttft_ms']:>10.1f} "
              f"{r['ratio_ttft']:>6.2f}  {r['aic_tpot_ms']:>9.2f} {r['sim_tpot_ms']:>9.2f} "
              f"{r['ratio_tpot']:>6.2f}  {r['aic_decode_thr']:>10.0f} "
              f"{r['ratio_decode_thr']:>6.2f} {r['ratio_e2e_thr']:>7.2f}  {' '.join(notes)}")


def mark(text: str, ok: bool) -> str:
    return text if ok else text + "*"


def print_summary(summary: list[dict[str, Any]]) -> None:
    print(f"\nSummary: median sim/AIC ratio (target {RATIO_LO:.2f}–{RATIO_HI}); saturated decode "
          f"throughput delta (target {RATIO_LO - 1:+.0%} … {RATIO_HI - 1:+.0%}) at B=400 and at "
          "the largest B that fits the KV pool")
    print(f"{'case':16} {'ISL/OSL':>8} {'TTFT':>6} {'TPOT':>6} {'thr':>6} {'e2e':>6}  "
          f"{'sat@400':>8} {'sat@fit':>12}   TPOT by batch " + "/".join(b[0] for b in BANDS))
    for s in summary:
        med, ok = s["median"], s["median_ok"]
        cells = " ".join(f"{mark(f'{med[m]:.2f}', ok[m]):>6}" for m in METRICS)
        big, fit = s["saturated_largest"], s["saturated_fitting"]
        sat_big = mark(f"{big['delta']:+.0%}", big["ok"])
        sat_fit = mark(f"{fit['delta']:+.0%}@{fit['batch_size']}", fit["ok"])
        bands = "/".join(f"{v['tpot']:.2f}" for v in s["median_by_batch"].values())
        shape = f"{s['isl']}/{s['osl']}"
        print(f"{s['case']:16} {shape:>8} {cells}  {sat_big:>8} {sat_fit:>12}   {bands}")
    n = len(summary)
    for m in METRICS:
        print(f"  median {m:10} within target: {sum(s['median_ok'][m] for s in summary)}/{n}")
    print(f"  saturated @400 within target: {sum(s['saturated_largest']['ok'] for s in summary)}"
          f"/{n}; @fit: {sum(s['saturated_fitting']['ok'] for s in summary)}/{n}   (* = missed)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--case", action="append", type=parse_case, default=None,
                    help=f"GPU:MODEL:TP, repeatable (default: {' '.join(DEFAULT_CASES)})")
    ap.add_argument("--aic-python", default=None,
                    help="AIConfigurator's python (default: scripts/ensure-aiconfigurator-venv)")
    ap.add_argument("--aic-json", type=Path, default=None,
                    help=f"AIConfigurator's answer of an earlier run (written to {AIC_DEST.name})")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="override a costmodel.Calibration constant (repeatable)")
    ap.add_argument("--quiet", action="store_true", help="print only the summary")
    opts = ap.parse_args(argv)
    cases: list[Case] = opts.case or [parse_case(c) for c in DEFAULT_CASES]
    calib = calibration(opts.set)
    started = time.monotonic()
    if opts.aic_json is not None:
        aic = load_aiconfigurator(opts.aic_json, cases)
    else:
        python = opts.aic_python or aiconfigurator_python()
        aic = aiconfigurator_side(python, cases)
        AIC_DEST.parent.mkdir(parents=True, exist_ok=True)
        AIC_DEST.write_text(json.dumps(aic))
    rows = compare(cases, aic, calib)
    summary = summarise(rows)
    elapsed = time.monotonic() - started
    if not opts.quiet:
        print_tables(rows)
    print_summary(summary)
    print(f"\nAIConfigurator {aic['aiconfigurator']} (core {aic['aiconfigurator_core']}), "
          f"SGLang data {aic['versions']}; its estimates took {aic['seconds']:.1f} s, "
          f"the whole run {elapsed:.1f} s")
    DEST.parent.mkdir(parents=True, exist_ok=True)
    DEST.write_text(json.dumps({
        "aiconfigurator": aic["aiconfigurator"], "aiconfigurator_core": aic["aiconfigurator_core"],
        "sglang_data_versions": aic["versions"], "seconds": round(elapsed, 1),
        "targets": {"median_ratio": [RATIO_LO, RATIO_HI],
                    "saturated_ratio": [RATIO_LO, RATIO_HI]},
        "overrides": opts.set, "calibration": dataclasses.asdict(calib),
        "summary": summary, "rows": rows,
    }, indent=1))
    print(f"wrote {DEST}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
