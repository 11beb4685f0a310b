"""Tokens as the served model counts them: its vocabulary, its chat template, its output.

:func:`for_model` picks the tokenizer of the model family named by the model path:

- **Llama-3** (3, 3.1, 3.2, 3.3): Llama-3's byte-level BPE (see :mod:`.bpe` for what ships) and
  its chat template; 3.1 and later open with the system header carrying the knowledge and today
  dates, as their template does.
- **Qwen-2, 2.5 and 3**: Qwen's vocabulary, whole, and ChatML with each release's default system
  prompt (2: "You are a helpful assistant.", 2.5: "You are Qwen, created by Alibaba Cloud. …",
  3: none).
- **Anything else**: the byte-level fallback, one token per UTF-8 byte, with the small template
  of the tokenizer in ``pytest_autotune/data/tokenizer``. Prompts of real text then cost several
  times more tokens than on the real model; reports say so.

The plugin writes the same tokenizer as a Hugging Face directory for genai-bench
(``pytest_autotune.bench.tokenizers``), so that ``D(100,100)`` means 100 tokens of the served
model on both sides. Generated text is a run of common English words that are each one token, so it
encodes back to exactly the tokens that were counted and can be cached again as a prefix.
"""

from __future__ import annotations

import functools
import math
import random
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .bpe import BytePairEncoder, load_ranks

__all__ = [
    "BYTE_TEMPLATE",
    "FAMILIES",
    "Family",
    "Tokenizer",
    "eos_length",
    "family_of",
    "for_model",
    "tokenizer_note",
]

#: The byte-level tokenizer's template (``pytest_autotune/data/tokenizer/chat_template.jinja``).
BYTE_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

_WORDS = (
    "the quick brown fox jumps over a lazy dog while simulated servers stream tokens to "
    "patient clients and every benchmark measures time to first token with care so that "
    "tuning finds the flags that serve the load best under each objective "
)

Messages = Iterable[Mapping[str, Any]]


def content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if content is None:
        return ""
    if isinstance(content, list):  # OpenAI content parts: SGLang joins the text parts
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return str(content)


# -- chat templates (each mirrors the jinja template written for genai-bench) ---------------
def _byte_chat(messages: Messages, add_generation_prompt: bool) -> str:
    parts = [f"<|{m.get('role', '')}|>\n{content_text(m.get('content'))}\n" for m in messages]
    if add_generation_prompt:
        parts.append("<|assistant|>\n")
    return "".join(parts)


def _llama3_chat(dated: bool) -> Callable[[Messages, bool], str]:
    def render(messages: Messages, add_generation_prompt: bool) -> str:
        msgs = list(messages)
        out = ["<|begin_of_text|>"]
        if dated:  # 3.1+: the system turn is always there, with the dates before its text
            system = ""
            if msgs and msgs[0].get("role") == "system":
                system = content_text(msgs.pop(0).get("content")).strip()
            out.append("<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: "
                       f"December 2023\nToday Date: 26 Jul 2024\n\n{system}<|eot_id|>")
        for m in msgs:
            out.append(f"<|start_header_id|>{m.get('role', '')}<|end_header_id|>\n\n"
                       f"{content_text(m.get('content')).strip()}<|eot_id|>")
        if add_generation_prompt:
            out.append("<|start_header_id|>assistant<|end_header_id|>\n\n")
        return "".join(out)
    return render


def _chatml(default_system: str | None) -> Callable[[Messages, bool], str]:
    def render(messages: Messages, add_generation_prompt: bool) -> str:
        msgs = list(messages)
        out = []
        if default_system is not None and (not msgs or msgs[0].get("role") != "system"):
            out.append(f"<|im_start|>system\n{default_system}<|im_end|>\n")
        for m in msgs:
            out.append(f"<|im_start|>{m.get('role', '')}\n{content_text(m.get('content'))}"
                       "<|im_end|>\n")
        if add_generation_prompt:
            out.append("<|im_start|>assistant\n")
        return "".join(out)
    return render


