from __future__ import annotations

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


def test_chunked_prefill_minus_one_disables() -> None:
    assert sglang.normalize("chunked-prefill-size", -1) == ("chunked-prefill-size", -1)
    with pytest.raises(ValueError):
        sglang.normalize("chunked-prefill-size", -2)
