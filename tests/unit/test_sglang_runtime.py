from __future__ import annotations

from pathlib import Path

import pytest

from pytest_autotune.runtimes import sglang


@pytest.mark.parametrize(("key", "name"), [
    ("tp-size", "tp-size"), ("tp_size", "tp-size"), ("--tp", "tp-size"),
    ("tensor-parallel-size", "tp-size"), ("mem_frac", "mem-fraction-static"),
    ("mem-frac", "mem-fraction-static"), ("MEM_FRACTION_STATIC", "mem-fraction-static"),
    ("chunked-prefill", "chunked-prefill-size"), ("cuda_graph_max_bs", "cuda-graph-max-bs"),
])
def test_lookup_accepts_spellings_aliases_and_prefixes(key: str, name: str) -> None:
    assert sglang.lookup(key).name == name


def test_unknown_flag_suggests_the_closest() -> None:
    with pytest.raises(KeyError, match="did you mean --schedule-policy"):
        sglang.lookup("schedule-polcy")


def test_ambiguous_prefix_is_refused() -> None:
    with pytest.raises(KeyError, match="ambiguous"):
        sglang.lookup("cuda-graph")


def test_launch_argv_is_a_list_with_bool_switches() -> None:
    argv = sglang.launch_argv(
        model_path="m", host="0.0.0.0", port=30000,
        flags=[("tp-size", 2), ("mem-fraction-static", 0.8), ("enable-mixed-chunk", True),
               ("disable-radix-cache", False)],
        extra_args=["--x", "1"], served_model_name="chat",
    )
    assert argv == ["python3", "-m", "sglang.launch_server", "--model-path", "m", "--host",
                    "0.0.0.0", "--port", "30000", "--served-model-name", "chat", "--tp-size", "2",
                    "--mem-fraction-static", "0.8", "--enable-mixed-chunk", "--x", "1"]


def test_gpus_needed_is_tp_times_dp_times_pp() -> None:
    assert sglang.gpus_needed({"tp-size": 2, "dp-size": 2}) == 4
    assert sglang.gpus_needed({}) == 1


def test_with_dp_attention_a_server_occupies_tp_size_gpus() -> None:
    """SGLang's DP ranks split the TP group: ``--tp 8 --dp 8 --enable-dp-attention`` runs on
    8 GPUs, so the lease, the feasibility check and the GPU time count tp × pp."""
    assert sglang.gpus_needed({"tp-size": 2, "dp-size": 2, "enable-dp-attention": True}) == 2
    assert sglang.gpus_needed({"tp-size": 8, "dp-size": 8, "enable-dp-attention": True,
                               "pp-size": 2}) == 16
    assert sglang.gpus_needed({"tp-size": 2, "dp-size": 2, "enable-dp-attention": False}) == 4


def test_dp_attention_configurations_are_feasible_on_tp_size_gpus(tmp_path: Path) -> None:
    from pytest_autotune.backends.base import ServerSpec
    from pytest_autotune.backends.feasibility import infeasible_before_launch
    from pytest_autotune.cases import load_case_file

    path = tmp_path / "dp.yaml"
    path.write_text("model: {path: meta-llama/Llama-3.1-8B-Instruct}\n"
                    "flags: {enable-dp-attention: true, tp-size: 2}\n"
                    "parameters: {dp-size: [1, 2, 3]}\n"
                    "workload: {scenarios: ['D(100,100)'], concurrency: [1]}\n")
    case = load_case_file(path)
    specs = [ServerSpec.from_case(case, config) for config in case.configurations]
    assert [spec.gpus for spec in specs] == [2, 2, 2]
    reasons = [infeasible_before_launch(spec, pool_size=2, simulated=True) for spec in specs]
    assert reasons[:2] == [None, None]
    assert reasons[2] is not None and "dp-size to divide tp-size" in reasons[2]


def test_chunked_prefill_minus_one_disables() -> None:
    assert sglang.normalize("chunked-prefill-size", -1) == ("chunked-prefill-size", -1)
    with pytest.raises(ValueError):
        sglang.normalize("chunked-prefill-size", -2)