def _jinja_llama3(dated: bool) -> str:
    head = "{{- '<|begin_of_text|>' }}"
    if dated:
        head += (
            "{%- if messages and messages[0]['role'] == 'system' %}"
            "{%- set system = messages[0]['content'] | trim %}{%- set messages = messages[1:] %}"
            "{%- else %}{%- set system = '' %}{%- endif %}"
            "{{- '<|start_header_id|>system<|end_header_id|>\\n\\nCutting Knowledge Date: "
            "December 2023\\nToday Date: 26 Jul 2024\\n\\n' + system + '<|eot_id|>' }}")
    return head + (
        "{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] + "
        "'<|end_header_id|>\\n\\n' + (message['content'] | trim) + '<|eot_id|>' }}{%- endfor %}"
        "{%- if add_generation_prompt %}"
        "{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}")


def _jinja_chatml(default_system: str | None) -> str:
    head = ""
    if default_system is not None:
        head = ("{%- if not messages or messages[0]['role'] != 'system' %}"
                f"{{{{- '<|im_start|>system\\n{default_system}<|im_end|>\\n' }}}}{{%- endif %}}")
    return head + (
        "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + "
        "message['content'] + '<|im_end|>\\n' }}{%- endfor %}"
        "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}")


# -- families ---------------------------------------------------------------------------
_LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                 r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
_QWEN_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
               r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def _llama3_specials() -> dict[str, int]:
    names = {0: "begin_of_text", 1: "end_of_text", 6: "start_header_id", 7: "end_header_id",
             8: "eom_id", 9: "eot_id", 10: "python_tag", 4: "finetune_right_pad_id"}
    reserved = iter(range(256))
    out = {}
    for i in range(256):
        name = names.get(i) or f"reserved_special_token_{next(reserved)}"
        out[f"<|{name}|>"] = 128000 + i
    return out


_QWEN_SPECIALS = {
    s: 151643 + i for i, s in enumerate((
        "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>",
        "<|object_ref_end|>", "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>",
        "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>",
        "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
        "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>", "<tool_response>", "</tool_response>",
        "<think>", "</think>"))
}
_QWEN25_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."


@dataclass(frozen=True)
class Family:
    """A model family's tokenizer: vocabulary, split pattern, specials and chat template."""

    name: str  # e.g. "llama-3.1", "qwen2.5"
    vocab: str  # a file in vocab/
    split: str  # the pre-tokenizer pattern, in the Rust tokenizers' dialect
    specials: Mapping[str, int]
    bos: str | None
    eos: str
    render: Callable[[Messages, bool], str]
    jinja: str
    note: str  # what the report says about the token counts


_LLAMA_NOTE = ("tokens counted with Llama-3's vocabulary (its first 100,256 tokens: exact for "
               "English, near for other scripts)")
_QWEN_NOTE = "tokens counted with Qwen's vocabulary (all 151,643 tokens: exact)"
FAMILIES: Mapping[str, Family] = {
    "llama-3": Family("llama-3", "cl100k_base", _LLAMA3_SPLIT, _llama3_specials(),
                      "<|begin_of_text|>", "<|eot_id|>", _llama3_chat(False),
                      _jinja_llama3(False), _LLAMA_NOTE),
    "llama-3.1": Family("llama-3.1", "cl100k_base", _LLAMA3_SPLIT, _llama3_specials(),
                        "<|begin_of_text|>", "<|eot_id|>", _llama3_chat(True),
                        _jinja_llama3(True), _LLAMA_NOTE),
    "qwen2": Family("qwen2", "qwen", _QWEN_SPLIT, _QWEN_SPECIALS, None, "<|im_end|>",
                    _chatml("You are a helpful assistant."),
                    _jinja_chatml("You are a helpful assistant."), _QWEN_NOTE),
    "qwen2.5": Family("qwen2.5", "qwen", _QWEN_SPLIT, _QWEN_SPECIALS, None, "<|im_end|>",
                      _chatml(_QWEN25_SYSTEM), _jinja_chatml(_QWEN25_SYSTEM), _QWEN_NOTE),
    "qwen3": Family("qwen3", "qwen", _QWEN_SPLIT, _QWEN_SPECIALS, None, "<|im_end|>",
                    _chatml(None), _jinja_chatml(None), _QWEN_NOTE),
}

