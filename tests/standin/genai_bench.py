"""A stand-in for the genai-bench CLI, used by the plugin-logic tests of pytest-autotune.

This is NOT genai-bench. It is a small closed-loop load generator (standard library only) that
accepts the ``genai-bench benchmark`` argv the plugin builds (``bench/runner.py: build_argv``),
really measures each workload point against the server at ``--api-base`` (streaming chat
requests, as genai-bench's sglang backend sends them), and writes genai-bench 0.0.5's experiment
folder: ``experiment_metadata.json`` and one run file per (scenario, concurrency), with the JSON
structure of the golden files in ``fixtures/genai_bench/``. It exists because every real
genai-bench process costs 10-15 s of fixed start-up, plot and sleep time; this one costs only
Python's start-up.

Tests that check the measurement chain itself (the argv genai-bench accepts, its file layout,
its numbers against the simulator's ground truth, its behaviour when a server dies) still run
the real genai-bench: ``tests/e2e/sim/test_genai_bench.py``, ``tests/e2e/test_faults.py`` and
the first test of ``tests/e2e/test_yaml_case.py``.

What it mirrors from genai-bench 0.0.5:

- ``concurrency`` workers in a closed loop, each sending its next request when the last ends;
  a new connection per request; ``MODEL_API_KEY`` (else ``--api-key``) as the bearer token;
- the request body: ``model``, ``messages`` (optional ``system_message``), ``max_tokens``,
  ``temperature`` (default 0.0), ``stream``, ``stream_options.include_usage``, the other
  ``--additional-request-params`` keys, and ``ignore_eos: true`` for the sglang/vllm backends;
- scenarios ``D(in,out)``, ``N(mi,si)/(mo,so)`` and ``U(max_in,max_out)`` /
  ``U(min_in,max_in)/(min_out,max_out)``, sampled with a fixed seed (N: at least 1 input and
  2 output tokens); ``--prefix-len`` / ``--prefix-ratio`` shared prompt prefixes;
- per request: TTFT at the first non-empty ``delta.content`` (or reasoning) chunk, token counts
  from the usage chunk, TPOT = (e2e - ttft) / (out - 1); errors: the HTTP status (non-200),
  503 for a connection error, 408 for a timeout, 500 otherwise, or an ``error`` chunk's code;
- aggregation: numpy's (linear) percentiles and population stddev over the successful requests
  left after ``--warmup-ratio`` / ``--cooldown-ratio``; throughputs over the run's duration;
  ``error_rate`` written as 0 (the 0.0.5 bug the parser works around);
- the live progress lines pytest-autotune's launcher (``pytest_autotune/bench/progress.py``)
  prints from genai-bench's dashboard: ``autotune-progress {json}`` when a run starts, after
  finished requests (at most 4 a second, and the last one), when it is over and at exit;
- a run in which no request succeeded: ``debug_for_run_<scenario>_<concurrency>.json`` and
  exit code 1, the remaining runs skipped.

Where it differs, on purpose: a run stops after exactly ``--max-requests-per-run`` requests
(genai-bench checks once a second and overshoots), there is no pause between runs, no xlsx and
no plots, and prompts are random ASCII words sized for the simulator's tokenizers only: with a
model family's directory (``pytest_autotune.bench.tokenizers``) each word is one token of that
vocabulary; with the byte-level one a prompt's token count is its length in UTF-8 bytes.
``--dataset-path`` (a text file) only replaces the word source of byte-level prompts.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import random
import re
import shlex
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

VERSION = "0.0.5"
STAT_KEYS = ("min", "max", "mean", "stddev", "sum", "p25", "p50", "p75", "p90", "p95", "p99")
METRIC_KEYS = (
    "ttft", "tpot", "e2e_latency", "output_latency", "output_inference_speed",
    "num_input_tokens", "num_output_tokens", "num_reasoning_tokens", "total_tokens",
    "input_throughput", "output_throughput", "audio_throughput",
)
TIME_METRICS = ("ttft", "tpot", "e2e_latency", "output_latency")
OPTIONAL_METRICS = ("audio_throughput",)  # all-null for text: no stats, no failure
SEED = 42
WORDS = (
    "shall I compare thee to a summer day thou art more lovely and more temperate rough winds "
    "do shake the darling buds of may and summer lease hath all too short a date sometime too "
    "hot the eye of heaven shines and often is his gold complexion dimmed"
).split()


# -- scenarios --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scenario:
    text: str
    kind: str
    params: tuple[tuple[int, int], ...]

    def sample(self, rng: random.Random) -> tuple[int, int]:
        if self.kind == "D":
            return self.params[0]
        if self.kind == "N":
            (mi, si), (mo, so) = self.params
            return max(1, int(rng.gauss(mi, si))), max(2, int(rng.gauss(mo, so)))
        if len(self.params) == 2:  # U(min_in,max_in)/(min_out,max_out)
            (lo_i, hi_i), (lo_o, hi_o) = self.params
        else:  # U(max_in,max_out)
            (hi_i, hi_o), lo_i, lo_o = self.params[0], 1, 1
        return max(1, int(rng.uniform(lo_i or 1, hi_i))), max(2, int(rng.uniform(lo_o or 1, hi_o)))

    @property
    def sanitized(self) -> str:
        """genai-bench's ``sanitize_string``: ``/`` and ``,`` become ``_``, parentheses go."""
        return self.text.replace("/", "_").replace(",", "_").replace("(", "").replace(")", "")


