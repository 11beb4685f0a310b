"""Real SGLang beside the simulator: its environment, and its own benchmark client run against a
simulator, for tests/integration/test_sglang_parity.py and benchmarks/bench_serving_gap.py.

scripts/ensure-sglang-venv builds the environment (a sglang release with CPU torch, cached under
~/.cache/pytest-autotune/sglang-venv/); :func:`bench_serving` runs ``python -m
sglang.bench_serving`` from it against a fresh simulator and returns the client's result line
beside the simulator's ground truth of the same requests.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
MODEL = "meta-llama/Llama-3.1-8B-Instruct"
#: the workload: every prompt 300 tokens of English verse, every answer 64 tokens
INPUT_TOKENS = 300
OUTPUT_TOKENS = 64


def run(argv: Sequence[str], *, timeout: float, stdin: str | None = None) -> \
        subprocess.CompletedProcess[str]:
    """A command from the repository root, offline, its output captured."""
    return subprocess.run(  # noqa: S603 - argv list
        list(argv), input=stdin, capture_output=True, text=True, timeout=timeout, check=False,
        cwd=ROOT, env={**os.environ, **OFFLINE},
    )


def sglang_python(version: str) -> Path:
    """The python of an environment with the sglang release ``version``, built when missing
    (minutes the first time). Raises RuntimeError with the build's output when it cannot be
    built."""
    proc = run([sys.executable, str(SCRIPTS / "ensure-sglang-venv"), version], timeout=1500)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise RuntimeError(f"scripts/ensure-sglang-venv {version} failed "
                           f"(exit {proc.returncode}):\n{(proc.stderr + proc.stdout)[-6000:]}")
    return Path(proc.stdout.strip().splitlines()[-1])


def english_dataset(path: Path, count: int = 200) -> Path:
    """ShareGPT-format conversations of English verse (genai-bench's bundled public-domain
    sonnets), so ``sglang.bench_serving`` samples real text instead of downloading ShareGPT."""
    spec = importlib.util.find_spec("genai_bench")  # not imported: it monkey-patches gevent
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("genai-bench is not installed: its sonnets are the prompts' text "
                           "(pip install -e '.[dev]')")
    text = (Path(spec.submodule_search_locations[0]) / "data" / "sonnet.txt").read_text()
    lines = [line.strip() for line in text.splitlines() if line.strip()]

    def verse(start: int, n: int) -> str:
        return " ".join(lines[(start + k) % len(lines)] for k in range(n))

    rows = [{"id": str(i), "conversations": [
        {"from": "human", "value": verse(i * 7, 24)}, {"from": "gpt", "value": verse(i * 7, 6)}]}
        for i in range(count)]
    path.write_text(json.dumps(rows))
    return path


def client_tokenizer(path: Path) -> Path:
    """The tokenizer the simulator counts Llama-3.1's tokens with, as written for clients; the
    client loads it with its own transformers 4.x (sglang 0.5.5's pin)."""
    from pytest_autotune.bench import tokenizers

    shutil.copytree(tokenizers.directory("llama-3.1"), path)
    return path


@dataclass(frozen=True)
class ServingRun:
    """One ``sglang.bench_serving`` run: its result line (with ``--output-details``: per-request
    ``ttfts``, ``itls``, ``output_lens``, ``generated_texts``, ``errors``) and the simulator's
    ground-truth records of the requests it measured (after its warm-up), in finishing order."""

    concurrency: int
    prompts: int
    result: dict[str, Any]
    truth: tuple[dict[str, Any], ...]

    def sent_ttfts(self) -> list[float]:
        """Request received → first token written, by the simulator's clock."""
        return [r["first_token_sent"] - r["arrival"] for r in self.truth]

    def sent_to_last(self) -> list[float]:
        """Request received → last token written, by the simulator's clock."""
        return [r["last_token_sent"] - r["arrival"] for r in self.truth]

    def true_span(self) -> float:
        """The first measured request's arrival → the last token written."""
        return (max(float(r["last_token_sent"]) for r in self.truth)
                - min(float(r["arrival"]) for r in self.truth))

    def true_output_throughput(self) -> float:
        return sum(int(r["output_tokens"]) for r in self.truth) / self.true_span()

    def true_mean_tpot(self) -> float:
        return statistics.fmean(float(r["tpot"]) for r in self.truth)


def bench_serving(python: Path, tmp_path: Path, concurrency: int) -> ServingRun:
    """One ``sglang.bench_serving`` run (backend sglang-oai, 16 × concurrency + 16 prompts of
    English verse) against a fresh simulator without noise."""
    from ..e2e.sim.conftest import start_sim

    tmp_path.mkdir(parents=True, exist_ok=True)
    sim = start_sim(tmp_path, "--sim-noise", "0", model=MODEL)
    prompts = 16 * concurrency + 16
    out = tmp_path / "bench.jsonl"
    try:
        sim.wait_ready()
        argv = [str(python), "-m", "sglang.bench_serving", "--backend", "sglang-oai",
                "--host", "127.0.0.1", "--port", str(sim.port), "--model", MODEL,
                "--tokenizer", str(client_tokenizer(tmp_path / "tokenizer")),
                "--dataset-name", "random",
                "--dataset-path", str(english_dataset(tmp_path / "sonnets.json")),
                "--random-input-len", str(INPUT_TOKENS),
                "--random-output-len", str(OUTPUT_TOKENS),
                "--random-range-ratio", "1", "--num-prompts", str(prompts),
                "--max-concurrency", str(concurrency), "--warmup-requests", "1",
                "--disable-tqdm", "--output-file", str(out), "--output-details"]
        done = run(argv, timeout=300)
        if done.returncode != 0 or not out.is_file():
            raise RuntimeError(f"sglang.bench_serving exited {done.returncode}:\n"
                               f"{done.stdout[-4000:]}{done.stderr[-4000:]}")
    finally:
        sim.stop()
    result = json.loads(out.read_text().splitlines()[-1])
    truth = [json.loads(line) for line in sim.truth.read_text().splitlines()]
    completed = int(result["completed"])
    return ServingRun(concurrency, prompts, result,
                      tuple(truth[-completed:]) if completed else ())


def tenth(values: Sequence[float]) -> float:
    """The 10th percentile."""
    return statistics.quantiles(values, n=10)[0]
