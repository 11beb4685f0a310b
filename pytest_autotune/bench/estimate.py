"""Estimate mode's benchmark: genai-bench's workload and accounting, run against the simulator's
scheduler in virtual time, in-process — no HTTP, no genai-bench process.

What is kept from genai-bench 0.0.5 (reference: its ``scenarios/text.py``, ``cli/utils.py``):

* scenarios — ``D(in,out)`` exact; ``N(mi,si)/(mo,so)`` normal, truncated to ints, at least 1
  input and 2 output tokens; ``U(min,max)/(min,max)`` uniform the same way;
* ``--prefix-len`` (one prefix shared by every prompt) and ``--prefix-ratio`` (a prefix of that
  share of each prompt, the same text for prompts of the same length);
* concurrency as closed-loop users, no think time, all started at once (genai-bench's spawn rate
  is the concurrency, and locust's dispatcher then starts every user in one batch);
* its one client process builds one request at a time (it samples sonnet lines and tokenizes
  them: CPU time growing with the prompt) before it takes the request's start time and sends
  it, so users that become ready together — at the start, or as fixed-length requests end in
  the same step — send one after another, spaced by that time;
* the stop rule: at the first whole-second tick where ``--max-requests-per-run`` requests
  finished, or at ``--max-time-per-run`` minutes; requests still in flight are not counted;
* the metrics: TTFT, TPOT = (e2e − TTFT)/(output tokens − 1) (none below 1 ms of output
  latency), e2e and output latency; warm-up and cool-down ratios drop requests in the order
  they finished, as genai-bench lists them; throughputs come from the steady window of the
  finished requests, as a measured run's do (steady.py), genai-bench's tick-bound aggregate
  kept beside them.

Prompt text is random, so prompts share no prefix beyond the ones asked for, as genai-bench's
random sonnet lines rarely do. Token counts are the simulator's own (one token per prompt byte).
"""

from __future__ import annotations

import functools
import math
import random
import re
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from ..errors import BenchError
from ..sim.tokens import for_model
from ..sim.virtual import Job, Record, VirtualCluster
from ..values import Metrics, Stat, Workload, WorkloadPoint
from .runner import BenchOutcome, BenchRequest, Sink
from .samples import RequestSamples
from .steady import apply, build_time, window

#: what genai-bench's client adds to each request's latency (calibration.md)
CLIENT_OVERHEAD_S = 0.0035
#: genai-bench's pause between two runs of one process
PAUSE_S = 1.0
#: the concurrency's users start within this many seconds: locust dispatches users in batches of
#: the spawn rate, which genai-bench sets to the concurrency, so all of them start at once
SPAWN_S = 0.0
_NUMBERS = re.compile(r"\d+")
_LETTERS = "abcdefghijklmnopqrstuvwxyz ,.;:'"


def token_lengths(scenario: str, rng: random.Random) -> Callable[[], tuple[int, int]]:
    """A sampler of (input, output) token counts for a genai-bench text scenario."""
    kind = scenario[:1]
    numbers = [int(n) for n in _NUMBERS.findall(scenario)]
    if kind == "D":
        fixed = (numbers[0], numbers[1])
        return lambda: fixed
    if kind == "N":
        mi, si, mo, so = numbers
        return lambda: (max(1, int(rng.gauss(mi, si))), max(2, int(rng.gauss(mo, so))))
    if kind == "U":
        if len(numbers) == 2:  # U(max_in,max_out)
            lo_in, hi_in, lo_out, hi_out = 1, numbers[0], 1, numbers[1]
        else:
            lo_in, hi_in, lo_out, hi_out = numbers
        return lambda: (max(1, int(rng.uniform(lo_in or 1, hi_in))),
                        max(2, int(rng.uniform(lo_out or 1, hi_out))))
    raise BenchError(f"estimate mode cannot generate scenario {scenario!r}")


def _text(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(_LETTERS) for _ in range(n))


@functools.cache
def template_tokens(model: str) -> int:
    """What the served model's chat template adds to a one-message prompt, in its tokens
    (computed once per model, not per measured point)."""
    tok = for_model(model)
    return tok.count(tok.render_chat([{"role": "user", "content": ""}]))


def jobs(scenario: str, workload: Workload, seed: int, template: int = 0) -> Iterator[Job]:
    """genai-bench's requests for one run of ``scenario``, endless (the stop rule ends a run);
    each prompt opens with ``template`` tokens of the chat template, the same in every one."""
    rng = random.Random(seed)
    lengths = token_lengths(scenario, rng)
    prefixes: dict[int, str] = {}

    def prefix(n: int) -> str:
        if n not in prefixes:  # the same text for the same length, as genai-bench's seeded rng
            prefixes[n] = _text(random.Random(n * 7919 + 42), n)
        return prefixes[n]

    head = "\x00" * template
    while True:
        n_in, n_out = lengths()
        share = 0
        if workload.prefix_ratio is not None:
            share = int(n_in * workload.prefix_ratio)
        elif workload.prefix_len is not None:
            share = min(workload.prefix_len, n_in)
        yield Job(head + prefix(share) + _text(rng, n_in - share), n_out)


