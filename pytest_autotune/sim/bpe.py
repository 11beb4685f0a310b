"""Byte-level BPE in the standard library: the token counts of Llama-3 and Qwen-2/2.5/3.

Both families are tiktoken-style byte-level BPE: a regular expression splits text into pieces,
and each piece's UTF-8 bytes are merged pairwise, lowest rank first, into vocabulary entries. The
vocabularies ship gzipped in ``vocab/`` (sources, hashes and licences in ``vocab/README.md``):

- ``qwen.tiktoken``: Qwen's 151,643 regular tokens, the vocabulary of Qwen-2, 2.5 and 3;
- ``cl100k_base.tiktoken``: the first 100,256 of Llama-3's 128,000 regular tokens (identical rank
  for rank). Llama-3's other 27,744 tokens are not shipped (no redistributable copy); they are
  mostly non-Latin scripts, so English text encodes as on the real model.

A token is carried through the simulator as one character, ``chr(token id)``, so that a token
sequence is a ``str``: slicing, comparison and hashing run at C speed in the prefix cache.
"""

from __future__ import annotations

import base64
import functools
import gzip
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path

__all__ = ["VOCAB_DIR", "BytePairEncoder", "load_ranks", "unicode_classes"]

VOCAB_DIR = Path(__file__).resolve().parent / "vocab"

#: Unicode White_Space (what the Rust tokenizers' ``\s`` matches; Python's ``\s`` adds U+1C-1F)
_SPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


@functools.cache
def unicode_classes() -> tuple[str, str]:
    """Character-class bodies for ``\\p{L}`` and ``\\p{N}`` (``re`` has no Unicode properties)."""
    letters: list[tuple[int, int]] = []
    numbers: list[tuple[int, int]] = []
    category = unicodedata.category
    for cp in range(0x110000):
        major = category(chr(cp))[0]
        target = letters if major == "L" else numbers if major == "N" else None
        if target is None:
            continue
        if target and target[-1][1] == cp - 1:
            target[-1] = (target[-1][0], cp)
        else:
            target.append((cp, cp))

    def body(ranges: Iterable[tuple[int, int]]) -> str:
        return "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
                       for a, b in ranges)

    return body(letters), body(numbers)


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a tokenizer's split pattern written with ``\\p{L}``, ``\\p{N}``, ``\\s`` and ``\\S``
    (in the Rust/Oniguruma dialect) for Python's ``re``."""
    letters, numbers = unicode_classes()
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        two = pattern[i:i + 2]
        if two in ("\\s", "\\S") or pattern.startswith(("\\p{L}", "\\p{N}"), i):
            body = {"\\s": _SPACE, "\\S": _SPACE}.get(two) or (
                letters if pattern[i + 3] == "L" else numbers)
            negate = two == "\\S"
            if in_class:
                if negate:
                    raise ValueError("\\S inside a character class is not supported")
                out.append(body)
            else:
                out.append(f"[{'^' if negate else ''}{body}]")
            i += 2 if two in ("\\s", "\\S") else 5
            continue
        if pattern[i] == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if pattern[i] == "[" and not in_class:
            in_class = True
        elif pattern[i] == "]" and in_class:
            in_class = False
        out.append(pattern[i])
        i += 1
    return re.compile("".join(out))


@functools.cache
def load_ranks(name: str) -> dict[bytes, int]:
    """A shipped vocabulary (``vocab/<name>.tiktoken.gz``): token bytes → rank (= token id)."""
    ranks: dict[bytes, int] = {}
    with gzip.open(VOCAB_DIR / f"{name}.tiktoken.gz", "rb") as fh:
        for line in fh:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


class BytePairEncoder:
    """Encode text to token ids as tiktoken does: split by ``pattern``, take a piece whole when it
    is in the vocabulary, else merge its bytes lowest rank first. Special tokens are matched
    before splitting, as SGLang's (Hugging Face) tokenizer matches added tokens."""

    _CACHE_LIMIT = 200_000

    def __init__(self, ranks: dict[bytes, int], pattern: str, specials: dict[str, int]) -> None:
        self.ranks = ranks
        self.specials = specials
        self.pieces = compile_pattern(pattern)
        self.special_re = re.compile("|".join(
            re.escape(s) for s in sorted(specials, key=len, reverse=True))) if specials else None
        self.decoder: dict[int, bytes] = {rank: token for token, rank in ranks.items()}
        for text, rank in specials.items():
            self.decoder[rank] = text.encode("utf-8")
        self._cache: dict[str, str] = {}

    def encode(self, text: str) -> str:
        """Token ids as a string, one character per token."""
        if self.special_re is None:
            return self._ordinary(text)
        out: list[str] = []
        pos = 0
        for m in self.special_re.finditer(text):
            out.append(self._ordinary(text[pos:m.start()]))
            out.append(chr(self.specials[m.group()]))
            pos = m.end()
        out.append(self._ordinary(text[pos:]))
        return "".join(out)

    def decode(self, tokens: str) -> bytes:
        decoder = self.decoder
        return b"".join(decoder[ord(t)] for t in tokens)

    def _ordinary(self, text: str) -> str:
        cache = self._cache
        out: list[str] = []
        for piece in self.pieces.findall(text):
            tokens = cache.get(piece)
            if tokens is None:
                tokens = self._merge(piece.encode("utf-8"))
                if len(cache) < self._CACHE_LIMIT:
                    cache[piece] = tokens
            out.append(tokens)
        return "".join(out)

    def _merge(self, piece: bytes) -> str:
        ranks = self.ranks
        rank = ranks.get(piece)
        if rank is not None:
            return chr(rank)
        parts = [piece[i:i + 1] for i in range(len(piece))]
        while len(parts) > 1:
            best, at = -1, -1
            for i in range(len(parts) - 1):
                r = ranks.get(parts[i] + parts[i + 1])
                if r is not None and (best < 0 or r < best):
                    best, at = r, i
            if at < 0:
                break
            parts[at:at + 2] = [parts[at] + parts[at + 1]]
        return "".join(chr(ranks[p]) for p in parts)
