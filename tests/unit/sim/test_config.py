"""SGLang's automatic defaults, the memory plan and the start-up failures."""

from __future__ import annotations

import pytest

from pytest_autotune.sim.cli import parse_args
from pytest_autotune.sim.config import capture_batch_sizes, default_capture_list, resolve


def cfg_for(*flags: str, model: str = "meta-llama/Llama-3.1-8B-Instruct"):  # type: ignore[no-untyped-def]
    return resolve(parse_args(["--model-path", model, *flags]))


@pytest.mark.parametrize(("gpu", "mfs"), [("h100", 0.835), ("h200", 0.907), ("h20", 0.863),
                                          ("a100-80g", 0.834)])
def test_default_mem_fraction(gpu: str, mfs: float) -> None:
    cfg = cfg_for("--sim-gpu", gpu)
    assert cfg.mem_fraction_static == mfs
    assert cfg.chunked_prefill_size == 8192 and cfg.cuda_graph_max_bs == 256


def test_tp4_defaults_and_capture_list() -> None:
    cfg = cfg_for("--tp", "4", model="meta-llama/Llama-3.1-70B-Instruct")
    assert cfg.cuda_graph_max_bs == 512 and len(cfg.capture_bs) == 52
    assert len(capture_batch_sizes(160, None, 4096)) == 24
    assert len(capture_batch_sizes(256, None, 4096)) == 36
    assert capture_batch_sizes(100, None, 4096)[-1] == 96  # 0.5.5 does not add the max itself
    assert capture_batch_sizes(256, None, 64)[-1] == 64
    assert default_capture_list()[:6] == [1, 2, 4, 8, 12, 16]


# SGLang 0.5.5's own automatic values (ServerArgs._handle_gpu_memory_settings and
# _generate_cuda_graph_batch_sizes, cuda_graph_runner.get_batch_sizes_to_capture) on an H100
# (81,559 MiB), one case per difference the simulator used to have


def test_no_chunking_reserves_for_the_largest_prefill() -> None:
    # reserve 512 + 16384 × 1.5 + 256 × 2 + 128 MiB: 0.685 (not 0.874 as with a 2048 chunk)
    assert cfg_for("--chunked-prefill-size", "-1").mem_fraction_static == 0.685


def test_dp_attention_reserves_graph_padding_per_replica() -> None:
    cfg = cfg_for("--enable-dp-attention", "--dp", "2", "--tp", "2")
    assert cfg.mem_fraction_static == 0.815  # 0.834 without DP attention's reserve


def test_an_explicit_capture_list_sets_the_maximum() -> None:
    cfg = cfg_for("--cuda-graph-bs", "1", "2", "64", "--cuda-graph-max-bs", "8")
    assert cfg.cuda_graph_max_bs == 64 and cfg.capture_bs == [1, 2, 64]


def test_capture_lists_with_speculation_without_padding_and_an_odd_maximum() -> None:
    assert capture_batch_sizes(40, None, 4096, speculative=True) == [
        1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 40]
    assert capture_batch_sizes(6, None, 4096, disable_padding=True) == [1, 2, 3, 4, 5, 6]
    assert capture_batch_sizes(100, None, 4096)[-2:] == [88, 96]
    # a request pool below the list: its size is captured too
    assert capture_batch_sizes(256, None, 50)[-2:] == [48, 50]
    assert capture_batch_sizes(16, None, 4096, multiple_of=2) == [2, 4, 8, 12, 16]


def test_kv_capacity_formula() -> None:
    cfg = cfg_for("--mem-fraction-static", "0.8")
    expected = (cfg.free_init_bytes * 0.8 - cfg.weights_per_gpu_bytes) // (128 * 1024)
    assert cfg.max_total_num_tokens == int(expected)
    assert 380_000 < cfg.max_total_num_tokens < 420_000
    more = cfg_for("--mem-fraction-static", "0.9")
    assert more.max_total_num_tokens > cfg.max_total_num_tokens
    assert cfg_for("--max-total-tokens", "1000").max_total_num_tokens == 1000
    assert cfg_for("--kv-cache-dtype", "fp8_e4m3").max_total_num_tokens > 2 * 0.99 * (
        cfg_for().max_total_num_tokens)


