"""Token counting and generated text, matching the byte-level tokenizer the plugin ships.

``pytest_autotune/data/tokenizer`` has one token per UTF-8 byte and the chat template in
``scripts/build_tokenizer.py``; the same template is applied here so that ``usage.prompt_tokens``
equals what genai-bench counts with that tokenizer. Generated text is ASCII, one character per
token, so ``usage.completion_tokens`` is exact and the text can go back into the prefix cache.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "CHAT_TEMPLATE",
    "count_tokens",
    "eos_length",
    "output_text",
    "render_chat",
]

#: Identical to ``CHAT_TEMPLATE`` in scripts/build_tokenizer.py (a unit test compares them).
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

_WORDS = (
    "the quick brown fox jumps over a lazy dog while simulated servers stream tokens to "
    "patient clients and every benchmark measures time to first token with care so that "
    "tuning finds the flags that serve the load best under each objective "
)
_TEXT = _WORDS.encode("ascii") * 8
_PERIOD = len(_WORDS)


def _content(content: Any) -> str:
    if isinstance(content, str):
        return content
    if content is None:
        return ""
    if isinstance(content, list):  # OpenAI content parts: SGLang joins the text parts
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return str(content)


def render_chat(messages: Iterable[Mapping[str, Any]], add_generation_prompt: bool = True) -> str:
    """Apply the shipped chat template: ``<|role|>\\ncontent\\n`` per message, then the prompt."""
    parts = [f"<|{m.get('role', '')}|>\n{_content(m.get('content'))}\n" for m in messages]
    if add_generation_prompt:
        parts.append("<|assistant|>\n")
    return "".join(parts)


def count_tokens(text: str) -> int:
    """Token count under the byte-level tokenizer."""
    return len(text.encode("utf-8"))


def output_text(rid: int, n: int) -> bytes:
    """``n`` generated tokens (ASCII bytes) for request ``rid``; deterministic."""
    start = (rid * 7919) % _PERIOD
    if n <= len(_TEXT) - start:
        return _TEXT[start:start + n]
    reps = (start + n) // len(_TEXT) + 1
    return (_TEXT * reps)[start:start + n]


def eos_length(seed: int, rid: int, max_new: int, mean: float = 320.0) -> int:
    """Where a request stops without ``ignore_eos``: a sampled EOS (geometric, given mean)."""
    rng = random.Random((seed << 32) ^ rid)
    u = rng.random()
    length = 1 + int(-math.log(1.0 - u) * mean)
    return max(1, min(max_new, length))
