"""Guard-rails of the step-time model: never faster than the hardware allows."""

from __future__ import annotations

import pytest

from pytest_autotune.sim.catalog import GPUS
from pytest_autotune.sim.cli import parse_args
from pytest_autotune.sim.config import resolve
from pytest_autotune.sim.costmodel import CostModel


@pytest.mark.parametrize("gpu", sorted(GPUS))
@pytest.mark.parametrize("model", ["llama-3.2-1b", "llama-3.1-8b"])
def test_never_faster_than_physics(gpu: str, model: str) -> None:
    cfg = resolve(parse_args(["--model-path", model, "--sim-gpu", gpu]))
    cost = CostModel(cfg)
    spec = GPUS[gpu]
    weights = cfg.model.weight_bytes
    assert cost.decode(1, 100) >= weights / spec.bandwidth * 0.99
    for tokens in (128, 2048, 8192):
        floor = 2 * cfg.model.matmul_params * tokens / (0.7 * spec.bf16_flops)
        assert cost.prefill(tokens, tokens * tokens / 2, 1) >= floor
    for bs in (1, 8, 64, 256):
        assert cost.decode(bs, bs * 1000) <= cost.decode(bs * 2, bs * 2000)


def test_decode_is_bandwidth_bound_except_on_h20() -> None:
    def ratio(gpu: str) -> float:
        cost = CostModel(resolve(parse_args(["--model-path", "llama-3.1-8b", "--sim-gpu", gpu])))
        return cost.decode(128, 128 * 300) / cost.decode(8, 8 * 300)

    # 16x the batch costs far less than 16x the time where decode is memory bound; the H20's
    # weak tensor cores make it compute bound much earlier (calibration: ~20-30 sequences).
    assert ratio("h100") < 2.0 and ratio("h20") > 2 * ratio("h100") * 0.9


def test_tensor_parallel_pays_all_reduce() -> None:
    one = CostModel(resolve(parse_args(["--model-path", "llama-3.1-8b"])))
    two = CostModel(resolve(parse_args(["--model-path", "llama-3.1-8b", "--tp", "2"])))
    assert two.decode(1, 100) > one.decode(1, 100) / 2  # sub-linear at batch 1
    assert two.prefill(8192, 8192 * 4096, 1) < one.prefill(8192, 8192 * 4096, 1) * 0.6
