"""Hardware and model catalogue of the simulator.

Cheap to import (standard library only, no I/O at import time): the plugin uses it at collection
time to reject impossible configurations (``tp-size`` must divide the attention heads, ``tp × dp``
must fit the GPUs) before anything is deployed.

GPU figures come from ``reference/calibration.md`` §3 (AIConfigurator hardware files and NVIDIA
spec sheets). ``total_mib`` is what ``torch.cuda.mem_get_info`` reports as the device total, the
number SGLang's automatic defaults are computed from.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

__all__ = [
    "GPUS",
    "MODELS",
    "GpuSpec",
    "ModelShape",
    "infer_model",
    "model_from_config",
    "resolve_gpu",
    "resolve_model",
]

GiB = 1024**3
MiB = 1024**2


@dataclass(frozen=True, slots=True)
class GpuSpec:
    """One accelerator: memory, HBM bandwidth, dense tensor throughput and NVLink."""

    name: str
    memory_gb: float  # nominal HBM capacity in GB, as marketed
    total_mib: int  # device total as torch reports it (MiB)
    bandwidth: float  # HBM bandwidth, bytes/s
    bf16_flops: float  # dense BF16 tensor FLOP/s
    fp8_flops: float  # dense FP8 tensor FLOP/s (0 when unsupported)
    interconnect: float  # NVLink bandwidth, bidirectional, bytes/s

    @property
    def total_bytes(self) -> int:
        return self.total_mib * MiB


GPUS: Mapping[str, GpuSpec] = MappingProxyType(
    {
        "h100": GpuSpec("H100-SXM", 80.0, 81559, 3.35e12, 989e12, 1979e12, 900e9),
        "h200": GpuSpec("H200-SXM", 141.0, 143771, 4.8e12, 989e12, 1979e12, 900e9),
        "a100-80g": GpuSpec("A100-SXM-80G", 80.0, 81154, 2.039e12, 312e12, 0.0, 600e9),
        "h20": GpuSpec("H20", 96.0, 97871, 4.0e12, 148e12, 296e12, 900e9),
    }
)


@dataclass(frozen=True, slots=True)
class ModelShape:
    """A Llama-style dense decoder: everything the cost and memory models need."""

    name: str
    num_layers: int
    hidden: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    ffn: int
    vocab: int
    tied_embeddings: bool = False
    context_len: int = 131072
    architecture: str = "LlamaForCausalLM"
    dtype_bytes: int = 2

    @property
    def embedding_params(self) -> int:
        return self.vocab * self.hidden

    @property
    def layer_params(self) -> int:
        q = self.hidden * self.num_heads * self.head_dim
        kv = 2 * self.hidden * self.num_kv_heads * self.head_dim
        o = self.num_heads * self.head_dim * self.hidden
        mlp = 3 * self.hidden * self.ffn
        return q + kv + o + mlp + 2 * self.hidden

    @property
    def params(self) -> int:
        lm_head = 0 if self.tied_embeddings else self.embedding_params
        return self.embedding_params + self.num_layers * self.layer_params + self.hidden + lm_head

    @property
    def matmul_params(self) -> int:
        """Parameters touched by a GEMM per token (layers plus the LM head, not the lookup)."""
        return self.num_layers * self.layer_params + self.embedding_params

    @property
    def weight_bytes(self) -> int:
        return self.params * self.dtype_bytes

    def kv_bytes_per_token(self, tp: int = 1, kv_dtype_bytes: int = 2) -> int:
        """KV-cache bytes per token on one tensor-parallel rank (heads replicate past tp > kv)."""
        kv_heads_per_rank = max(1, self.num_kv_heads // tp)
        return 2 * self.num_layers * kv_heads_per_rank * self.head_dim * kv_dtype_bytes


def _llama(name: str, layers: int, hidden: int, heads: int, kv: int, hd: int, ffn: int,
           vocab: int = 128256, tied: bool = False, ctx: int = 131072,
           arch: str = "LlamaForCausalLM") -> ModelShape:
    return ModelShape(name, layers, hidden, heads, kv, hd, ffn, vocab, tied, ctx, arch)


MODELS: Mapping[str, ModelShape] = MappingProxyType(
    {
        m.name: m
        for m in (
            _llama("llama-3.2-1b", 16, 2048, 32, 8, 64, 8192, tied=True),
            _llama("llama-3.2-3b", 28, 3072, 24, 8, 128, 8192, tied=True),
            _llama("llama-3.1-8b", 32, 4096, 32, 8, 128, 14336),
            _llama("llama-3-8b", 32, 4096, 32, 8, 128, 14336, ctx=8192),
            _llama("llama-3.1-70b", 80, 8192, 64, 8, 128, 28672),
            _llama("llama-3.3-70b", 80, 8192, 64, 8, 128, 28672),
            _llama("llama-3.1-405b", 126, 16384, 128, 8, 128, 53248),
            _llama("mistral-7b", 32, 4096, 32, 8, 128, 14336, vocab=32768, ctx=32768,
                   arch="MistralForCausalLM"),
            _llama("qwen2.5-7b", 28, 3584, 28, 4, 128, 18944, vocab=152064, ctx=32768,
                   arch="Qwen2ForCausalLM"),
            _llama("qwen3-8b", 36, 4096, 32, 8, 128, 12288, vocab=151936, ctx=40960,
                   arch="Qwen3ForCausalLM"),
        )
    }
)

_SUFFIXES = ("instruct", "chat", "hf", "it", "base", "fp8", "bf16", "awq", "gptq", "dynamic")


def _key(text: str) -> str:
    """Normalise a model name: basename, lower case, alphanumerics only, common suffixes off."""
    base = text.rstrip("/").rsplit("/", 1)[-1].lower()
    parts = [p for p in re.split(r"[^a-z0-9]+", base) if p]
    while parts and parts[-1] in _SUFFIXES:
        parts.pop()
    key = "".join(parts)
    return key[4:] if key.startswith("meta") else key


_ALIASES: dict[str, str] = {_key(name): name for name in MODELS}
_ALIASES.update({"llama38b": "llama-3-8b", "mistral7bv03": "mistral-7b", "qwen257b": "qwen2.5-7b"})


def infer_model(model_path: str) -> str | None:
    """Catalogue name for a ``--model-path`` (hub id, directory or bare name), or ``None``.

    A local directory holding a ``config.json`` is returned as is, because
    :func:`resolve_model` accepts such directories.
    """
    if os.path.isfile(os.path.join(model_path, "config.json")):
        return model_path
    return _ALIASES.get(_key(model_path))


def model_from_config(config: Mapping[str, object], name: str) -> ModelShape:
    """Build a shape from a Hugging Face ``config.json`` of a Llama-style dense model."""

    def num(key: str, default: int | None = None) -> int:
        value = config.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{name}: config.json field {key!r} missing or not an integer")
        return value

    hidden = num("hidden_size")
    heads = num("num_attention_heads")
    head_dim_raw = config.get("head_dim")
    head_dim = head_dim_raw if isinstance(head_dim_raw, int) else hidden // heads
    archs = config.get("architectures")
    arch = archs[0] if isinstance(archs, list) and archs and isinstance(archs[0], str) else ""
    if any(config.get(k) for k in ("num_local_experts", "num_experts", "n_routed_experts")):
        raise ValueError(f"{name}: mixture-of-experts models are not modelled by the simulator")
    dtype = config.get("torch_dtype", config.get("dtype", "bfloat16"))
    return ModelShape(
        name=name,
        num_layers=num("num_hidden_layers"),
        hidden=hidden,
        num_heads=heads,
        num_kv_heads=num("num_key_value_heads", heads),
        head_dim=head_dim,
        ffn=num("intermediate_size"),
        vocab=num("vocab_size"),
        tied_embeddings=bool(config.get("tie_word_embeddings", False)),
        context_len=num("max_position_embeddings", 131072),
        architecture=arch or "LlamaForCausalLM",
        dtype_bytes=4 if dtype in ("float32", "float") else 2,
    )


def resolve_model(name_or_dir: str) -> ModelShape:
    """A catalogue entry (by name, alias or hub id) or a local directory with ``config.json``.

    Raises ``ValueError`` naming the known models when nothing matches.
    """
    config_path = Path(name_or_dir) / "config.json"
    if config_path.is_file():
        try:
            data = json.loads(config_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read {config_path}: {exc}") from exc
        if not isinstance(data, dict):
            raise ValueError(f"{config_path}: not a JSON object")
        return model_from_config(data, Path(name_or_dir).name or name_or_dir)
    if name_or_dir in MODELS:
        return MODELS[name_or_dir]
    alias = _ALIASES.get(_key(name_or_dir))
    if alias is not None:
        return MODELS[alias]
    known = ", ".join(sorted(MODELS))
    raise ValueError(
        f"unknown simulator model {name_or_dir!r}; known models: {known} "
        "(or a directory holding a Hugging Face config.json)"
    )


def resolve_gpu(name: str) -> GpuSpec:
    """A GPU by catalogue key (``h100``, ``h200``, ``a100-80g``, ``h20``)."""
    try:
        return GPUS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown GPU {name!r}; known GPUs: {', '.join(GPUS)}") from None
