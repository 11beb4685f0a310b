"""Throughputs of a closed loop in its steady state, from per-request records alone.

genai-bench 0.0.5 runs ``c`` users in a closed loop (each sends its next request as soon as the last
one ends), starts them all at once (locust dispatches users in batches of the spawn rate, which
genai-bench sets to ``c``) but builds their first requests one after another in its one process
(:func:`build_time`), checks its stop rule once a second, stops the users at that tick (the ``c``
requests still in flight are dropped) and divides the tokens of the finished requests by the whole
run's duration. That aggregate counts the spawn, the tick and the dropped work: at 1–3 s per point
it measures the tick, not the server (two configurations with identical latencies scored 3,017 and
2,063 tok/s).

Its per-request records carry no timestamps, but a closed loop needs none. In the steady state
every user always has one request in flight, so by Little's law the completion rate is
``c / E[cycle]``, where a cycle is a request's end-to-end latency (plus the client's gap before
the next one, a few milliseconds, see docs/metrics.md), and the output throughput is

    c · Σ output tokens / Σ e2e            (over the requests of the steady window)

a ratio estimator that does not depend on when the run was cut. What it must leave out:

* the **spawn**: requests that started while users were still arriving ran at a lower load
  (shorter latencies, an optimistic ratio). The records are in the order the requests finished;
  :func:`spawn_count` rebuilds the run's timeline from that order and the e2e latencies to find
  the requests that started before the last user sent its first one (one wave when requests take
  longer than the spawn, several when they are short);
* the **cut** needs nothing: the requests in flight at the tick are not in the records, and the
  finished ones were each timed whole.

The interval is the delta-method interval of the ratio over **waves** (consecutive groups of
``c`` requests): requests of one wave share the server's batch and are correlated, so an interval
over single requests would be too narrow.

A point whose steady window is too short is flagged (``short_run``): fewer than
:data:`MIN_PER_USER` steady requests per user or fewer than :data:`MIN_STEADY_S` seconds of steady
load. docs/metrics.md gives the rule's measured effect on bias and spread.
"""

from __future__ import annotations

import heapq
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace

from ..decide.stats import INF, Interval, ratio_interval
from ..values import Metrics

#: genai-bench's CPU time to build one request before its clock starts (sample sonnet lines,
#: tokenize them, count the chat template), per request and per prompt token: 3.5 ms for 200
#: tokens, 27 ms for 2,000 (genai-bench 0.0.5, Qwen2.5's tokenizer; benchmarks/estimate_vs_sim.py).
#: Its users all start at once, so the ``c`` first requests leave this far apart: the spawn.
CLIENT_PREPARE_S = 0.001
CLIENT_PREPARE_PER_TOKEN_S = 13e-6
#: fewer steady requests per user than this flags a point as a short run
MIN_PER_USER = 2
#: fewer seconds of steady load than this flags a point as a short run
MIN_STEADY_S = 2.0
#: throughputs computed here, by the token count each divides
THROUGHPUTS = ("output_throughput", "input_throughput", "total_throughput",
               "request_throughput")


@dataclass(frozen=True, slots=True)
class Wave:
    """Consecutive steady requests (about one per user): their count, summed e2e, tokens."""

    requests: int
    e2e: float
    input_tokens: int
    output_tokens: int

    def numerator(self, metric: str) -> float:
        if metric == "output_throughput":
            return float(self.output_tokens)
        if metric == "input_throughput":
            return float(self.input_tokens)
        if metric == "total_throughput":
            return float(self.input_tokens + self.output_tokens)
        if metric == "request_throughput":
            return float(self.requests)
        raise KeyError(metric)


@dataclass(frozen=True, slots=True)
class SteadyWindow:
    """The steady requests of one or more runs of a point at ``concurrency`` users."""

    concurrency: int
    waves: tuple[Wave, ...] = ()
    #: requests left out as part of the spawn (or genai-bench's warm-up cut), all runs
    spawn_requests: int = 0
    runs: int = 1
    #: the median e2e of the run's requests (spawn included; the mean over pooled runs)
    median_e2e: float = 0.0

    @property
    def requests(self) -> int:
        return sum(w.requests for w in self.waves)

    @property
    def seconds(self) -> float:
        """How long the steady load lasted, per run (Σ e2e / c: each user's busy time)."""
        if self.concurrency <= 0 or self.runs <= 0:
            return 0.0
        return sum(w.e2e for w in self.waves) / self.concurrency / self.runs

    @property
    def per_user(self) -> float:
        """Steady requests per user and run."""
        if self.concurrency <= 0 or self.runs <= 0:
            return 0.0
        return self.requests / self.concurrency / self.runs

    @property
    def short(self) -> bool:
        """Too short to trust (docs/metrics.md, "Short runs")."""
        return self.per_user < MIN_PER_USER or self.seconds < MIN_STEADY_S

    def throughput(self, metric: str) -> float:
        e2e = sum(w.e2e for w in self.waves)
        if e2e <= 0:
            return 0.0
        return self.concurrency * sum(w.numerator(metric) for w in self.waves) / e2e

    def interval(self, metric: str) -> Interval:
        """The throughput's interval: the delta method over waves (over single requests while
        there are fewer than two waves, which a short-run flag then marks)."""
        value = self.throughput(metric)
        if value <= 0:
            return Interval(-INF, INF, "steady-ratio", 0)
        # Large-sample, not t at waves − 1: a window of 2–3 waves (what the short-run rule lets
        # through at high concurrency) would get t at 1–2 df, 4–13 standard errors, and tie with
        # every configuration. The waves' spread estimates the within-run part only; the noise
        # floor added to it stands for the run-to-run part (docs/metrics.md).
        rel = ratio_interval([w.numerator(metric) for w in self.waves],
                             [w.e2e for w in self.waves], df=INF)
        return Interval(rel.low * value, rel.high * value, "steady-ratio", rel.n, rel.level, rel.df)

    def summary(self) -> dict[str, float | int]:
        """What a point's JSON keeps of the window."""
        return {"requests": self.requests, "spawn_requests": self.spawn_requests,
                "per_user": round(self.per_user, 2), "seconds": round(self.seconds, 3),
                "runs": self.runs, "requests_needed": self.requests_needed()}

    def requests_needed(self) -> int:
        """The ``max_requests`` that would give one run of this point a long enough steady
        window, from what it measured (its spawn share and request rate), with 10 % to spare."""
        c = max(1, self.concurrency)
        runs = max(1, self.runs)
        spawn = self.spawn_requests / runs
        if self.seconds > 0:
            rate = self.per_user / self.seconds  # requests per user and second
        else:  # every request started in the spawn
            rate = 1.0 / self.median_e2e if self.median_e2e > 0 else 0.0
        per_user = max(float(MIN_PER_USER), MIN_STEADY_S * rate)
        # genai-bench counts finished requests: the spawn's and the steady window's
        return math.ceil((spawn + per_user * c) * 1.1)

    @classmethod
    def pooled(cls, windows: Sequence[SteadyWindow]) -> SteadyWindow:
        """The windows of several runs of one point."""
        if not windows:
            return cls(0)
        return cls(windows[0].concurrency, tuple(w for s in windows for w in s.waves),
                   sum(s.spawn_requests for s in windows), sum(s.runs for s in windows),
                   statistics.fmean(s.median_e2e for s in windows))