PATTERNS = {
    "D": re.compile(r"^D\((\d+),(\d+)\)$"),
    "N": re.compile(r"^N\((\d+),(\d+)\)/\((\d+),(\d+)\)$"),
    "U": re.compile(r"^U\((\d+),(\d+)\)(?:/\((\d+),(\d+)\))?$"),
}


def parse_scenario(text: str) -> Scenario:
    text = text.strip()
    pattern = PATTERNS.get(text[:1])
    m = pattern.match(text) if pattern else None
    if m is None:
        raise argparse.ArgumentTypeError(
            f"unsupported traffic scenario {text!r} (expected D(in,out), N(mi,si)/(mo,so), "
            "U(max_in,max_out) or U(min_in,max_in)/(min_out,max_out))")
    nums = [int(g) for g in m.groups() if g is not None]
    pairs = tuple((nums[i], nums[i + 1]) for i in range(0, len(nums), 2))
    return Scenario(text, text[0], pairs)


# -- prompts ----------------------------------------------------------------------------------
def vocabulary_words(tokenizer_dir: str) -> list[str] | None:
    """For a model family's tokenizer written by the plugin: words that are one token each
    (" fox"), so that ``n`` of them are ``n`` tokens; None for any other tokenizer."""
    try:
        config = json.loads((Path(tokenizer_dir) / "tokenizer_config.json").read_text())
    except (OSError, ValueError):
        return None
    family = config.get("pytest_autotune_tokenizer") if isinstance(config, dict) else None
    if not family:
        return None
    from pytest_autotune.sim.tokens import for_model

    tok = for_model(family)
    return sorted({tok.decode(t).decode() for t in tok.output(0, 200)})


class Prompts:
    """Prompts of an exact token count: whole one-token words of a family's vocabulary, or an
    exact byte length (= tokens under the byte-level tokenizer)."""

    def __init__(self, words: Sequence[str], prefix_len: int | None,
                 prefix_ratio: float | None, token_words: Sequence[str] | None = None) -> None:
        self.words = list(words) or WORDS
        self.token_words = list(token_words or ())
        self.prefix_len = prefix_len
        self.prefix_ratio = prefix_ratio
        self.shared_prefix: str | None = None

    def text(self, n: int, rng: random.Random) -> str:
        if self.token_words:
            return "".join(rng.choice(self.token_words) for _ in range(n))
        out: list[str] = []
        size = 0
        while size < n:
            word = rng.choice(self.words)
            out.append(word)
            size += len(word.encode("utf-8")) + 1
        data = " ".join(out).encode("utf-8")[:n]
        return data.decode("utf-8", errors="ignore").ljust(n, ".")

    def make(self, n: int, rng: random.Random) -> str:
        if self.prefix_ratio is not None:
            plen = int(n * self.prefix_ratio)
            prefix = self.text(plen, random.Random(hash((SEED, plen))))
        elif self.prefix_len is not None:
            plen = self.prefix_len
            if self.shared_prefix is None:
                self.shared_prefix = self.text(plen, random.Random(hash((SEED, plen))))
            prefix = self.shared_prefix
        else:
            return self.text(n, rng)
        if plen <= 0:
            return self.text(n, rng)
        if self.token_words:  # one word: one token
            sep = min(1, max(0, n - plen))
            return prefix + self.text(sep, rng) + self.text(max(0, n - plen - sep), rng)
        separator = f"{rng.getrandbits(16):04x}"[: max(0, n - plen)]
        return prefix + separator + self.text(max(0, n - plen - len(separator)), rng)


