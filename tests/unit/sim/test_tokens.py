from __future__ import annotations

import re
from pathlib import Path

import pytest

from pytest_autotune.sim.tokens import CHAT_TEMPLATE, count_tokens, output_text, render_chat

ROOT = Path(__file__).resolve().parents[3]


def test_template_matches_build_script() -> None:
    text = (ROOT / "scripts" / "build_tokenizer.py").read_text(encoding="utf-8")
    block = re.search(r"CHAT_TEMPLATE = \((.*?)\n\)", text, re.S)
    assert block is not None
    pieces = re.findall(r'"((?:[^"\\]|\\.)*)"', block.group(1))
    script_template = "".join(p.encode().decode("unicode_escape") for p in pieces)
    assert script_template == CHAT_TEMPLATE
    shipped = (ROOT / "pytest_autotune" / "data" / "tokenizer" / "chat_template.jinja")
    assert shipped.read_text(encoding="utf-8") == CHAT_TEMPLATE


def test_render_chat() -> None:
    msgs = [{"role": "system", "content": "s"}, {"role": "user", "content": "héllo"}]
    assert render_chat(msgs) == "<|system|>\ns\n<|user|>\nhéllo\n<|assistant|>\n"
    assert count_tokens(render_chat(msgs)) == len(render_chat(msgs).encode())


def test_counts_equal_the_shipped_tokenizer() -> None:
    transformers = pytest.importorskip("transformers")
    tok = transformers.AutoTokenizer.from_pretrained(str(ROOT / "pytest_autotune/data/tokenizer"))
    for msgs in ([{"role": "user", "content": "Or ten times happier, be it ten for one"}],
                 [{"role": "system", "content": "Be brief."},
                  {"role": "user", "content": "Grüße — 漢字 🙂"}]):
        ids = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True)
        if isinstance(ids, dict) or hasattr(ids, "keys"):
            ids = ids["input_ids"]
        assert len(ids) == count_tokens(render_chat(msgs))
    assert len(tok(output_text(3, 57).decode(), add_special_tokens=False)["input_ids"]) == 57


def test_output_text_is_one_ascii_byte_per_token() -> None:
    out = output_text(12345, 5000)
    assert len(out) == 5000 and out.isascii() and b'"' not in out and b"\\" not in out
    assert output_text(12345, 10) == out[:10]
