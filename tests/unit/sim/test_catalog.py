from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_autotune.sim.catalog import GPUS, MODELS, infer_model, resolve_model


@pytest.mark.parametrize(("name", "params_b", "weights_gb", "kv_kib"), [
    ("llama-3.2-1b", 1.236, 2.47, 32), ("llama-3.1-8b", 8.03, 16.06, 128),
    ("llama-3.1-70b", 70.55, 141.1, 320)])
def test_shapes_match_calibration_table(name: str, params_b: float, weights_gb: float,
                                        kv_kib: int) -> None:
    m = resolve_model(name)
    assert m.params / 1e9 == pytest.approx(params_b, rel=0.005)
    assert m.weight_bytes / 1e9 == pytest.approx(weights_gb, rel=0.005)
    assert m.kv_bytes_per_token() == kv_kib * 1024
    for attr in ("name", "num_layers", "num_heads", "num_kv_heads", "head_dim", "hidden", "ffn",
                 "vocab", "params", "weight_bytes"):
        assert getattr(m, attr)


@pytest.mark.parametrize(("path", "expected"), [
    ("meta-llama/Llama-3.1-8B-Instruct", "llama-3.1-8b"),
    ("llama-3-2-1b-instruct", "llama-3.2-1b"),
    ("/models/Meta-Llama-3.1-70B-Instruct", "llama-3.1-70b"),
    ("meta-llama/Meta-Llama-3-8B", "llama-3-8b"),
    ("meta-llama/Llama-3.2-3B-Instruct", "llama-3.2-3b"),
    ("acme/unknown-13b", None)])
def test_infer_model(path: str, expected: str | None) -> None:
    assert infer_model(path) == expected


def test_unknown_model_lists_known_names() -> None:
    with pytest.raises(ValueError, match=r"llama-3\.1-8b"):
        resolve_model("gpt-17")


def test_local_config_json(tmp_path: Path) -> None:
    cfg = {"architectures": ["LlamaForCausalLM"], "hidden_size": 4096, "num_hidden_layers": 32,
           "num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 14336,
           "vocab_size": 128256, "max_position_embeddings": 131072, "torch_dtype": "bfloat16"}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    m = resolve_model(str(tmp_path))
    assert m.params == MODELS["llama-3.1-8b"].params and m.head_dim == 128
    assert infer_model(str(tmp_path)) == str(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**cfg, "num_local_experts": 8}))
    with pytest.raises(ValueError, match="mixture-of-experts"):
        resolve_model(str(tmp_path))


def test_gpus() -> None:
    assert set(GPUS) == {"h100", "h200", "a100-80g", "h20"}
    assert GPUS["h20"].memory_gb == 96 and GPUS["h20"].bf16_flops == 148e12
    assert GPUS["h100"].bandwidth == 3.35e12 and GPUS["a100-80g"].interconnect == 600e9


def test_catalog_import_is_cheap() -> None:
    code = ("import sys, pytest_autotune.sim.catalog; "
            "bad = [m for m in ('asyncio', 'json.decoder', 'pytest_autotune.sim.server') "
            "if m in sys.modules and m != 'json.decoder']; print(bad); assert not bad")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True,  # noqa: S603
                         text=True, timeout=60, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
