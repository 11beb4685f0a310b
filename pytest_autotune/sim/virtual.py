"""Run workloads against the scheduler model in virtual time, as fast as the CPU allows.

Used by the benchmarks, the sensitivity tests and the tuning-case demonstration. A workload is a
list of :class:`Job` (prompt tokens and output length). Clients are closed loops (genai-bench's
concurrency: each user sends its next request as soon as the last ends) or an open Poisson
stream. Requests cross the modelled front end (ingress, egress) and a client overhead, so the
returned latencies are what a benchmark client would measure.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from .config import ResolvedConfig
from .costmodel import Calibration, CostModel, Noise
from .request import Req
from .scheduler import Scheduler
from .tokens import Tokenizer

__all__ = ["Job", "Record", "Result", "VirtualCluster", "random_jobs", "run_closed", "run_poisson"]

#: generated tokens; in virtual time only their identity matters (to the prefix cache)
_OUTPUT = Tokenizer()


@dataclass(frozen=True, slots=True)
class Job:
    prompt: str  # tokens, one character each
    output_len: int
    ignore_eos: bool = True


@dataclass(slots=True)
class Record:
    rid: int
    start: float  # client send time
    arrival: float  # scheduler arrival (after ingress)
    first_token: float  # client receives the first token
    end: float  # client receives the last token
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    queue_time: float
    retractions: int
    token_times: list[float] | None = None

    @property
    def ttft(self) -> float:
        return self.first_token - self.start

    @property
    def e2e(self) -> float:
        return self.end - self.start

    @property
    def tpot(self) -> float | None:
        if self.output_tokens < 2:
            return None
        return (self.end - self.first_token) / (self.output_tokens - 1)


@dataclass(slots=True)
class Result:
    records: list[Record]
    duration: float
    schedulers: list[Scheduler]

    @property
    def output_throughput(self) -> float:
        return sum(r.output_tokens for r in self.records) / self.duration if self.duration else 0.0

    @property
    def cache_hit_rate(self) -> float:
        prompt = sum(s.stats.prompt_tokens for s in self.schedulers)
        return sum(s.stats.cached_tokens for s in self.schedulers) / prompt if prompt else 0.0


def random_jobs(n: int, input_len: int, output_len: int, seed: int = 0, prefix_len: int = 0,
                num_prefixes: int = 1, ignore_eos: bool = True) -> list[Job]:
    """genai-bench-like D(input,output) jobs; ``prefix_len`` tokens shared by groups of prompts."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz ,."
    prefixes = ["".join(rng.choice(letters) for _ in range(prefix_len))
                for _ in range(num_prefixes)]
    jobs = []
    for i in range(n):
        body = "".join(rng.choice(letters) for _ in range(max(input_len - prefix_len, 1)))
        prefix = prefixes[i % num_prefixes] if prefix_len else ""
        jobs.append(Job(prefix + body, output_len, ignore_eos))
    return jobs


