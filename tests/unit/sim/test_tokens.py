"""Token counts like the served model's: the simulator's encoder, its Hugging Face twin that
genai-bench loads, and the real tokenizers' own ids (llama.cpp's test vectors)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_autotune.bench import tokenizers
from pytest_autotune.sim.tokens import BYTE_TEMPLATE, FAMILIES, Tokenizer, family_of, for_model

ROOT = Path(__file__).resolve().parents[3]
VECTORS = ROOT / "tests" / "data" / "tokenizer-vectors"
SONNET_LINES = [
    "FROM fairest creatures we desire increase,",
    "That thereby beauty's rose might never die,",
    "But as the riper should by time decease,",
    "His tender heir might bear his memory:",
]


def vectors(name: str) -> list[tuple[str, list[int]]]:
    """llama.cpp's tokenizer test vectors: texts and the ids the real tokenizer gives."""
    texts = (VECTORS / f"{name}.inp").read_text(encoding="utf-8").split("\n__ggml_vocab_test__\n")
    ids = (VECTORS / f"{name}.out").read_text(encoding="utf-8").split("\n")
    return [(t, [int(x) for x in line.split()]) for t, line in zip(texts, ids, strict=False)]


# -- the byte-level fallback -----------------------------------------------------------------
def test_byte_template_matches_build_script_and_shipped_file() -> None:
    text = (ROOT / "scripts" / "build_tokenizer.py").read_text(encoding="utf-8")
    block = re.search(r"CHAT_TEMPLATE = \((.*?)\n\)", text, re.S)
    assert block is not None
    pieces = re.findall(r'"((?:[^"\\]|\\.)*)"', block.group(1))
    assert "".join(p.encode().decode("unicode_escape") for p in pieces) == BYTE_TEMPLATE
    shipped = ROOT / "pytest_autotune" / "data" / "tokenizer" / "chat_template.jinja"
    assert shipped.read_text(encoding="utf-8") == BYTE_TEMPLATE


def test_byte_fallback_counts_bytes() -> None:
    tok = for_model("mistralai/Mistral-7B-Instruct-v0.3")
    assert tok.name == "byte-level" and "byte-level fallback" in tok.note
    msgs = [{"role": "system", "content": "s"}, {"role": "user", "content": "héllo"}]
    assert tok.render_chat(msgs) == "<|system|>\ns\n<|user|>\nhéllo\n<|assistant|>\n"
    assert tok.count(tok.render_chat(msgs)) == len(tok.render_chat(msgs).encode())
    out = tok.output(12345, 5000)
    text = tok.decode(out)
    assert len(out) == 5000 and text.isascii() and b'"' not in text and b"\\" not in text
    assert tok.output(12345, 10) == out[:10]


def test_byte_fallback_counts_equal_the_shipped_tokenizer() -> None:
    transformers = pytest.importorskip("transformers")
    hf = transformers.AutoTokenizer.from_pretrained(str(tokenizers.BUILTIN_TOKENIZER))
    tok = Tokenizer()
    for msgs in ([{"role": "user", "content": "Or ten times happier, be it ten for one"}],
                 [{"role": "system", "content": "Be brief."},
                  {"role": "user", "content": "Grüße — 漢字 🙂"}]):
        ids = hf.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True)
        if hasattr(ids, "keys"):
            ids = ids["input_ids"]
        assert len(ids) == tok.count(tok.render_chat(msgs))
    assert len(hf(tok.decode(tok.output(3, 57)).decode(), add_special_tokens=False)[
        "input_ids"]) == 57


# -- families ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("model", "family"), [
    ("meta-llama/Llama-3.2-1B-Instruct", "llama-3.1"),
    ("meta-llama/Llama-3.1-70B-Instruct", "llama-3.1"),
    ("/models/Llama-3.3-70B-Instruct/", "llama-3.1"),
    ("meta-llama/Meta-Llama-3-8B-Instruct", "llama-3"),
    ("llama-3-8b", "llama-3"),
    ("Qwen/Qwen2.5-7B-Instruct", "qwen2.5"),
    ("qwen2.5-7b", "qwen2.5"),
    ("Qwen/QwQ-32B", "qwen2.5"),
    ("Qwen/Qwen3-8B", "qwen3"),
    ("Qwen/Qwen2-7B-Instruct", "qwen2"),
    ("mistralai/Mistral-7B-Instruct-v0.3", None),
    ("Qwen/Qwen3.5-9B", None),  # a new vocabulary and split pattern
    ("meta-llama/Llama-4-Scout-17B-16E", None),
    ("meta-llama/Llama-2-7b-hf", None),
    ("", None),
])
def test_family_by_model_name(model: str, family: str | None) -> None:
    found = family_of(model)
    assert (found.name if found else None) == family


