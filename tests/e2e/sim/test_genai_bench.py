"""Real genai-bench against the simulator; its numbers must agree with the ground-truth log."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_autotune.bench import tokenizers
from pytest_autotune.bench.estimate import template_tokens

pytestmark = [pytest.mark.slow, pytest.mark.e2e]



def genai_bench() -> str:
    exe = Path(sys.executable).parent / "genai-bench"
    if exe.exists():
        return str(exe)
    found = shutil.which("genai-bench")
    if found is None:
        pytest.skip("genai-bench is not installed")
    return found


def mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


def run_genai_bench(port: int, tmp_path: Path, scenario: str, concurrency: int,
                    max_requests: int) -> None:
    """One real genai-bench invocation against the simulator at ``port``, into tmp_path/run."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "HF_DATASETS_OFFLINE": "1", "ENABLE_UI": "false"}
    argv = [genai_bench(), "benchmark", "--api-backend", "sglang",
            "--api-base", f"http://127.0.0.1:{port}", "--api-key", "dummy",
            "--api-model-name", "meta-llama/Llama-3.1-8B-Instruct",
            "--model-tokenizer", str(tokenizers.directory("llama-3.1")),
            "--task", "text-to-text", "--traffic-scenario", scenario,
            "--num-concurrency", str(concurrency), "--max-requests-per-run", str(max_requests),
            "--max-time-per-run", "1", "--experiment-base-dir", str(tmp_path),
            "--experiment-folder-name", "run", "--log-dir", str(tmp_path / "logs")]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=240,  # noqa: S603
                         env=env, cwd=str(tmp_path), check=False)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]


def test_genai_bench_matches_truth(sim_factory: Any, tmp_path: Path) -> None:
    sim = sim_factory("--sim-noise", "0.03", "--sim-seed", "7")
    run_genai_bench(sim.port, tmp_path, "D(100,100)", 4, 20)
    files = [p for p in (tmp_path / "run").rglob("*.json")
             if "aggregated_metrics" in p.read_text(errors="replace")]
    assert len(files) == 1, list((tmp_path / "run").rglob("*"))
    data = json.loads(files[0].read_text())
    agg = data["aggregated_metrics"]
    scale = 1000.0 if data.get("_time_unit") == "ms" else 1.0
    truth = [json.loads(line) for line in sim.truth.read_text().splitlines()]
    truth = [t for t in truth if t["endpoint"] == "chat"]
    assert agg["num_completed_requests"] == len(truth) and agg["num_error_requests"] == 0
    # token counts: genai-bench takes them from the usage chunk, which must be exact
    bench_in = sorted(r["num_input_tokens"] for r in data["individual_request_metrics"])
    assert bench_in == sorted(t["input_tokens"] for t in truth)
    # and D(100,100) is 100 tokens of the served model as genai-bench cuts them with its twin:
    # it sums the lines' counts, while lines joined (and trimmed by Llama's template) merge a
    # few tokens more, as they do on the real model; the byte-level tokenizer gave ~4x here
    template = template_tokens("meta-llama/Llama-3.1-8B-Instruct")
    assert all(95 <= n - template <= 100 for n in bench_in), (template, bench_in)
    assert all(r["num_output_tokens"] == 100 for r in data["individual_request_metrics"])
    t_ttft = mean([t["ttft"] for t in truth])
    t_tpot = mean([t["tpot"] for t in truth])
    t_e2e = mean([t["e2e"] for t in truth])
    b = agg["stats"]
    # What load cannot move: genai-bench starts its clock before the server receives a request
    # and reads each token after the server sent it, so its TTFT and E2E are never shorter than
    # the server's (1 ms: the two clocks' rounding). How much longer depends on how busy the
    # machine is (~2 ms idle, 12-13 ms TTFT and +5 % E2E seen with the suite running beside it),
    # so the upper bounds only catch a wrong unit, field or window (a factor, not a few %).
    ttft, e2e = b["ttft"]["mean"] / scale, b["e2e_latency"]["mean"] / scale
    assert t_ttft - 0.001 <= ttft <= 1.5 * t_ttft + 0.1, (ttft, t_ttft)
    assert t_e2e - 0.001 <= e2e <= 1.5 * t_e2e + 0.1, (e2e, t_e2e)
    assert b["tpot"]["mean"] / scale == pytest.approx(t_tpot, rel=0.5)


def served_tokens(truth: list[dict[str, Any]], start: float, end: float) -> float:
    """Output tokens the server sent between ``start`` and ``end`` (epoch seconds), each
    request's tokens spread evenly from its first to its last."""
    total = 0.0
    for t in truth:
        first, last, n = t["first_token"], t["last_token"], t["output_tokens"]
        if last <= first:
            total += n if start <= last < end else 0
            continue
        overlap = max(0.0, min(last, end) - max(first, start))
        total += n * overlap / (last - first)
    return total


def test_steady_throughput_matches_what_the_server_sent(sim_factory: Any,
                                                         tmp_path: Path) -> None:
    """The steady-window throughput of a real genai-bench run is close to the rate at which the
    server sent tokens once every user was running (from the simulator's truth log), and closer
    than genai-bench's tick-bound aggregate. What separates the two is the client's gap between
    a user's requests, which no record holds: 0.17 s per 1.9 s cycle seen on a starved 2-core
    machine (+7 %), a few milliseconds on an idle one (docs/metrics.md)."""
    from pytest_autotune.bench.results import read_run_file

    sim = sim_factory("--sim-noise", "0.03", "--sim-seed", "11")
    run_genai_bench(sim.port, tmp_path, "D(100,200)", 16, 80)
    (path,) = (tmp_path / "run").glob("*_time_*s.json")
    _, metrics = read_run_file(path)
    assert not metrics.short_run, metrics.steady
    truth = [json.loads(line) for line in sim.truth.read_text().splitlines()]
    truth = sorted((t for t in truth if t["endpoint"] == "chat"), key=lambda t: t["arrival"])
    # from when the last user's first request arrived to the start of the requests still in
    # flight at the cut (the log has no line for those: it is written as a request finishes)
    start = truth[15]["arrival"] + 0.5
    end = max(t["last_token"] for t in truth) - max(t["e2e"] for t in truth) - 0.5
    served = served_tokens(truth, start, end) / (end - start)
    steady, aggregate = metrics.output_throughput, metrics.genai_bench["output_throughput"]
    assert steady == pytest.approx(served, rel=0.10)
    assert abs(steady - served) < abs(aggregate - served)