class VirtualCluster:
    """dp replicas with round-robin routing, driven by an event queue in virtual time."""

    def __init__(self, cfg: ResolvedConfig, seed: int = 0, noise: float = 0.0,
                 calib: Calibration | None = None, client_overhead: float = 0.0,
                 keep_token_times: bool = False) -> None:
        self.cfg = cfg
        self.cost = CostModel(cfg, calib)
        c = self.cost.c
        self.schedulers = [
            Scheduler(cfg, self.cost, Noise(seed * 1000 + i, noise, c.straggler_p,
                                            c.request_straggler_p, c.request_straggler_s),
                      seed + i)
            for i in range(cfg.dp)
        ]
        self.front_noise = Noise(seed * 1000 + 999, noise, c.straggler_p,
                                 c.request_straggler_p, c.request_straggler_s)
        self.client_overhead = client_overhead
        self.keep = keep_token_times
        self._rr = itertools.count()
        self._rid = itertools.count()
        self.clock = [0.0] * cfg.dp  # when each replica is next free
        self.now = 0.0  # where the next run starts

    def make_req(self, job: Job, send: float) -> Req:
        rid = next(self._rid)
        arrival = (send + self.client_overhead / 2 + self.cost.ingress(len(job.prompt))
                   + self.front_noise.request_delay())
        req = Req(rid, job.prompt, job.output_len, job.output_len,
                  _OUTPUT.output(rid, job.output_len), arrival, job.ignore_eos)
        req.token_times = [] if self.keep else None
        return req

    def idle(self, seconds: float) -> None:
        """Let virtual time pass with no requests (the next :meth:`run` starts after it)."""
        self.clock = [max(c, self.now) + seconds for c in self.clock]
        self.now = max(self.clock)

    def run(self, sends: list[tuple[float, Job]] | None = None, concurrency: int = 0,
            jobs: Iterable[Job] = (), max_time: float = float("inf"), *, spawn: float = 0.0,
            stop_count: int | None = None,
            prepare: Callable[[Job], float] | None = None) -> Result:
        """Open loop (``sends``) or closed loop (``concurrency`` users over ``jobs``); a second
        run on the same cluster starts where the first ended (send times are relative).

        genai-bench's closed loop: ``spawn`` seconds to start the users (0 for genai-bench: its
        spawn rate is the concurrency, and locust then starts every user in one batch),
        ``prepare``, the client's time to build a request before it is sent (genai-bench is
        one process: it builds one request at a time, so users that become ready together
        send one after another, each when its request is built, and a response that arrives
        while it builds one is read when it is done), and ``stop_count``, its stop
        rule: the run ends at the first whole-second tick at which that many requests finished
        (or at ``max_time``); requests still in flight then are aborted and not counted, and
        the duration is the tick's time — the token accounting of genai-bench's run files."""
        origin = self.now  # not `start`: the loop below names each request's send time so
        client = origin  # when the client has built the last request it was asked for
        busy_from: list[float] = []  # the client's busy spans, in order, merged when they touch
        busy_to: list[float] = []

        def send_at(ready: float, job: Job) -> float:
            nonlocal client
            if prepare is None:
                return ready
            begin = max(client, ready)
            client = begin + prepare(job)
            if busy_to and begin <= busy_to[-1]:
                busy_to[-1] = client
            else:
                busy_from.append(begin)
                busy_to.append(client)
            return client

        def seen(t: float) -> float:
            """When the client reads what reached it at ``t``: while it builds a request it
            reads nothing (one process), so a token that arrives then waits for it."""
            i = bisect.bisect_right(busy_from, t) - 1
            return busy_to[i] if i >= 0 and t < busy_to[i] else t

        egress = self.cost.egress() + self.client_overhead / 2
        records: list[Record] = []
        pending: list[tuple[float, int, Req, float]] = []  # (arrival, rid, req, send time)
        seq = itertools.count()
        job_iter = iter(jobs)
        if sends is not None:
            for t, job in sends:
                req = self.make_req(job, origin + t)
                heapq.heappush(pending, (req.arrival, next(seq), req, origin + t))
        else:
            for user in range(concurrency):
                first = next(job_iter, None)
                if first is None:
                    break
                sent = send_at(origin + spawn * user / concurrency, first)
                req = self.make_req(first, sent)
                heapq.heappush(pending, (req.arrival, next(seq), req, sent))
        send_time: dict[int, float] = {}
        last_end = origin
        max_time += origin
        stop_at: float | None = None
        while True:
            # the replica with the earliest next step boundary that has (or will get) work
            best = -1
            best_t = float("inf")
            for i, sch in enumerate(self.schedulers):
                if sch.has_work() and self.clock[i] < best_t:
                    best, best_t = i, self.clock[i]
            if pending and pending[0][0] <= best_t:
                arrival, _, req, sent = heapq.heappop(pending)
                i = next(self._rr) % len(self.schedulers)
                sch = self.schedulers[i]
                if not sch.has_work():
                    self.clock[i] = max(self.clock[i], arrival)
                send_time[req.rid] = sent
                req.dp_rank = i
                sch.add(req)
                continue
            if best < 0 or best_t > max_time or (stop_at is not None and best_t > stop_at):
                break
            sch = self.schedulers[best]
            res = sch.step(self.clock[best])
            if res is None:
                self.clock[best] = pending[0][0] if pending else float("inf")
                continue
            self.clock[best] = res.end
            if self.keep:
                for req in res.emitted:
                    assert req.token_times is not None
                    req.token_times.append(res.end + egress)
            for req in res.finished:
                start = send_time.pop(req.rid)
                end = seen(req.finish_time + egress)
                last_end = max(last_end, end)
                records.append(Record(
                    req.rid, start, req.arrival, seen(req.first_token_time + egress), end,
                    len(req.prompt), req.out, req.cached_tokens, req.admit_time - req.arrival,
                    req.retractions, req.token_times))
                if stop_count is not None and stop_at is None and len(records) >= stop_count:
                    stop_at = origin + max(1.0, math.ceil(end - origin))
                if sends is None and (stop_at is None or end < stop_at):
                    nxt = next(job_iter, None)
                    if nxt is not None:
                        sent = send_at(end, nxt)
                        new = self.make_req(nxt, sent)
                        heapq.heappush(pending, (new.arrival, next(seq), new, sent))
        if stop_count is not None:
            return self._stop(records, origin, stop_at if stop_at is not None else max_time)
        self.now = max([last_end, *(c for c in self.clock if c != float("inf"))])
        return Result(records, last_end - origin, self.schedulers)

    def _stop(self, records: list[Record], origin: float, stop_at: float) -> Result:
        """End a run at ``stop_at``: what finished by then counts; the rest is aborted, as the
        server aborts requests whose client went away."""
        if stop_at == float("inf"):
            stop_at = max((r.end for r in records), default=origin)
        for sch in self.schedulers:
            for req in [*sch.waiting, *sch.running,
                        *([sch.chunked] if sch.chunked is not None else [])]:
                sch.abort(req, stop_at)
        self.clock = [max(c, stop_at) if c != float("inf") else stop_at for c in self.clock]
        self.now = stop_at
        kept = [r for r in records if r.end <= stop_at]
        return Result(kept, stop_at - origin, self.schedulers)


def run_closed(cfg: ResolvedConfig, jobs: Sequence[Job], concurrency: int, seed: int = 0,
               noise: float = 0.0, client_overhead: float = 0.0,
               calib: Calibration | None = None, keep_token_times: bool = False) -> Result:
    cluster = VirtualCluster(cfg, seed, noise, calib, client_overhead, keep_token_times)
    return cluster.run(concurrency=concurrency, jobs=jobs)


def run_poisson(cfg: ResolvedConfig, jobs: Sequence[Job], rate: float, seed: int = 0,
                noise: float = 0.0, client_overhead: float = 0.0,
                calib: Calibration | None = None, keep_token_times: bool = False) -> Result:
    rng = random.Random(seed + 17)
    t = 0.0
    sends = []
    for job in jobs:
        t += rng.expovariate(rate)
        sends.append((t, job))
    cluster = VirtualCluster(cfg, seed, noise, calib, client_overhead, keep_token_times)
    return cluster.run(sends=sends)