def test_first_known_name_wins() -> None:
    assert for_model(None, "/models/custom", "qwen3-8b").name == "qwen3"
    assert for_model("/tok/llama-3.1", "qwen3-8b").name == "llama-3.1"


def test_qwen_encodes_as_the_real_tokenizer() -> None:
    """Qwen's vocabulary ships whole: every test vector gives the real tokenizer's ids."""
    tok = for_model("Qwen/Qwen2.5-7B-Instruct")
    for text, ids in vectors("qwen2"):
        assert [ord(t) for t in tok.encode(text)] == ids, text


def test_llama3_encodes_as_the_real_tokenizer_within_its_first_100256_tokens() -> None:
    """Llama-3's first 100,256 tokens ship: a text whose real ids all lie there (English, code,
    numbers, emoji, whitespace) encodes exactly; the others use tokens that do not ship."""
    tok = for_model("meta-llama/Llama-3.1-8B-Instruct")
    cases = vectors("llama-bpe")
    exact = [(text, ids) for text, ids in cases if max(ids, default=0) < 100256]
    assert len(exact) >= 40
    for text, ids in exact:
        assert [ord(t) for t in tok.encode(text)] == ids, text
    for text, ids in cases:  # the rest still counts near the real tokenizer
        assert abs(tok.count(text) - len(ids)) <= max(2, len(ids) // 2), text


def test_english_costs_about_one_and_a_third_tokens_per_word() -> None:
    text = " ".join(SONNET_LINES)
    words = len(text.split())
    for model in ("meta-llama/Llama-3.1-8B-Instruct", "Qwen/Qwen3-8B"):
        assert 1.0 <= for_model(model).count(text) / words <= 1.6
    assert for_model("unknown-model").count(text) / words > 4


def test_special_tokens_count_once() -> None:
    tok = for_model("Qwen/Qwen3-8B")
    assert tok.count("<|im_start|>user\nhi<|im_end|>\n") == 6
    llama = for_model("llama-3.1-8b")
    assert [ord(t) for t in llama.encode("<|begin_of_text|><|eot_id|>")] == [128000, 128009]


@pytest.mark.parametrize("model", ["llama-3.1-8b", "qwen3-8b"])
def test_generated_text_encodes_back_to_the_same_tokens(model: str) -> None:
    tok = for_model(model)
    out = tok.output(77, 500)
    text = tok.decode(out).decode("ascii")
    assert '"' not in text and "\\" not in text
    assert tok.encode(text) == out
    # as a later turn's history (Llama-3's template trims the first word's space)
    turn = tok.render_chat([{"role": "user", "content": "q"},
                            {"role": "assistant", "content": text}])
    assert tok.encode(turn).count(out[1:]) == 1


# -- genai-bench's twin -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def hf_dirs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    transformers = pytest.importorskip("transformers")
    mp = pytest.MonkeyPatch()
    mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    try:
        yield {name: transformers.AutoTokenizer.from_pretrained(str(tokenizers.directory(name)))
               for name in FAMILIES}
    finally:
        mp.undo()


MESSAGES = [
    [{"role": "user", "content": "Hi"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "  Hello there  "}],
    [{"role": "user", "content": "2 + 2?"}, {"role": "assistant", "content": "4"},
     {"role": "user", "content": "Grüße — 漢字 🙂\n\nand then?"}],
]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_the_hugging_face_twin_renders_and_counts_as_the_simulator(
        hf_dirs: dict[str, Any], family: str) -> None:
    hf, tok = hf_dirs[family], for_model(family)
    for msgs in MESSAGES:
        rendered = hf.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
        assert rendered == tok.render_chat(msgs)
        assert hf.encode(rendered, add_special_tokens=False) == [ord(t) for t in
                                                                  tok.encode(rendered)]
    text = "\n".join(SONNET_LINES) + "\n" + "".join(t for t, _ in vectors("llama-bpe"))
    assert hf.encode(text, add_special_tokens=False) == [ord(t) for t in tok.encode(text)]
    assert hf.decode([ord(t) for t in tok.output(5, 64)]) == tok.decode(tok.output(5, 64)).decode()


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=80))
def test_any_text_counts_the_same_on_both_sides(hf_dirs: dict[str, Any], text: str) -> None:
    for family in ("llama-3.1", "qwen3"):
        expected = hf_dirs[family].encode(text, add_special_tokens=False)
        assert [ord(t) for t in for_model(family).encode(text)] == expected
