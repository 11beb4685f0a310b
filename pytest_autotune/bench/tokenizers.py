"""genai-bench's tokenizer for a simulated server: the simulator's own, as a Hugging Face directory.

The simulator counts tokens with the served model's vocabulary (``sim/tokens.py``). genai-bench
cuts its prompts with a Hugging Face tokenizer, so the same vocabulary, split pattern, special
tokens and chat template are written once per machine as ``tokenizer.json`` and
``tokenizer_config.json`` under ``~/.cache/pytest-autotune/tokenizers/`` (``$XDG_CACHE_HOME``
is honoured). The merges are derived from the vocabulary's ranks: every pair of tokens that
concatenates into a token, ordered by that token's rank, which makes the Hugging Face BPE pick
the same merge as the simulator's rank-ordered one.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..sim.bpe import load_ranks
from ..sim.tokens import FAMILIES, Family

__all__ = ["BUILTIN_TOKENIZER", "cache_root", "directory"]

BUILTIN_TOKENIZER = Path(__file__).resolve().parents[1] / "data" / "tokenizer"
#: bump when what is written changes, so that stale cached directories are not used
FORMAT = 2


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(base).expanduser() / "pytest-autotune" / "tokenizers"


def directory(name: str | None) -> Path:
    """The tokenizer directory for a simulator tokenizer name (``llama-3.1``, ``qwen3``, …);
    the shipped byte-level one for ``byte-level``, an unknown name or None."""
    family = FAMILIES.get(name or "")
    if family is None:
        return BUILTIN_TOKENIZER
    target = cache_root() / f"{family.name}-v{FORMAT}"
    if not (target / "tokenizer.json").is_file():
        _write(family, target)
    return target


def _write(family: Family, target: Path) -> None:
    """Write atomically: a concurrent writer (another xdist worker) may win the rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        (tmp / "tokenizer.json").write_text(
            json.dumps(tokenizer_json(family), ensure_ascii=False), encoding="utf-8")
        (tmp / "tokenizer_config.json").write_text(
            json.dumps(tokenizer_config(family), indent=2, ensure_ascii=False), encoding="utf-8")
        try:
            tmp.rename(target)
        except OSError:
            if not (target / "tokenizer.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@functools.cache
def _byte_chars() -> tuple[str, ...]:
    """GPT-2's printable stand-in for each byte, as byte-level BPE vocabularies write tokens."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    chars = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in chars:
            chars[b] = chr(256 + extra)
            extra += 1
    return tuple(chars[b] for b in range(256))


def _visible(token: bytes) -> str:
    table = _byte_chars()
    return "".join(table[b] for b in token)


def merges(ranks: Mapping[bytes, int]) -> list[str]:
    """Every split of a token into two tokens, ordered by the merged token's rank."""
    found: list[tuple[int, int, str]] = []
    for token, rank in ranks.items():
        for i in range(1, len(token)):
            left, right = ranks.get(token[:i]), ranks.get(token[i:])
            if left is not None and right is not None:
                found.append((rank, max(left, right),
                              f"{_visible(token[:i])} {_visible(token[i:])}"))
    found.sort()
    return [pair for _, _, pair in found]


def tokenizer_json(family: Family) -> dict[str, Any]:
    ranks = load_ranks(family.vocab)
    added = [{"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for s, i in family.specials.items()]
    post: dict[str, Any] | None = None
    if family.bos:
        bos_id = family.specials[family.bos]
        post = {"type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": family.bos, "type_id": 0}},
                           {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [{"SpecialToken": {"id": family.bos, "type_id": 0}},
                         {"Sequence": {"id": "A", "type_id": 0}},
                         {"SpecialToken": {"id": family.bos, "type_id": 1}},
                         {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {family.bos: {"id": family.bos, "ids": [bos_id],
                                                "tokens": [family.bos]}}}
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": family.split}, "behavior": "Isolated",
             "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
             "use_regex": False}]},
        "post_processor": post,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False, "ignore_merges": True,
                  # the special tokens too: added tokens absent from the vocabulary would be
                  # numbered after it, and Llama-3's 128000+ ids leave a gap after 100,256
                  "vocab": {**{_visible(t): r for t, r in ranks.items()}, **family.specials},
                  "merges": merges(ranks)},
    }


def tokenizer_config(family: Family) -> dict[str, Any]:
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": family.bos, "eos_token": family.eos, "pad_token": family.eos,
        "model_max_length": 131072, "clean_up_tokenization_spaces": False,
        "chat_template": family.jinja,
        "pytest_autotune_tokenizer": family.name,  # the simulator's tokenizer, written for it
    }
