"""Waiting-queue ordering and prefill admission: SGLang's ``SchedulePolicy`` and ``PrefillAdder``.

Admission is by token budget. A request is admitted when its prompt (minus the cached prefix)
plus ``min(max_new_tokens, 4096)`` fits in ``available + evictable − Σ_running(remaining new
tokens, clipped at 4096) × new_token_ratio``; the extend tokens of one pass are capped by
``--max-prefill-tokens`` and ``--chunked-prefill-size`` (the last admitted request is cut into a
chunk). With ``ignore_eos`` and the radix cache disabled, SGLang uses an exact simulation of the
future memory of the running batch instead (``add_one_req_ignore_eos``), reproduced here.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from enum import Enum

from .radix import Node, RadixCache
from .request import CLIP_MAX_NEW_TOKENS, Req

__all__ = ["AddResult", "PrefillAdder", "order_waiting"]

LPM_FALLBACK_QUEUE_LEN = 128
IN_BATCH_PREFIX_THRESHOLD = 32
IGNORE_EOS_RESERVE_TOKENS = 1


class AddResult(Enum):
    CONTINUE = 1
    NO_TOKEN = 2
    OTHER = 3


def active_policy(policy: str, radix_enabled: bool, queue_len: int) -> str:
    if policy in ("lpm", "dfs-weight") and not radix_enabled:
        return "fcfs"
    if policy == "lpm" and queue_len > LPM_FALLBACK_QUEUE_LEN:
        return "fcfs"
    return policy


def order_waiting(waiting: list[Req], policy: str, tree: RadixCache | None, now: float,
                  rng: random.Random) -> None:
    """Sort ``waiting`` in place like ``SchedulePolicy.calc_priority``."""
    active = active_policy(policy, tree is not None, len(waiting))
    if active == "fcfs":
        return
    if active == "priority":
        waiting.sort(key=lambda r: (r.priority, r.arrival))
    elif active == "lof":
        waiting.sort(key=lambda r: -r.max_new)
    elif active == "random":
        rng.shuffle(waiting)
    elif tree is not None:
        nodes: list[Node] = []
        for r in waiting:
            r.prefix_len, node = tree.match_prefix(r.fill[:-1], now)
            r.last_node = node
            nodes.append(node)
        if active == "lpm":
            # In-batch prefix caching: of several waiting requests sharing a prefix that is
            # not cached yet, schedule one first so the others hit the cache afterwards.
            scratch = RadixCache()
            deprioritized: set[int] = set()
            for r in waiting:
                if r.prefix_len <= IN_BATCH_PREFIX_THRESHOLD:
                    hit, _ = scratch.match_prefix(r.fill)
                    if hit >= IN_BATCH_PREFIX_THRESHOLD:
                        deprioritized.add(r.rid)
                    else:
                        scratch.insert(r.fill)
            waiting.sort(key=lambda r: float("inf") if r.rid in deprioritized
                         else -r.prefix_len)
        else:
            order = tree.dfs_weight_order(nodes)
            waiting[:] = [waiting[i] for i in order]


class PrefillAdder:
    """Builds one prefill batch; memory is read through the callables of the scheduler."""

    def __init__(self, running: list[Req], new_token_ratio: float, rem_input: int,
                 rem_chunk: int | None, page_size: int, available: Callable[[], int],
                 evictable: Callable[[], int], mixed_decode_tokens: int = 0) -> None:
        self.running = running
        self.ratio = new_token_ratio
        self.rem_input = rem_input - mixed_decode_tokens
        self.rem_chunk = None if rem_chunk is None else rem_chunk - mixed_decode_tokens
        self.page = page_size
        self.available = available
        self.evictable = evictable
        self.total_offset = mixed_decode_tokens + sum(
            min(r.max_new - r.out, CLIP_MAX_NEW_TOKENS) * new_token_ratio for r in running)
        self.cur_offset = mixed_decode_tokens
        self.can_run: list[Req] = []
        self.new_chunked: Req | None = None
        self.hit_tokens = 0
        self.input_tokens = 0
        self._states: list[tuple[float, int]] | None = None

    def _paged(self, n: int) -> int:
        return -(-n // self.page) * self.page

    @property
    def rem_total(self) -> float:
        return self.available() + self.evictable() - self.total_offset

    @property
    def cur_rem(self) -> float:
        return self.available() + self.evictable() - self.cur_offset

    def budget_state(self) -> AddResult:
        if self.rem_total <= 0 or self.cur_rem <= 0:
            return AddResult.NO_TOKEN
        if self.rem_input <= 0 or (self.rem_chunk is not None and self.rem_chunk <= 0):
            return AddResult.OTHER
        return AddResult.CONTINUE

    def _update(self, prefix: int, extend: int, max_new: int) -> None:
        extend = self._paged(extend)
        self.total_offset += extend + max_new
        self.cur_offset += extend
        self.rem_input -= extend
        if self.rem_chunk is not None:
            self.rem_chunk -= extend
        self.hit_tokens += prefix
        self.input_tokens += extend

    def add_chunked(self, req: Req) -> Req | None:
        """Continue the request being prefilled in chunks; returns it if still unfinished."""
        extend = req.fill_len - req.prefix_len
        limit = self.rem_chunk if self.rem_chunk is not None else extend
        truncated = extend > limit
        req.extend_len = max(min(extend, limit), 0)
        self.can_run.append(req)
        self._update(0, req.extend_len,
                     0 if truncated else min(req.max_new - req.out, CLIP_MAX_NEW_TOKENS))
        return req if truncated else None

    def add_one(self, req: Req, radix_enabled: bool) -> AddResult:
        extend = req.fill_len - req.prefix_len
        if req.ignore_eos and not radix_enabled:
            return self._add_ignore_eos(req, extend)
        total = extend + min(req.max_new - req.out, CLIP_MAX_NEW_TOKENS)
        paged = self._paged(extend)
        if total >= self.rem_total:
            return AddResult.NO_TOKEN
        if paged > self.rem_input and self.can_run:
            return AddResult.OTHER
        if self.rem_chunk is None or paged <= self.rem_chunk:
            req.extend_len = extend
            self.can_run.append(req)
            self._update(req.prefix_len, extend, min(req.max_new - req.out, CLIP_MAX_NEW_TOKENS))
        else:
            trunc = self.rem_chunk - self.page + 1
            trunc = trunc // self.page * self.page if self.page > 1 else trunc
            if trunc <= 0:
                return AddResult.OTHER
            req.extend_len = trunc
            self.can_run.append(req)
            self.new_chunked = req
            self._update(req.prefix_len, trunc, 0)
        return self.budget_state()

    def _state(self, r: Req) -> tuple[float, int] | None:
        ratio = 1.0 if r.ignore_eos else self.ratio
        left = r.max_new * ratio - r.out
        return (left, r.fill_len) if left > 0 else None

    def _add_ignore_eos(self, req: Req, extend: int) -> AddResult:
        if self._paged(extend) > min(self.cur_rem, self.rem_total):
            return AddResult.NO_TOKEN
        if self._states is None:
            self._states = [s for r in (req, *self.running, *self.can_run)
                            if (s := self._state(r)) is not None]
            self._states.sort(key=lambda s: s[0])
        else:
            s = self._state(req)
            if s is not None:
                i = 0
                while i < len(self._states) and self._states[i][0] < s[0]:
                    i += 1
                self._states.insert(i, s)
        cur_rem = self.cur_rem - req.fill_len
        freed = 0
        n = len(self._states)
        for i, (left, occupied) in enumerate(self._states):
            bs = n - i
            if cur_rem + freed - left * bs <= IGNORE_EOS_RESERVE_TOKENS * bs:
                return AddResult.NO_TOKEN
            freed += occupied
        if self.rem_chunk is None or extend <= self.rem_chunk:
            req.extend_len = extend
            self.can_run.append(req)
            self._update(0, extend, min(req.max_new - req.out, CLIP_MAX_NEW_TOKENS))
        else:
            if self.rem_chunk <= 0:
                return AddResult.OTHER
            req.extend_len = self.rem_chunk
            self.can_run.append(req)
            self.new_chunked = req
            self._update(0, self.rem_chunk, 0)
        return self.budget_state()