# -- one request ------------------------------------------------------------------------------
@dataclass
class Result:
    ttft: float | None = None
    e2e: float | None = None
    num_input_tokens: int | None = None
    num_output_tokens: int | None = None
    num_reasoning_tokens: int = 0
    error_code: int | None = None
    error_message: str | None = None

    def entry(self, scale: float) -> dict[str, Any]:
        """One ``individual_request_metrics`` entry (genai-bench's RequestLevelMetrics)."""
        keys: dict[str, Any] = dict.fromkeys(METRIC_KEYS)
        if self.error_code is not None or self.ttft is None or self.e2e is None:
            return {**keys, "error_code": self.error_code, "error_message": self.error_message}
        n_in, n_out = self.num_input_tokens or 0, self.num_output_tokens or 0
        out_lat = self.e2e - self.ttft
        tpot = out_lat / (n_out - 1) if n_out > 1 else None
        speed = 1 / tpot if tpot else None
        if out_lat < 0.001 and tpot != 0:  # genai-bench's filter_metrics: timing jitter
            tpot = speed = None
        keys.update(
            ttft=self.ttft * scale, tpot=tpot * scale if tpot is not None else None,
            e2e_latency=self.e2e * scale, output_latency=out_lat * scale,
            output_inference_speed=speed, num_input_tokens=n_in, num_output_tokens=n_out,
            num_reasoning_tokens=self.num_reasoning_tokens, total_tokens=n_in + n_out,
            input_throughput=n_in / self.ttft if self.ttft else 0,
            output_throughput=((n_out - 1) / out_lat if out_lat else 0) if n_out > 1 else None,
        )
        return {**keys, "error_code": None, "error_message": None}


class Client:
    def __init__(self, api_base: str, api_key: str | None) -> None:
        parts = urlsplit(api_base if "://" in api_base else f"http://{api_base}")
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.https else 80)
        self.path = parts.path.rstrip("/") + "/v1/chat/completions"
        self.headers = {"Content-Type": "application/json"}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"

    def connect(self, timeout: float) -> http.client.HTTPConnection:
        if self.https:
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def send(self, payload: dict[str, Any], n_prompt: int, timeout: float) -> Result:
        body = json.dumps(payload).encode("utf-8")
        conn = self.connect(timeout)
        start = time.monotonic()
        try:
            try:
                conn.request("POST", self.path, body=body, headers=self.headers)
                resp = conn.getresponse()
            except (ConnectionError, socket.gaierror) as exc:
                return Result(error_code=503, error_message=f"Connection error: {exc}")
            if resp.status != 200:
                text = resp.read().decode("utf-8", errors="replace")
                return Result(error_code=resp.status, error_message=text)
            return self._stream(resp, start, n_prompt)
        except TimeoutError as exc:
            return Result(error_code=408, error_message=f"Request timed out: {exc}")
        except (OSError, http.client.HTTPException, ValueError) as exc:
            return Result(error_code=500, error_message=str(exc))
        finally:
            conn.close()

    @staticmethod
    def _stream(resp: http.client.HTTPResponse, start: float, n_prompt: int) -> Result:
        first: float | None = None
        finish: str | None = None
        usage: dict[str, Any] | None = None
        text_len = 0
        buf = b""
        done = False
        while not done:
            chunk = resp.read1(65536)
            if not chunk:
                break
            now = time.monotonic()
            buf += chunk
            while b"\n" in buf and not done:
                line, buf = buf.split(b"\n", 1)
                line = line.strip()
                if not line.startswith(b"data:"):
                    continue
                data = line[5:].strip()
                if data == b"[DONE]":
                    done = True
                    break
                obj = json.loads(data)
                if obj.get("error") is not None:
                    err = obj["error"]
                    return Result(error_code=int(err.get("code", -1) or -1),
                                  error_message=str(err.get("message", "Unknown error")))
                choices = obj.get("choices") or []
                if choices:
                    delta = choices[0].get("delta") or {}
                    piece = (delta.get("content") or delta.get("reasoning_content")
                             or delta.get("reasoning") or "")
                    if piece:
                        text_len += len(piece.encode("utf-8"))
                        if first is None:
                            first = now
                    finish = choices[0].get("finish_reason") or finish
                if obj.get("usage") and (not choices or finish):
                    usage = obj["usage"]
        end = time.monotonic()
        if not done:  # the connection ended mid-stream (genai-bench: a RequestException)
            return Result(error_code=500, error_message="the stream ended before [DONE]")
        if usage is not None:
            n_in = int(usage.get("prompt_tokens") or n_prompt)
            n_out = int(usage.get("completion_tokens") or 0)
            details = usage.get("completion_tokens_details") or {}
            reasoning = int(details.get("reasoning_tokens") or 0)
        else:  # without usage genai-bench counts with the tokenizer: bytes, here
            n_in, n_out, reasoning = n_prompt, text_len, 0
        if first is None:  # no content chunk (genai-bench: TTFT taken at the usage chunk)
            first = end
        return Result(ttft=first - start, e2e=end - start, num_input_tokens=n_in,
                      num_output_tokens=n_out, num_reasoning_tokens=reasoning)


