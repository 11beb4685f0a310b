"""Build the small offline tokenizer shipped in ``pytest_autotune/data/tokenizer``.

The simulator counts tokens without any third-party library (it must run inside a minimal
python3 image), so the shipped tokenizer is byte-level: one token per UTF-8 byte, no merges.
``len(text.encode())`` in the simulator then equals the token count genai-bench computes with
this tokenizer, and the chat template below is rendered identically on both sides.

Run it with the project's virtual environment (it needs ``tokenizers`` and ``transformers``):

    .venv/bin/python scripts/build_tokenizer.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

#: Kept in sync with ``pytest_autotune.sim.tokens.CHAT_TEMPLATE`` (a unit test checks it).
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def build(out: Path) -> None:
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    specials = ["<unk>", "<s>", "</s>"]
    for special in specials:
        vocab[special] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>"
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.model_max_length = 131072
    out.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(out))


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else (
        Path(__file__).resolve().parent.parent / "pytest_autotune" / "data" / "tokenizer"
    )
    build(target)
    print(f"wrote {target}")
