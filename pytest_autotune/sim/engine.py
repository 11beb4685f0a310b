"""Real-time engine: paces the virtual-time scheduler against the wall clock.

Each data-parallel replica is one asyncio task. At every step boundary it admits the requests
that have reached the scheduler (HTTP arrival + modelled ingress), asks the scheduler for the next
pass, and sleeps until the pass ends. Tokens made by a pass are due at its end plus the modelled
egress; the task wakes at that time and hands them to each request's sink. One timer per step,
none per token.

Virtual time never drifts: the next step starts where the last one ended, not when the event loop
woke up. When the loop falls behind, it runs the late steps back to back and the sinks coalesce
the intermediate tokens into fewer chunks (:attr:`Engine.coalesce_box` grows with the lag), while
first and last tokens are always written as soon as they are due.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Callable
from typing import Protocol

from .config import ResolvedConfig
from .costmodel import CostModel, Noise
from .request import Req
from .scheduler import Scheduler, StepResult
from .tokens import Tokenizer, eos_length

__all__ = ["Engine", "Sink"]

log = logging.getLogger("sglang.srt.managers.scheduler")
MAX_LAG_S = 0.5
DECODE_LOG_INTERVAL = 40


class Sink(Protocol):
    def deliver(self, req: Req, count: int, final: bool, due: float, now: float) -> None: ...


class Replica:
    def __init__(self, engine: Engine, rank: int, sched: Scheduler) -> None:
        self.engine = engine
        self.rank = rank
        self.sched = sched
        self.inbox: deque[Req] = deque()
        self.wakeup = asyncio.Event()
        self.due: deque[tuple[float, list[tuple[Req, int]]]] = deque()
        self.vt: float | None = None
        self.task: asyncio.Task[None] | None = None
        self.last_log_t = 0.0
        self.last_log_tokens = 0
        self.gen_throughput = 0.0

    @property
    def load(self) -> int:
        return len(self.inbox) + len(self.sched.waiting) + len(self.sched.running)

    async def _sleep_until(self, target: float) -> None:
        loop = self.engine.loop
        while True:
            now = loop.time()
            self._flush(now)
            nxt = target
            if self.due and self.due[0][0] < nxt:
                nxt = self.due[0][0]
            if nxt > now:
                await asyncio.sleep(nxt - now)
                continue
            if now >= target:
                return

    def _flush(self, now: float) -> None:
        engine = self.engine
        lag = 0.0
        while self.due and self.due[0][0] <= now:
            due, tokens = self.due.popleft()
            lag = max(lag, now - due)
            for req, count in tokens:
                final = count >= req.stop_at
                if req.sink is not None:
                    req.sink.deliver(req, count, final, due, now)
                if final:
                    engine.finished(req, due, now)
        if lag:
            engine.observe_lag(lag)

    async def run(self) -> None:
        loop = self.engine.loop
        sched = self.sched
        stalled = False
        while True:
            if stalled or not sched.has_work():
                await self._wait_for_arrival(timeout=0.05 if stalled else None)
                if self.inbox:
                    start = self.inbox[0].arrival
                    self.vt = start if self.vt is None else max(self.vt, start)
                else:
                    self.vt = loop.time()
                stalled = False
            vt = self.vt if self.vt is not None else loop.time()
            await self._sleep_until(vt)
            now = loop.time()
            if now - vt > MAX_LAG_S:
                self.engine.resyncs += 1
                vt = now
            while self.inbox and self.inbox[0].arrival <= vt:
                sched.add(self.inbox.popleft())
            res = sched.step(vt)
            if res is None:
                # Nothing runnable now: wait for the next arrival (or retry shortly).
                self.vt = vt
                stalled = True
                continue
            self.vt = res.end
            self._after_step(res)

    async def _wait_for_arrival(self, timeout: float | None) -> None:
        loop = self.engine.loop
        deadline = None if timeout is None else loop.time() + timeout
        while not self.inbox:
            now = loop.time()
            self._flush(now)
            if deadline is not None and now >= deadline:
                return
            self.wakeup.clear()
            waits = [t for t in (deadline, self.due[0][0] if self.due else None) if t is not None]
            if waits:
                try:
                    await asyncio.wait_for(self.wakeup.wait(), max(min(waits) - now, 0))
                except asyncio.TimeoutError:
                    pass
            else:
                await self.wakeup.wait()

    def _after_step(self, res: StepResult) -> None:
        engine = self.engine
        if res.emitted:
            self.due.append((res.end + engine.egress,
                             [(req, req.out) for req in res.emitted]))
        stats = self.sched.stats
        while stats.events:
            log.info(stats.events.pop(0))
        if res.kind != "decode":
            engine.on_prefill(self, res)
        elif stats.decode_steps % DECODE_LOG_INTERVAL == 0:
            engine.on_decode_log(self, res)


class Engine:
    """All replicas of one server plus the bookkeeping the HTTP layer needs."""

    def __init__(self, cfg: ResolvedConfig, seed: int, noise: float,
                 on_finish: Callable[[Req, float, float], None] | None = None,
                 tokenizer: Tokenizer | None = None) -> None:
        self.cfg = cfg
        self.tokenizer = tokenizer or Tokenizer()
        self.cost = CostModel(cfg)
        self.seed = seed
        self.loop = asyncio.get_running_loop()
        self.egress = self.cost.egress()
        c = self.cost.c
        self.replicas = [
            Replica(self, i, Scheduler(cfg, self.cost, Noise(
                seed * 1000 + i, noise, c.straggler_p, c.request_straggler_p,
                c.request_straggler_s), seed + i))
            for i in range(cfg.dp)
        ]
        self.front_noise = Noise(seed * 1000 + 999, noise, c.straggler_p,
                                 c.request_straggler_p, c.request_straggler_s)
        self._rid = itertools.count(1)
        self._rr = itertools.count()
        self.coalesce_box = [0.0]  # seconds between intermediate chunks; shared with sinks
        self.resyncs = 0
        self.max_lag = 0.0
        self.on_finish = on_finish
        self.prefill_logger: Callable[[Replica, StepResult], None] | None = None
        self.decode_logger: Callable[[Replica, StepResult], None] | None = None

    def start(self) -> None:
        for rep in self.replicas:
            rep.task = self.loop.create_task(rep.run())

    async def stop(self) -> None:
        for rep in self.replicas:
            if rep.task is not None:
                rep.task.cancel()
        for rep in self.replicas:
            if rep.task is not None:
                try:
                    await rep.task
                except asyncio.CancelledError:
                    pass

    @property
    def busy(self) -> bool:
        return any(r.inbox or r.sched.has_work() for r in self.replicas)

    def submit(self, prompt: str, max_new: int, ignore_eos: bool, sink: Sink | None,
               priority: int = 0, received: float | None = None) -> Req:
        """Queue a request. ``received`` is when its HTTP request arrived: the modelled ingress
        (parsing, chat template, tokenizer) runs from then, so the real time the simulator spent
        tokenizing it counts toward that ingress instead of adding to it."""
        now = self.loop.time()
        start = now if received is None else min(received, now)
        rid = next(self._rid)
        stop = max_new if ignore_eos else eos_length(self.seed, rid, max_new)
        arrival = max(now, start + self.cost.ingress(len(prompt))) + \
            self.front_noise.request_delay()
        req = Req(rid, prompt, max_new, stop, self.tokenizer.output(rid, stop), arrival,
                  ignore_eos, priority)
        req.sink = sink
        req.admit_time = -1.0
        req.token_times = None
        if self.cfg.load_balance_method == "shortest_queue":
            rep = min(self.replicas, key=lambda r: r.load)
        else:
            rep = self.replicas[next(self._rr) % len(self.replicas)]
        req.dp_rank = rep.rank
        rep.inbox.append(req)
        rep.wakeup.set()
        return req

    def abort(self, req: Req) -> None:
        rep = self.replicas[req.dp_rank]
        req.sink = None
        if req in rep.inbox:
            rep.inbox.remove(req)
        else:
            rep.sched.abort(req, rep.vt if rep.vt is not None else self.loop.time())

    def finished(self, req: Req, due: float, now: float) -> None:
        if self.on_finish is not None:
            self.on_finish(req, due, now)

    def observe_lag(self, lag: float) -> None:
        self.max_lag = max(self.max_lag, lag)
        box = self.coalesce_box
        if lag > 0.002:
            box[0] = min(0.05, max(0.005, box[0] * 2))
        elif lag < 0.0005 and box[0]:
            box[0] = box[0] / 2 if box[0] > 0.001 else 0.0

    def on_prefill(self, rep: Replica, res: StepResult) -> None:
        if self.prefill_logger is not None:
            self.prefill_logger(rep, res)

    def on_decode_log(self, rep: Replica, res: StepResult) -> None:
        if self.decode_logger is not None:
            self.decode_logger(rep, res)

    async def generate_once(self, prompt: str, max_new: int) -> None:
        """A warm-up request through the scheduler; returns when its last token is due."""
        done = self.loop.create_future()

        class _Warm:
            def deliver(self, req: Req, count: int, final: bool, due: float,
                        now: float) -> None:
                if final and not done.done():
                    done.set_result(None)

        self.submit(prompt, max_new, True, _Warm())
        await done