def test_max_running_requests_default() -> None:
    cfg = cfg_for()
    assert cfg.max_running_requests == 2048  # pool clamp(tokens/ctx*512, 2048, 4096)
    assert cfg_for("--max-running-requests", "48").max_running_requests == 48
    assert cfg_for("--context-length", "8192").max_running_requests == 4096


def test_failures() -> None:
    assert cfg_for().failure is None
    low = cfg_for("--mem-fraction-static", "0.15")
    assert low.failure is not None and low.failure.kind == "not_enough_memory"
    assert "Not enough memory. Please try to increase --mem-fraction-static" in (
        low.failure.exception[-1])
    high = cfg_for("--mem-fraction-static", "0.99")
    assert high.failure is not None and high.failure.phase == "capture"
    assert any("Capture cuda graph failed: CUDA out of memory" in line
               for line in high.failure.exception)
    wide = cfg_for("--tp", "4", "--dp", "4")
    assert wide.failure is not None and "invalid device ordinal" in " ".join(
        wide.failure.exception)
    assert cfg_for("--tp", "2", "--dp", "4", "--sim-gpus-available", "8").failure is None
    odd = cfg_for("--tp", "3")
    assert odd.failure is not None and odd.failure.kind == "assertion"
    assert odd.failure.exception[-1] == "AssertionError"
    tp2_70b = cfg_for("--tp", "2", "--mem-frac", "0.8", model="llama-3.1-70b")
    assert tp2_70b.failure is not None and tp2_70b.failure.kind == "not_enough_memory"
    assert cfg_for("--tp", "2", "--mem-frac", "0.9", "--sim-gpu", "h200",
                   model="llama-3.1-70b").failure is None


def test_startup_times_scale() -> None:
    full = cfg_for()
    fast = cfg_for("--sim-startup-scale", "0.01")
    assert fast.load_s == pytest.approx(full.load_s * 0.01)
    assert fast.capture_s == pytest.approx(full.capture_s * 0.01)
    one_b = cfg_for("--sim-gpu", "h20", model="llama-3.2-1b")
    assert 1.5 < one_b.load_s < 3.0 and 13 < one_b.capture_s < 20  # seed: ~2 s and ~16 s
    assert cfg_for("--cuda-graph-max-bs", "32").capture_s < full.capture_s / 3
    assert cfg_for("--disable-cuda-graph").capture_s == 0


def test_only_h20_gets_the_weak_tensor_core_prefill_bonus() -> None:
    from pytest_autotune.sim.costmodel import prefill_mfu

    assert prefill_mfu(8e9, "H100-SXM") == prefill_mfu(8e9, "H200-SXM") == 0.6
    assert prefill_mfu(8e9, "H20") == pytest.approx(0.69)


def test_dp_attention_splits_the_tp_group() -> None:
    """``--tp 2 --dp 2 --enable-dp-attention`` runs on 2 GPUs (SGLang's DP ranks split the TP
    group: attention over tp / dp GPUs each); without DP attention it needs 4."""
    split = cfg_for("--tp", "2", "--dp", "2", "--enable-dp-attention",
                    "--sim-gpus-available", "2")
    assert split.failure is None and split.gpus == 2 and split.dp == 2
    plain = cfg_for("--tp", "2", "--dp", "2", "--sim-gpus-available", "2")
    assert plain.gpus == 4 and plain.failure is not None
    assert "invalid device ordinal" in " ".join(plain.failure.exception)
    # a DP rank's KV cache is on tp / dp = 1 GPU: all 8 KV heads of Llama-3.1-8B, not 4
    assert split.kv_cell_bytes == 2 * plain.kv_cell_bytes
    with pytest.raises(ValueError, match="--dp-size to divide --tp-size"):
        cfg_for("--tp", "2", "--dp", "4", "--enable-dp-attention")