_FAMILY_NAMES = (
    (re.compile(r"qwen[-_]?3(?![._]?\d)"), "qwen3"),  # not Qwen3.5: another vocabulary
    (re.compile(r"qwen[-_]?2[-_.]5|qwq"), "qwen2.5"),
    (re.compile(r"qwen[-_]?2(?![._]?\d)"), "qwen2"),
    (re.compile(r"llama[-_]?3[._][123](?!\d)"), "llama-3.1"),
    (re.compile(r"llama[-_]?3(?![._]?\d)"), "llama-3"),
)


def family_of(model: str | None) -> Family | None:
    """The family a model path or name belongs to (by name), or None when it is unknown."""
    if not model:
        return None
    name = model.rstrip("/").lower()
    for pattern, family in _FAMILY_NAMES:
        if pattern.search(name):
            return FAMILIES[family]
    return None


# -- tokenizers --------------------------------------------------------------------------
class Tokenizer:
    """The byte-level fallback: one token per UTF-8 byte; a token is ``chr(byte)``."""

    name = "byte-level"
    family: Family | None = None
    note = ("tokens counted by the byte-level fallback for a model of unknown family (one "
            "token per UTF-8 byte: English text costs about 4x the real model's tokens)")
    _period = _WORDS

    def encode(self, text: str) -> str:
        """Token ids, one character per token (the simulator's token sequences)."""
        return text.encode("utf-8").decode("latin-1")

    def decode(self, tokens: str) -> bytes:
        return tokens.encode("latin-1")

    def count(self, text: str) -> int:
        return len(self.encode(text))

    def render_chat(self, messages: Messages, add_generation_prompt: bool = True) -> str:
        return _byte_chat(messages, add_generation_prompt)

    def output(self, rid: int, n: int) -> str:
        """``n`` generated tokens for request ``rid``, deterministic; they decode to ASCII with no
        quote or backslash, so they go into JSON strings unescaped."""
        period = self._period
        start = (rid * 7919) % len(period)
        reps = (start + n) // len(period) + 1
        return (period * reps)[start:start + n]


class BpeTokenizer(Tokenizer):
    """A family's byte-level BPE (see :mod:`.bpe`)."""

    def __init__(self, family: Family) -> None:
        self.family = family
        self.name = family.name
        self.note = family.note
        self.bpe = BytePairEncoder(load_ranks(family.vocab), family.split, dict(family.specials))
        words = [w for w in dict.fromkeys(_WORDS.split())
                 if len(self.bpe.encode(" " + w)) == 1]
        self._period = "".join(self.bpe.encode(" " + w) for w in words)

    def encode(self, text: str) -> str:
        return self.bpe.encode(text)

    def decode(self, tokens: str) -> bytes:
        return self.bpe.decode(tokens)

    def render_chat(self, messages: Messages, add_generation_prompt: bool = True) -> str:
        assert self.family is not None
        return self.family.render(messages, add_generation_prompt)


@functools.cache
def _bpe_tokenizer(family: str) -> BpeTokenizer:
    return BpeTokenizer(FAMILIES[family])


def for_model(*names: str | None) -> Tokenizer:
    """The tokenizer of the first name whose family is known; the byte-level fallback if none."""
    for name in names:
        family = family_of(name)
        if family is not None:
            return _bpe_tokenizer(family.name)
    return Tokenizer()


def tokenizer_note(name: str) -> str:
    """What a report says of the counts of the tokenizer a simulator names."""
    family = FAMILIES.get(name)
    return family.note if family is not None else Tokenizer.note


def eos_length(seed: int, rid: int, max_new: int, mean: float = 320.0) -> int:
    """Where a request stops without ``ignore_eos``: a sampled EOS (geometric, given mean)."""
    rng = random.Random((seed << 32) ^ rid)
    u = rng.random()
    length = 1 + int(-math.log(1.0 - u) * mean)
    return max(1, min(max_new, length))
