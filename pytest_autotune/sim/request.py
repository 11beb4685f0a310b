"""One generation request as the scheduler sees it."""

from __future__ import annotations

from typing import Any

from .radix import Node

__all__ = ["CLIP_MAX_NEW_TOKENS", "Req"]

CLIP_MAX_NEW_TOKENS = 4096  # SGLANG_CLIP_MAX_NEW_TOKENS_ESTIMATION


class Req:
    """Prompt and output are token sequences, one character per token (``tokens.py``); times are
    virtual seconds."""

    __slots__ = (
        "admit_time", "arrival", "cached_tokens", "dp_rank", "extend_len", "finish_time",
        "first_token_time", "ignore_eos", "last_node", "max_new", "out", "output", "prefix_len",
        "priority", "private", "prompt", "retractions", "rid", "sink", "spec_credit", "stop_at",
        "token_times",
    )

    def __init__(self, rid: int, prompt: str, max_new: int, stop_at: int, output: str,
                 arrival: float, ignore_eos: bool = True, priority: int = 0) -> None:
        self.rid = rid
        self.prompt = prompt
        self.max_new = max(1, max_new)
        self.stop_at = max(1, min(stop_at, self.max_new))
        self.output = output  # the tokens this request will generate (len >= stop_at)
        self.arrival = arrival
        self.ignore_eos = ignore_eos
        self.priority = priority
        self.out = 0  # output tokens generated so far
        self.prefix_len = 0  # tokens of the current fill already in the KV cache
        self.extend_len = 0  # tokens this request prefills in the current pass
        self.cached_tokens = -1  # prefix-cache hit at first admission (-1 = not admitted yet)
        self.last_node: Node | None = None
        self.private = 0  # KV tokens held outside the radix tree
        self.retractions = 0
        self.spec_credit = 0.0
        self.admit_time = -1.0
        self.first_token_time = -1.0
        self.finish_time = -1.0
        self.dp_rank = 0
        self.token_times: list[float] | None = None
        self.sink: Any = None  # the engine's delivery object

    @property
    def fill(self) -> str:
        """Tokens whose KV must be present before the next token: prompt plus outputs so far."""
        return self.prompt + self.output[: self.out] if self.out else self.prompt

    @property
    def fill_len(self) -> int:
        return len(self.prompt) + self.out

    @property
    def kv_len(self) -> int:
        """KV tokens held while decoding (the newest token's KV is written by the next step)."""
        return len(self.prompt) + max(self.out - 1, 0)

    @property
    def remaining(self) -> int:
        return self.max_new - self.out

    @property
    def done(self) -> bool:
        return self.out >= self.stop_at