def _stat(values: Sequence[float]) -> Stat:
    if not values:
        return Stat()
    xs = sorted(values)

    def pct(q: float) -> float:
        k = (len(xs) - 1) * q / 100
        lo, hi = math.floor(k), math.ceil(k)
        return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)

    return Stat(mean=statistics.fmean(xs), min=xs[0], max=xs[-1],
                stddev=statistics.pstdev(xs) if len(xs) > 1 else 0.0,
                p25=pct(25), p50=pct(50), p75=pct(75), p90=pct(90), p95=pct(95), p99=pct(99))


def _tpot(record: Record) -> float | None:
    if record.output_tokens < 2 or record.e2e - record.ttft < 1e-3:
        return None
    return (record.e2e - record.ttft) / (record.output_tokens - 1)


def account(records: Sequence[Record], duration: float, workload: Workload,
            concurrency: int | None = None) -> tuple[Metrics, RequestSamples]:
    """The metrics and per-request samples of one run's finished requests, as a genai-bench run
    file is read: requests listed as they finished, genai-bench's aggregate (tokens over the
    run's duration) kept in ``genai_bench``, throughputs from the steady window (steady.py).
    ``concurrency``: the run's users (default: as many as requests ran at once)."""
    ordered = sorted(records, key=lambda r: r.end)
    total = len(ordered)
    first = int(total * workload.warmup_ratio) if workload.warmup_ratio else 0
    last = total - (int(total * workload.cooldown_ratio) if workload.cooldown_ratio else 0)
    kept = ordered[first:last]
    ttft = [r.ttft for r in kept]
    tpot = [t for r in kept if (t := _tpot(r)) is not None]
    e2e = [r.e2e for r in kept]
    out_lat = [r.e2e - r.ttft for r in kept]
    tokens_in = sum(r.input_tokens for r in kept)
    tokens_out = sum(r.output_tokens for r in kept)
    per_s = (lambda n: n / duration) if duration > 0 else (lambda n: 0.0)
    metrics = Metrics(
        ttft=_stat(ttft), tpot=_stat(tpot), e2e=_stat(e2e), output_latency=_stat(out_lat),
        output_throughput=per_s(tokens_out), input_throughput=per_s(tokens_in),
        total_throughput=per_s(tokens_in + tokens_out), request_throughput=per_s(len(kept)),
        num_requests=total, num_errors=0, run_duration=duration,
    )
    users = concurrency if concurrency is not None else _most_at_once(ordered)
    steady = window(e2e, [r.input_tokens for r in kept], [r.output_tokens for r in kept], users,
                    skipped=first)
    samples = RequestSamples(
        ttft=tuple(ttft), tpot=tuple(tpot), e2e=tuple(e2e), output_latency=tuple(out_lat),
        input_tokens=tuple(r.input_tokens for r in kept),
        output_tokens=tuple(r.output_tokens for r in kept), duration=duration, steady=steady,
    )
    return apply(metrics, steady), samples


def _most_at_once(records: Sequence[Record]) -> int:
    """The most requests in flight at one time."""
    events = sorted([(r.start, 1) for r in records] + [(r.end, -1) for r in records],
                    key=lambda e: (e[0], e[1]))
    most = now = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return max(1, most)


def prepare_time(template: int) -> Callable[[Job], float]:
    """genai-bench's time to build a request (its prompt less the chat template's tokens)."""
    return lambda job: build_time(len(job.prompt) - template)


def measure_point(cluster: VirtualCluster, point: WorkloadPoint, workload: Workload,
                  seed: int) -> tuple[Metrics, RequestSamples]:
    """One genai-bench run of ``point`` on ``cluster`` (which keeps its state between runs)."""
    template = template_tokens(cluster.cfg.model.name)
    result = cluster.run(
        concurrency=point.concurrency, jobs=jobs(point.scenario, workload, seed, template),
        max_time=max(1, math.ceil(workload.max_time_s / 60.0)) * 60.0, spawn=SPAWN_S,
        stop_count=workload.max_requests, prepare=prepare_time(template),
    )
    cluster.idle(PAUSE_S)
    if not result.records:
        raise BenchError(f"no request finished at {point.id} within the time cap "
                         f"({workload.max_time_s:.0f} s): the configuration is too slow for it")
    return account(result.records, result.duration, workload)


@dataclass
class EstimateRunner:
    """The :class:`~pytest_autotune.bench.runner.Runner` of estimate mode: it looks up the
    virtual server a request's URL names and runs its points there. Every pass draws new
    prompts and new noise; the server's device factor stays, as on one real server."""

    clusters: dict[str, VirtualCluster] = field(default_factory=dict)
    passes: dict[str, int] = field(default_factory=dict)

    def run(self, req: BenchRequest, *, sink: Sink | None = None,
            abort: Callable[[], str | None] | None = None) -> BenchOutcome:
        cluster = self.clusters.get(req.url)
        started = time.monotonic()
        results: dict[WorkloadPoint, Metrics | BenchError] = {}
        samples: dict[WorkloadPoint, RequestSamples] = {}
        count = self.passes[req.url] = self.passes.get(req.url, 0) + 1
        for index, point in enumerate(req.invocation.points):
            if cluster is None:
                results[point] = BenchError(f"no estimated server at {req.url}")
                continue
            try:
                results[point], samples[point] = measure_point(
                    cluster, point, req.workload, seed=count * 1009 + index)
            except BenchError as exc:
                results[point] = exc
            if sink is not None:
                sink(f"estimated {point.id}\n")
        return BenchOutcome(results, time.monotonic() - started, 0, ["estimate", req.url],
                            samples=samples)