# -- progress lines (as pytest-autotune's launcher prints them) ----------------------------------
PROGRESS = "autotune-progress "
PROGRESS_INTERVAL = 0.25


def progress(data: dict[str, Any]) -> None:
    print(PROGRESS + json.dumps(data), flush=True)


def median(values: Sequence[float]) -> float | None:
    v = sorted(values)
    if not v:
        return None
    mid = len(v) // 2
    return v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2


# -- one run: a (scenario, concurrency) point -------------------------------------------------
@dataclass
class Run:
    args: argparse.Namespace
    scenario: Scenario
    concurrency: int
    client: Client
    prompts: Prompts
    rng: random.Random
    results: list[Result] = field(default_factory=list)
    claimed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    reported: float = float("-inf")

    def payload(self, prompt: str, out: int) -> dict[str, Any]:
        extra = dict(self.args.additional_request_params)
        messages = []
        if extra.get("system_message"):
            messages.append({"role": "system", "content": extra["system_message"]})
        messages.append({"role": "user", "content": prompt})
        body: dict[str, Any] = {
            "model": self.args.api_model_name, "messages": messages, "max_tokens": out,
            "temperature": extra.get("temperature", 0.0), "stream": True,
            "stream_options": {"include_usage": True},
            **{k: v for k, v in extra.items()
               if k not in ("system_message", "messages", "temperature", "ignore_eos")},
        }
        if self.args.api_backend in ("sglang", "vllm"):
            body["ignore_eos"] = True  # genai-bench's sampler sets it for scenario traffic
        return body

    def claim(self, deadline: float) -> tuple[dict[str, Any], int] | None:
        with self.lock:
            if self.claimed >= self.args.max_requests_per_run or time.monotonic() >= deadline:
                return None
            self.claimed += 1
            n_in, n_out = self.scenario.sample(self.rng)
            prompt = self.prompts.make(n_in, self.rng)
        return self.payload(prompt, n_out), n_in

    def worker(self, deadline: float) -> None:
        while True:
            job = self.claim(deadline)
            if job is None:
                return
            payload, n_in = job
            timeout = max(deadline - time.monotonic(), 0.0) + 1.0
            result = self.client.send(payload, n_in, timeout)
            if result.error_code == 408 and time.monotonic() >= deadline:
                return  # cut by the time cap: genai-bench drops requests in flight at the stop
            with self.lock:
                self.results.append(result)  # completion order, as genai-bench collects them
                self.report_progress()

    def report_progress(self) -> None:
        done, total = len(self.results), self.args.max_requests_per_run
        now = time.monotonic()
        if now - self.reported < PROGRESS_INTERVAL and done < total:
            return
        self.reported = now
        ttft = median([r.ttft for r in self.results if r.ttft is not None and r.error_code is None])
        errors = sum(1 for r in self.results if r.error_code is not None)
        progress({"done": done, "total": total, "errors": errors, "ttft_p50": ttft})

    def measure(self) -> float:
        progress({"event": "run", "scenario": self.scenario.text,
                  "concurrency": self.concurrency, "total": self.args.max_requests_per_run})
        start = time.monotonic()
        deadline = start + 60.0 * self.args.max_time_per_run
        threads = [threading.Thread(target=self.worker, args=(deadline,), daemon=True)
                   for _ in range(self.concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        progress({"event": "end"})
        return time.monotonic() - start


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """numpy.percentile's default (linear interpolation)."""
    rank = (len(sorted_values) - 1) * p / 100.0
    lo = math.floor(rank)
    hi = min(lo + 1, len(sorted_values) - 1)
    return float(sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (rank - lo))


def stats(values: Sequence[float]) -> dict[str, float]:
    v = sorted(values)
    mean = sum(v) / len(v)
    return {
        "min": v[0], "max": v[-1], "mean": mean,
        "stddev": math.sqrt(sum((x - mean) ** 2 for x in v) / len(v)), "sum": sum(v),
        "p25": percentile(v, 25), "p50": percentile(v, 50), "p75": percentile(v, 75),
        "p90": percentile(v, 90), "p95": percentile(v, 95), "p99": percentile(v, 99),
    }


class NoValues(Exception):
    """No successful request left to aggregate (genai-bench raises ValueError and exits 1)."""


def aggregate(run: Run, duration: float, unit: str) -> tuple[dict[str, Any], str | None]:
    """The run file's content, and the metric without values when it cannot be aggregated."""
    scale = 1000.0 if unit == "ms" else 1.0
    entries = [r.entry(scale) for r in run.results]
    total = len(entries)
    errors: dict[str, int] = {}
    for e in entries:
        if e["error_code"] is not None:
            errors[str(e["error_code"])] = errors.get(str(e["error_code"]), 0) + 1
    completed = total - sum(errors.values())
    warmup = int(total * run.args.warmup_ratio) if run.args.warmup_ratio else 0
    cooldown = int(total * run.args.cooldown_ratio) if run.args.cooldown_ratio else 0
    agg: dict[str, Any] = {
        "scenario": run.scenario.text, "num_concurrency": run.concurrency, "batch_size": 1,
        "iteration_type": "num_concurrency", "run_duration": 0.0,
        "mean_output_throughput_tokens_per_s": 0.0, "mean_input_throughput_tokens_per_s": 0.0,
        "mean_total_tokens_throughput_tokens_per_s": 0.0, "requests_per_second": 0.0,
        "error_codes_frequency": errors, "error_rate": 0, "num_error_requests": 0,
        "num_completed_requests": completed, "num_requests": 0,
        "stats": {k: dict.fromkeys(STAT_KEYS) for k in METRIC_KEYS},
    }
    data = {"aggregated_metrics": agg, "individual_request_metrics": entries, "_time_unit": unit}
    for key in METRIC_KEYS:
        values = [e[key] for i, e in enumerate(entries)
                  if e["error_code"] is None and e[key] is not None
                  and warmup <= i < total - cooldown]
        if not values:
            if key in OPTIONAL_METRICS:
                continue
            return data, key  # as genai-bench: the counts after the stats stay unset
        agg["stats"][key] = stats(values)
    sums = {k: agg["stats"][k]["sum"] for k in ("num_input_tokens", "num_output_tokens",
                                                 "total_tokens")}
    agg.update(
        run_duration=duration,
        mean_output_throughput_tokens_per_s=sums["num_output_tokens"] / duration,
        mean_input_throughput_tokens_per_s=sums["num_input_tokens"] / duration,
        mean_total_tokens_throughput_tokens_per_s=sums["total_tokens"] / duration,
        num_error_requests=sum(errors.values()),
        requests_per_second=completed / duration if duration > 0 else 0,
        num_requests=total,
    )
    return data, None


# -- the CLI ----------------------------------------------------------------------------------
def json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="genai-bench (stand-in)", allow_abbrev=False,
                                description=__doc__.split("\n\n")[0] if __doc__ else None)
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("benchmark", allow_abbrev=False)
    b.add_argument("--api-backend", required=True, choices=("sglang", "vllm", "openai"))
    b.add_argument("--api-base", required=True)
    b.add_argument("--api-key", required=True)
    b.add_argument("--api-model-name", required=True)
    b.add_argument("--model-tokenizer", required=True)
    b.add_argument("--task", default="text-to-text", choices=("text-to-text",))
    b.add_argument("--max-requests-per-run", type=int, required=True)
    b.add_argument("--max-time-per-run", type=int, required=True, help="minutes")
    b.add_argument("--experiment-base-dir", default=".")
    b.add_argument("--experiment-folder-name", required=True)
    b.add_argument("--log-dir")
    b.add_argument("--traffic-scenario", action="append", type=parse_scenario, required=True)
    b.add_argument("--num-concurrency", action="append", type=int, required=True)
    b.add_argument("--warmup-ratio", type=float)
    b.add_argument("--cooldown-ratio", type=float)
    b.add_argument("--prefix-len", type=int)
    b.add_argument("--prefix-ratio", type=float)
    b.add_argument("--additional-request-params", type=json_object, default={})
    b.add_argument("--dataset-path")
    b.add_argument("--metrics-time-unit", choices=("s", "ms"), default="s")
    return p


def metadata(args: argparse.Namespace, argv: Sequence[str], folder: Path) -> dict[str, Any]:
    return {
        "cmd": shlex.join(["genai-bench-standin", *argv]), "benchmark_version": VERSION,
        "api_backend": args.api_backend,
        "auth_config": {"auth_type": "api_key", "has_api_key": True},
        "api_model_name": args.api_model_name, "server_model_tokenizer": args.model_tokenizer,
        "model": Path(args.model_tokenizer).name, "task": args.task,
        "num_concurrency": args.num_concurrency, "batch_size": [1],
        "iteration_type": "num_concurrency",
        "traffic_scenario": [s.text for s in args.traffic_scenario],
        "additional_request_params": args.additional_request_params, "server_engine": None,
        "server_version": None, "server_gpu_type": None, "server_gpu_count": None,
        "max_time_per_run_s": 60 * args.max_time_per_run,
        "max_requests_per_run": args.max_requests_per_run,
        "experiment_folder_name": str(folder.resolve()),
        "metrics_time_unit": args.metrics_time_unit, "dataset_path": str(args.dataset_path),
    }


def words_from(path: str | None) -> list[str]:
    if not path:
        return WORDS
    return Path(path).read_text(encoding="utf-8", errors="replace").split()


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    folder = Path(args.experiment_base_dir) / args.experiment_folder_name
    log_dir = Path(args.log_dir) if args.log_dir else Path.cwd()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        log_dir.mkdir(parents=True, exist_ok=True)
        log = (log_dir / "genai_bench.log").open("a", encoding="utf-8")
        (folder / "experiment_metadata.json").write_text(
            json.dumps(metadata(args, argv, folder), indent=4), encoding="utf-8")
    except OSError as exc:
        print(f"genai-bench stand-in: cannot write the experiment folder: {exc}", flush=True)
        return 1

    def say(line: str) -> None:
        print(line, flush=True)
        log.write(line + "\n")

    client = Client(args.api_base, os.environ.get("MODEL_API_KEY") or args.api_key)
    words = words_from(args.dataset_path)
    try:
        return measure_all(args, client, words, folder, log, say)
    finally:
        progress({"event": "end"})


def measure_all(args: argparse.Namespace, client: Client, words: Sequence[str], folder: Path,
                log: TextIO, say: Callable[[str], None]) -> int:
    with log:
        say(f"genai-bench stand-in (tests/standin/genai_bench.py) -> {args.api_base}: "
            f"{len(args.traffic_scenario)} scenario(s) x {len(args.num_concurrency)} "
            f"concurrency level(s), {args.max_requests_per_run} requests each")
        for scenario in args.traffic_scenario:
            prompts = Prompts(words, args.prefix_len, args.prefix_ratio,
                              vocabulary_words(args.model_tokenizer))
            for concurrency in args.num_concurrency:
                rng = random.Random(f"{SEED}:{scenario.text}:{concurrency}")
                run = Run(args, scenario, concurrency, client, prompts, rng)
                duration = run.measure()
                data, missing = aggregate(run, duration, args.metrics_time_unit)
                seconds = max(1, math.ceil(duration))
                name = (f"{scenario.sanitized}_{args.task}_num_concurrency_{concurrency}_time_"
                        f"{seconds}s.json")
                if missing:
                    name = f"debug_for_run_{scenario.sanitized}_{concurrency}.json"
                try:
                    (folder / name).write_text(json.dumps(data, indent=4), encoding="utf-8")
                except OSError as exc:
                    say(f"genai-bench stand-in: cannot write {name}: {exc}")
                    return 1
                agg = data["aggregated_metrics"]
                errors = sum(agg["error_codes_frequency"].values())
                if missing:
                    say(f"genai-bench stand-in: {scenario.text} c={concurrency}: "
                        f"{len(run.results)} requests, {errors} errors "
                        f"{agg['error_codes_frequency']}, nothing to aggregate. "
                        f"ValueError: No values found for metric '{missing}'. Please check out "
                        f"{name} to see the detailed individual request metrics.")
                    return 1
                ttft, tpot = agg["stats"]["ttft"]["p50"], agg["stats"]["tpot"]["p50"]
                say(f"genai-bench stand-in: {scenario.text} c={concurrency}: "
                    f"{agg['num_requests']} requests, {errors} errors in {duration:.3f} s; "
                    f"ttft p50 {ttft} {args.metrics_time_unit}, tpot p50 {tpot} "
                    f"{args.metrics_time_unit}, {agg['mean_output_throughput_tokens_per_s']:.1f}"
                    f" tok/s -> {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