def build_time(prompt_tokens: float) -> float:
    """genai-bench's time to build one request of ``prompt_tokens`` before sending it."""
    return CLIENT_PREPARE_S + CLIENT_PREPARE_PER_TOKEN_S * prompt_tokens


def spawn_count(e2e: Sequence[float], concurrency: int, build_s: float) -> int:
    """How many of a run's first finished requests started during the users' spawn (before the
    last user sent its first request, at ``(c − 1) · build_s``).

    The records carry no timestamps, so the run's timeline is rebuilt from their order and
    durations: user ``u`` sends its first request at ``u · build_s``; each finished request is taken
    to be the one in flight the longest (first in, first out: exact when requests take about as
    long as each other, as in genai-bench's fixed-length scenarios), it ended at its start plus
    its e2e, and its user sent the next one then. Requests are short while the load ramps up, so
    an early user runs several during the spawn: counting with the steady e2e would miss them."""
    if not e2e or concurrency <= 0:
        return 0
    spawn = (concurrency - 1) * build_s
    in_flight = [u * build_s for u in range(concurrency)]  # start times, a heap
    heapq.heapify(in_flight)
    count = 0
    last_end = 0.0
    for duration in e2e:
        start = heapq.heappop(in_flight)
        if start >= spawn - 1e-9:
            break  # from here on every request started under the full load
        count += 1
        last_end = max(last_end, start + duration)
        heapq.heappush(in_flight, last_end)
    return count


def window(e2e: Sequence[float], input_tokens: Sequence[int], output_tokens: Sequence[int],
           concurrency: int, *, skipped: int = 0) -> SteadyWindow:
    """The steady window of one run from its finished requests in the order they finished
    (after ``skipped`` requests genai-bench's warm-up ratio already cut from the front)."""
    c = max(1, concurrency)
    build = build_time(statistics.median(input_tokens)) if input_tokens else 0.0
    drop = max(0, spawn_count(e2e, c, build) - skipped)
    drop = min(drop, len(e2e))
    rows = list(zip(e2e[drop:], input_tokens[drop:], output_tokens[drop:], strict=True))
    waves: list[Wave] = []
    for start in range(0, len(rows), c):
        chunk = rows[start:start + c]
        wave = Wave(len(chunk), math.fsum(r[0] for r in chunk), sum(r[1] for r in chunk),
                    sum(r[2] for r in chunk))
        if waves and wave.requests < c:  # a partial last wave joins the one before
            last = waves.pop()
            wave = Wave(last.requests + wave.requests, last.e2e + wave.e2e,
                        last.input_tokens + wave.input_tokens,
                        last.output_tokens + wave.output_tokens)
        waves.append(wave)
    if len(waves) < 2:  # too few for waves (a short run): the interval over single requests
        waves = [Wave(1, r[0], r[1], r[2]) for r in rows]
    return SteadyWindow(c, tuple(waves), drop + skipped,
                        median_e2e=statistics.median(e2e) if e2e else 0.0)




def apply(metrics: Metrics, steady: SteadyWindow | None) -> Metrics:
    """``metrics`` with throughputs from ``steady``; genai-bench's own kept in ``genai_bench``.

    A run with no steady request at all (every one started in the spawn) keeps genai-bench's
    numbers, flagged as a short run."""
    aggregate = {name: float(getattr(metrics, name)) for name in THROUGHPUTS}
    if steady is None:
        return replace(metrics, genai_bench=aggregate)
    flagged = replace(metrics, genai_bench=aggregate, steady=steady.summary(),
                      short_run=steady.short)
    if steady.requests == 0:
        return flagged
    return replace(flagged, output_throughput=steady.throughput("output_throughput"),
                   input_throughput=steady.throughput("input_throughput"),
                   total_throughput=steady.throughput("total_throughput"),
                   request_throughput=steady.throughput("request_throughput"))


__all__ = [
    "CLIENT_PREPARE_PER_TOKEN_S",
    "CLIENT_PREPARE_S",
    "MIN_PER_USER",
    "MIN_STEADY_S",
    "THROUGHPUTS",
    "SteadyWindow",
    "Wave",
    "apply",
    "build_time",
    "spawn_count",
    "window",
]
