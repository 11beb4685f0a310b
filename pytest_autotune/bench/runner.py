"""Running genai-bench: argv (never a shell), offline environment, timeout, result parsing."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..backends.secrets import Redactor
from ..errors import BenchError
from ..procs import Tail, pump_output, terminate_group
from ..values import Metrics, Workload, WorkloadPoint
from .plan import Invocation
from .results import debug_runs, read_runs
from .samples import RequestSamples

#: genai-bench needs an API key for the sglang backend even when the server has none.
DUMMY_API_KEY = "unused-placeholder"
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "ENABLE_UI": "false",
    "TOKENIZERS_PARALLELISM": "false",
    "PYTHONUNBUFFERED": "1",
}
INSTALL_HINT = "genai-bench is not installed: pip install 'genai-bench>=0.0.5,<0.1'"
Sink = Callable[[str], object]


def genai_bench_executable() -> str:
    """The genai-bench next to this interpreter (the venv's), else the one on PATH."""
    local = Path(sys.executable).with_name("genai-bench")
    if local.exists():
        return str(local)
    found = shutil.which("genai-bench")
    if found is None:
        raise BenchError(INSTALL_HINT)
    return found


#: genai-bench's CLI behind the launcher that reports its progress (bench/progress.py)
LAUNCHER_MODULE = "pytest_autotune.bench.progress"


def default_command() -> tuple[str, ...]:
    """genai-bench through the progress launcher when this interpreter (the venv's) can import
    it, else the ``genai-bench`` executable."""
    try:
        importable = importlib.util.find_spec("genai_bench") is not None
    except (ImportError, ValueError):
        importable = False
    if importable:
        return (sys.executable, "-m", LAUNCHER_MODULE)
    return (genai_bench_executable(),)


@dataclass(frozen=True)
class BenchRequest:
    url: str
    api_model_name: str
    tokenizer: str
    workload: Workload
    invocation: Invocation
    out_dir: Path
    timeout: float | None = None
    api_key: str | None = field(default=None, repr=False)

    @property
    def minutes(self) -> int:
        """genai-bench's ``--max-time-per-run`` is whole minutes (at least 1)."""
        return max(1, math.ceil(self.workload.max_time_s / 60.0))

    @property
    def effective_timeout(self) -> float:
        if self.timeout is not None:
            return self.timeout
        runs = len(self.invocation.points)
        # fixed start-up (~15 s) + per run: the time cap, 1 s tick, 1 s pause, plots
        return 120.0 + runs * (self.minutes * 60.0 + 10.0)


def build_argv(req: BenchRequest, executable: str | Sequence[str]) -> list[str]:
    w = req.workload
    prefix = [executable] if isinstance(executable, str) else list(executable)
    argv = [
        *prefix, "benchmark",
        "--api-backend", "sglang",  # sends ignore_eos, so output lengths are exact
        "--api-base", req.url,
        "--api-key", DUMMY_API_KEY,  # a real key travels in MODEL_API_KEY, never on argv
        "--api-model-name", req.api_model_name,
        "--model-tokenizer", req.tokenizer,
        "--task", w.task,
        "--max-requests-per-run", str(w.max_requests),
        "--max-time-per-run", str(req.minutes),
        "--experiment-base-dir", str(req.out_dir.parent),
        "--experiment-folder-name", req.out_dir.name,
        "--log-dir", str(req.out_dir),
    ]
    for scenario in req.invocation.scenarios:
        argv += ["--traffic-scenario", scenario]
    for level in req.invocation.concurrency:
        argv += ["--num-concurrency", str(level)]
    if w.warmup_ratio is not None:
        argv += ["--warmup-ratio", str(w.warmup_ratio)]
    if w.cooldown_ratio is not None:
        argv += ["--cooldown-ratio", str(w.cooldown_ratio)]
    if w.prefix_len is not None:
        argv += ["--prefix-len", str(w.prefix_len)]
    if w.prefix_ratio is not None:
        argv += ["--prefix-ratio", str(w.prefix_ratio)]
    if w.additional_request_params:
        argv += ["--additional-request-params", json.dumps(dict(w.additional_request_params))]
    if w.dataset_path:
        argv += ["--dataset-path", w.dataset_path]
    return argv


def bench_env(api_key: str | None, base: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env.update(OFFLINE_ENV)
    env.pop("MODEL_API_KEY", None)
    if api_key:
        env["MODEL_API_KEY"] = api_key
    return env


def scrub(folder: Path, secrets: Sequence[str]) -> None:
    """genai-bench records its options, env-sourced ones too (``model_api_key: …``), in its
    metadata and logs: replace secrets in every text file it wrote."""
    redact = Redactor(secrets)
    if not redact or not folder.is_dir():
        return
    for path in folder.iterdir():
        if path.suffix not in (".json", ".log", ".txt", ".out") or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        clean = redact(text)
        if clean != text:
            path.write_text(clean, encoding="utf-8")


@dataclass
class BenchOutcome:
    results: dict[WorkloadPoint, Metrics | BenchError]
    seconds: float
    returncode: int | None
    argv: list[str]
    #: the requests behind each measured point (genai-bench's ``individual_request_metrics``)
    samples: dict[WorkloadPoint, RequestSamples] = field(default_factory=dict)


class Runner(Protocol):
    """Measures workload points on a running server: one call, one benchmark process."""

    def run(
        self,
        req: BenchRequest,
        *,
        sink: Sink | None = None,
        abort: Callable[[], str | None] | None = None,
    ) -> BenchOutcome:
        ...


@dataclass(frozen=True)
class GenaiBenchRunner:
    """The genai-bench CLI, by default through the launcher that reports its live progress
    (:func:`default_command`). ``command`` replaces the executable (an argv prefix), for a
    genai-bench installed elsewhere or a stand-in that writes genai-bench's file layout."""

    command: tuple[str, ...] = ()
    poll: float = 1.0

    def run(
        self,
        req: BenchRequest,
        *,
        sink: Sink | None = None,
        abort: Callable[[], str | None] | None = None,
    ) -> BenchOutcome:
        command = self.command or default_command()
        return run(req, sink=sink, abort=abort, poll=self.poll, command=command)


def run(
    req: BenchRequest,
    *,
    sink: Sink | None = None,
    abort: Callable[[], str | None] | None = None,
    poll: float = 1.0,
    command: Sequence[str] | None = None,
) -> BenchOutcome:
    """Run one genai-bench process; every requested point gets Metrics or a BenchError.

    ``abort`` is polled while it runs: when it returns a reason (the server died), genai-bench is
    stopped at once instead of firing connection errors until its time cap.
    """
    argv = build_argv(req, command or genai_bench_executable())
    req.out_dir.mkdir(parents=True, exist_ok=True)
    log_path = req.out_dir / "genai-bench.out"
    tail = Tail(80)
    start = time.monotonic()
    redact = Redactor([req.api_key or ""])
    try:
        with open(log_path, "w", encoding="utf-8") as log:
            returncode, failure = _supervise(req, argv, log, tail, sink, abort, poll, redact)
    finally:
        scrub(req.out_dir, [req.api_key or ""])  # also after Ctrl-C
    seconds = time.monotonic() - start
    runs = read_runs(req.out_dir, req.workload)
    measured: dict[WorkloadPoint, Metrics | BenchError] = {p: m for p, (m, _) in runs.items()}
    text_tail = tail.text()
    if failure is None and returncode not in (0, None):
        failure = f"genai-bench exited with code {returncode}"
        debug = debug_runs(req.out_dir)
        if debug:
            failure += f" (it could not aggregate {', '.join(p.name for p in debug)})"
    out: dict[WorkloadPoint, Metrics | BenchError] = {}
    for point in req.invocation.points:
        result = measured.get(point)
        if result is not None:
            out[point] = result
        else:
            why = failure or "genai-bench finished but wrote no result for this point"
            out[point] = BenchError(
                f"{why}; no result for {point.id} (output: {log_path})", output_tail=text_tail
            )
    return BenchOutcome(out, seconds, returncode, argv,
                        samples={p: samples for p, (_, samples) in runs.items()})


def _supervise(
    req: BenchRequest,
    argv: list[str],
    log: Any,
    tail: Tail,
    sink: Sink | None,
    abort: Callable[[], str | None] | None,
    poll: float,
    redact: Redactor,
) -> tuple[int | None, str | None]:
    """Run genai-bench to its end, its time limit, or ``abort``; output lines are redacted
    before they reach the log, the tail kept for errors, or the live sink."""
    start = time.monotonic()
    returncode: int | None = None
    failure: str | None = None
    proc = subprocess.Popen(  # noqa: S603 - argv list, no shell
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=bench_env(req.api_key),
        cwd=str(req.out_dir),
        start_new_session=True,
    )
    from .progress import is_progress_line

    def add_to_tail(line: str) -> None:
        if not is_progress_line(line):  # the tail is for errors: progress lines are noise
            tail.add(line)

    sinks: list[Sink] = [log.write, add_to_tail] + ([sink] if sink else [])
    pump = pump_output(proc, [lambda line: [f(redact(line)) for f in sinks]])
    deadline = start + req.effective_timeout
    try:
        while True:
            try:
                returncode = proc.wait(timeout=poll)
                break
            except subprocess.TimeoutExpired:
                pass
            reason = abort() if abort is not None else None
            if reason:
                failure = f"genai-bench stopped: {reason}"
                break
            if time.monotonic() > deadline:
                failure = f"genai-bench did not finish within {req.effective_timeout:.0f} s"
                break
    finally:
        if proc.poll() is None:
            terminate_group(proc, grace=5.0)
        pump.join(timeout=5.0)
    return returncode, failure
