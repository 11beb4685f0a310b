"""The virtual-time scheduler of one SGLang replica (``managers/scheduler.py``).

Continuous batching as SGLang does it: each step is either a prefill (extend) pass, which takes
priority, or a decode pass over the running batch. Prefill stalls the decodes unless
``--enable-mixed-chunk`` puts the decode tokens into the same pass. The KV pool is shared with the
radix prefix cache; when a decode step finds no free slot it retracts requests (fewest decoded
tokens first) and raises ``new_token_ratio``, which otherwise decays from
``0.7 × conservativeness`` to ``0.14 ×`` that over 600 decode steps.

The scheduler never reads a clock: :meth:`Scheduler.step` is given the virtual time at which the
step starts and returns when it ends, so it runs as fast as possible in tests and benchmarks and
is paced by the real-time engine in the server.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from .admission import AddResult, PrefillAdder, active_policy, order_waiting
from .config import ResolvedConfig
from .costmodel import CostModel, Noise
from .radix import RadixCache
from .request import Req

__all__ = ["Scheduler", "Stats", "StepResult"]

INIT_NEW_TOKEN_RATIO = 0.7
MIN_NEW_TOKEN_RATIO_FACTOR = 0.14
NEW_TOKEN_RATIO_DECAY_STEPS = 600
RETRACT_DECODE_STEPS = 20
EVICT_BATCH_DIVISOR = 100


@dataclass(slots=True)
class StepResult:
    kind: str  # "prefill" | "decode" | "mixed"
    start: float
    end: float
    emitted: list[Req]  # requests that produced one token at ``end``
    finished: list[Req]
    batch_size: int
    new_tokens: int = 0
    cached_tokens: int = 0
    new_seqs: int = 0
    graph: bool = False
    retracted: int = 0


@dataclass(slots=True)
class Stats:
    prompt_tokens: int = 0
    generation_tokens: int = 0
    cached_tokens: int = 0
    admitted_tokens: int = 0
    requests: int = 0
    finished: int = 0
    retracted: int = 0
    decode_steps: int = 0
    prefill_steps: int = 0
    busy_time: float = 0.0
    events: list[str] = field(default_factory=list)


class Scheduler:
    def __init__(self, cfg: ResolvedConfig, cost: CostModel | None = None,
                 noise: Noise | None = None, seed: int = 0) -> None:
        self.cfg = cfg
        self.cost = cost or CostModel(cfg)
        self.noise = noise or Noise(seed, 0.0)
        self.rng = random.Random(seed ^ 0x5EED)
        self.tree: RadixCache | None = None if cfg.disable_radix_cache else RadixCache()
        self.pool = cfg.max_total_num_tokens
        self.private_used = 0
        self.waiting: list[Req] = []
        self.running: list[Req] = []
        self.chunked: Req | None = None
        self.running_kv = 0
        self.init_ratio = min(INIT_NEW_TOKEN_RATIO * cfg.schedule_conservativeness, 1.0)
        self.min_ratio = min(self.init_ratio * MIN_NEW_TOKEN_RATIO_FACTOR, 1.0)
        self.ratio_decay = (self.init_ratio - self.min_ratio) / NEW_TOKEN_RATIO_DECAY_STEPS
        self.new_token_ratio = self.init_ratio
        self.decode_streak = 0
        self.stats = Stats()

    # -- memory ---------------------------------------------------------------------------
    def available(self) -> int:
        used = self.private_used + (self.tree.total_size if self.tree is not None else 0)
        return self.pool - used

    def evictable(self) -> int:
        return self.tree.evictable_size if self.tree is not None else 0

    def used_tokens(self) -> int:
        return self.pool - self.available() - self.evictable()

    def _alloc(self, n: int) -> None:
        short = n - self.available()
        if short > 0 and self.tree is not None:
            # Evict a little more than needed: one LRU scan then serves many steps (SGLang
            # evicts exactly, but scanning the tree every decode step is too slow in Python).
            self.tree.evict(max(short, self.pool // EVICT_BATCH_DIVISOR))
        self.private_used += n

    def _cache_unfinished(self, req: Req, now: float) -> None:
        """After a prefill pass: move the filled tokens into the radix tree and lock them."""
        if self.tree is None:
            return
        _, node = self.tree.insert(req.fill[: req.prefix_len], now)
        # The pass allocated ``private`` tokens; the tree now holds them (or already held them,
        # in which case the duplicates are freed), so they stop counting as private.
        self.private_used -= req.private
        req.private = 0
        self.tree.inc_lock_ref(node)
        if req.last_node is not None:
            self.tree.dec_lock_ref(req.last_node)
        req.last_node = node

    def _release(self, req: Req, now: float, finished: bool) -> None:
        """Free a request's KV: into the cache when it finished, dropped when retracted."""
        self.private_used -= req.private
        req.private = 0
        if self.tree is not None and req.last_node is not None:
            if finished:
                self.tree.insert(req.prompt + req.output[: max(req.out - 1, 0)], now)
            self.tree.dec_lock_ref(req.last_node)
            req.last_node = None

    # -- API ------------------------------------------------------------------------------
    def add(self, req: Req) -> None:
        self.waiting.append(req)
        self.stats.requests += 1

    def has_work(self) -> bool:
        return bool(self.waiting or self.running or self.chunked is not None)

    def abort(self, req: Req, now: float) -> None:
        if req in self.waiting:
            self.waiting.remove(req)
            return
        if req in self.running:
            self.running.remove(req)
            self.running_kv -= req.kv_len
        elif req is self.chunked:
            self.chunked = None
        else:
            return
        self._release(req, now, finished=False)

    def flush_cache(self) -> bool:
        if self.has_work():
            return False
        if self.tree is not None:
            self.tree.reset()
        return True

    def step(self, now: float) -> StepResult | None:
        """Run one forward pass starting at ``now``; ``None`` when there is nothing to run."""
        n = self.cfg.num_continuous_decode_steps
        if not self.running or self.decode_streak % n == 0 or self.chunked is not None:
            batch = self._new_prefill_batch(now)
            if batch is not None:
                return self._run_prefill(batch, now)
        if self.running:
            return self._run_decode(now)
        self.new_token_ratio = self.init_ratio
        return None

    # -- prefill --------------------------------------------------------------------------
    def _new_prefill_batch(self, now: float) -> PrefillAdder | None:
        if not self.waiting and self.chunked is None:
            return None
        cfg = self.cfg
        running_bs = len(self.running)
        if running_bs >= cfg.max_running_requests and self.chunked is None:
            return None
        mixed = running_bs if (cfg.enable_mixed_chunk and self.running) else 0
        order_waiting(self.waiting, cfg.schedule_policy, self.tree, now, self.rng)
        matched = active_policy(cfg.schedule_policy, self.tree is not None,
                                len(self.waiting)) in ("lpm", "dfs-weight")
        adder = PrefillAdder(
            self.running, self.new_token_ratio, cfg.max_prefill_tokens,
            cfg.chunked_prefill_size if cfg.chunked_prefill_size > 0 else None,
            cfg.page_size, self.available, self.evictable, mixed)
        if self.chunked is not None:
            self.chunked = adder.add_chunked(self.chunked)
        for req in self.waiting:
            if running_bs + len(adder.can_run) >= cfg.max_running_requests:
                break
            if self.tree is not None:
                if not matched:
                    req.prefix_len, req.last_node = self.tree.match_prefix(
                        req.fill[:-1], now)
                self.tree.inc_lock_ref(req.last_node)  # type: ignore[arg-type]
            else:
                req.prefix_len = 0
            res = adder.add_one(req, self.tree is not None)
            if self.tree is not None and req not in adder.can_run:
                self.tree.dec_lock_ref(req.last_node)  # type: ignore[arg-type]
                req.last_node = None
            if res is not AddResult.CONTINUE:
                break
        if adder.new_chunked is not None:
            self.chunked = adder.new_chunked
        if not adder.can_run or not any(r.extend_len > 0 for r in adder.can_run):
            return None
        admitted = {id(r) for r in adder.can_run}
        self.waiting = [r for r in self.waiting if id(r) not in admitted]
        return adder

    def _run_prefill(self, adder: PrefillAdder, now: float) -> StepResult:
        cfg = self.cfg
        tokens = 0
        attn = 0.0
        new_seqs = 0
        for req in adder.can_run:
            ext = req.extend_len
            if req.cached_tokens < 0:
                req.cached_tokens = req.prefix_len
                req.admit_time = now
                self.stats.prompt_tokens += len(req.prompt)
                self.stats.cached_tokens += req.prefix_len
                new_seqs += 1
            self._alloc(ext)
            req.private += ext
            attn += ext * (req.prefix_len + (ext + 1) / 2)
            tokens += ext
            req.prefix_len += ext
        mixed_bs = len(self.running) if (cfg.enable_mixed_chunk and self.running) else 0
        mixed_kv = self.running_kv if mixed_bs else 0
        dur = self.cost.prefill(tokens, attn, new_seqs, mixed_bs, mixed_kv)
        dur *= self.noise.factor(now) * self.cfg.slowdown
        end = now + dur
        emitted: list[Req] = []
        finished: list[Req] = []
        for req in adder.can_run:
            self._cache_unfinished(req, now)
            if req is self.chunked:
                continue
            req.out += 1
            emitted.append(req)
            if req.first_token_time < 0:
                req.first_token_time = end
            if req.done:
                finished.append(req)
                self._finish(req, end)
            else:
                self.running.append(req)
                self.running_kv += req.kv_len
        if mixed_bs:
            self._decode_tokens(self.running[:mixed_bs], end, emitted, finished)
        self.stats.prefill_steps += 1
        self.stats.admitted_tokens += tokens
        self.stats.busy_time += dur
        return StepResult("mixed" if mixed_bs else "prefill", now, end, emitted, finished,
                          len(adder.can_run) + mixed_bs, tokens, adder.hit_tokens, new_seqs)

    # -- decode ---------------------------------------------------------------------------
    def _decode_tokens(self, batch: list[Req], end: float, emitted: list[Req],
                       finished: list[Req], accept: float = 1.0) -> None:
        done: list[Req] = []
        total = 0
        for req in batch:
            n = 1
            if accept > 1.0:  # speculative: whole accepted tokens, the remainder carried over
                req.spec_credit += accept
                n = max(1, min(int(req.spec_credit), req.stop_at - req.out))
                req.spec_credit -= n
            req.private += n
            req.out += n
            total += n
            emitted.append(req)
            if req.out >= req.stop_at:
                done.append(req)
        self._alloc(total)
        self.running_kv += total
        self.stats.generation_tokens += total
        for req in done:
            self.running.remove(req)
            self.running_kv -= req.kv_len
            finished.append(req)
            self._finish(req, end)

    def _run_decode(self, now: float) -> StepResult:
        retracted = self._check_decode_mem(now)
        if not self.running:
            return StepResult("decode", now, now, [], [], 0, retracted=retracted)
        bs = len(self.running)
        graph = self.cost.uses_graph(bs)
        kv = self.running_kv + bs
        spec = self.cfg.spec_accept > 1.0
        dur = (self.cost.speculative(bs, kv) if spec else self.cost.decode(bs, kv))
        dur *= self.noise.factor(now) * self.cfg.slowdown
        end = now + dur
        emitted: list[Req] = []
        finished: list[Req] = []
        self._decode_tokens(list(self.running), end, emitted, finished, self.cfg.spec_accept)
        self.decode_streak += 1
        self.stats.decode_steps += 1
        self.stats.busy_time += dur
        return StepResult("decode", now, end, emitted, finished, bs, graph=graph,
                          retracted=retracted)

    def _check_decode_mem(self, now: float) -> int:
        bs = len(self.running) * max(1, round(self.cfg.spec_accept + 0.5))
        if self.available() + self.evictable() >= bs:
            self.new_token_ratio = max(self.new_token_ratio - self.ratio_decay, self.min_ratio)
            return 0
        # "KV cache pool is full. Retract requests."
        order = sorted(self.running, key=lambda r: (r.out, -len(r.prompt)), reverse=True)
        retracted: list[Req] = []
        while len(order) > 1 and (not retracted or self.available() + self.evictable()
                                  < len(order) * RETRACT_DECODE_STEPS):
            req = order.pop()
            self.running.remove(req)
            self.running_kv -= req.kv_len
            self._release(req, now, finished=False)
            req.prefix_len = 0
            req.retractions += 1
            retracted.append(req)
        decoded = sum(r.out for r in self.running)
        max_new = sum(r.max_new for r in self.running) or 1
        old = self.new_token_ratio
        self.new_token_ratio = min(1.0, (decoded + RETRACT_DECODE_STEPS * len(self.running))
                                   / max_new)
        self.waiting.extend(retracted)
        self.stats.retracted += len(retracted)
        self.stats.events.append(
            f"KV cache pool is full. Retract requests. #retracted_reqs: {len(retracted)}, "
            f"#new_token_ratio: {old:.4f} -> {self.new_token_ratio:.4f}")
        return len(retracted)

    def _finish(self, req: Req, end: float) -> None:
        req.finish_time = end
        self.stats.finished += 1
        self._release(req, end, finished=True)
