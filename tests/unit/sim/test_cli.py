from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import pytest_autotune
from pytest_autotune.sim.cli import parse_args, unmodelled_flags

BASE = ["--model-path", "meta-llama/Llama-3.1-8B-Instruct"]
DATA = Path(pytest_autotune.__file__).parent / "data" / "sglang"


def test_defaults_match_sglang() -> None:
    args = parse_args(BASE)
    assert (args.host, args.port) == ("127.0.0.1", 30000)
    assert args.schedule_policy == "fcfs"
    assert args.max_prefill_tokens == 16384
    assert args.mem_fraction_static is None and args.chunked_prefill_size is None
    assert args.sim_gpu == "h100" and args.sim_noise == 0.03 and args.sim_gpus_available == 8


def test_abbreviations_and_aliases() -> None:
    args = parse_args([*BASE, "--mem-frac", "0.7", "--tp", "2", "--data-parallel-size", "3",
                       "--trust-remote", "--context-len", "4096"])
    assert args.mem_fraction_static == 0.7
    assert args.tp_size == 2 and args.dp_size == 3
    assert args.trust_remote_code and args.context_length == 4096
    assert parse_args([*BASE, "--tensor-parallel-size", "4"]).tp_size == 4


@pytest.mark.parametrize("flags", [["--cuda-graph-max-bs", "64"],
                                   ["--cuda-graph-max-bs-decode", "64"]])
def test_old_and_new_cuda_graph_spellings(flags: list[str]) -> None:
    assert parse_args([*BASE, *flags]).cuda_graph_max_bs == 64


def test_cuda_graph_disable_spellings() -> None:
    assert parse_args([*BASE, "--disable-cuda-graph"]).disable_cuda_graph
    assert parse_args([*BASE, "--cuda-graph-backend-decode", "disabled"]).disable_cuda_graph
    assert parse_args([*BASE, "--cuda-graph-bs", "1", "2", "8"]).cuda_graph_bs == [1, 2, 8]


def test_unmodelled_sglang_flags_are_accepted() -> None:
    args = parse_args([*BASE, "--enable-hierarchical-cache", "--ep-size", "2",
                       "--reasoning-parser", "qwen3", "--lora-paths", "a", "b"])
    assert args.ignored_ep_size == 2


def _sample(flag: dict[str, Any]) -> list[str]:
    """Command-line values of the flag's type and choices."""
    if flag["type"] == "bool":
        return []
    if flag.get("choices"):
        return [str(flag["choices"][0])]
    kind = flag.get("item") or flag["type"]
    return ["1"] if kind in ("int", "float") else ["x"]


def test_every_flag_of_sglang_0_5_5_is_accepted() -> None:
    """A configuration real SGLang 0.5.5 accepts deploys in sim mode too: every option of its
    catalogue (dumped from its ServerArgs), aliases included, parses here."""
    flags = json.loads((DATA / "0.5.5.json").read_text())["flags"]
    rejected = []
    for name, flag in flags.items():
        if name in ("model-path", "host", "port", "config"):  # config: a file, read
            continue
        for option in (name, *flag.get("aliases", ())):
            try:
                parse_args([*BASE, f"--{option}", *_sample(flag)])
            except SystemExit:
                rejected.append(option)
    assert not rejected, f"the simulator rejects SGLang 0.5.5 flags: {rejected}"


def test_unmodelled_flags_are_named_once_at_start_up() -> None:
    args = parse_args([*BASE, "--cpu-offload-gb", "4", "--enable-single-batch-overlap",
                       "--mem-fraction-static", "0.8"])
    assert unmodelled_flags(args) == ["--cpu-offload-gb", "--enable-single-batch-overlap"]


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest_autotune.sim", *argv],  # noqa: S603
                          capture_output=True, text=True, timeout=60, check=False)


def test_unknown_flag_fails_like_argparse() -> None:
    res = _run(*BASE, "--no-such-flag", "1")
    assert res.returncode == 2
    assert res.stderr.startswith("usage: ")
    assert "error: unrecognized arguments: --no-such-flag 1" in res.stderr


def test_bad_choice_and_missing_model_path() -> None:
    res = _run(*BASE, "--schedule-policy", "sjf")
    assert res.returncode == 2 and "invalid choice: 'sjf'" in res.stderr
    res = _run("--tp-size", "1")
    assert res.returncode == 2 and "--model-path" in res.stderr


def test_uninferable_model_is_a_clear_error() -> None:
    res = _run("--model-path", "acme/mystery-model")
    assert res.returncode == 2
    assert "cannot infer the simulated model" in res.stderr and "--sim-model" in res.stderr


def test_config_file(tmp_path: object) -> None:
    from pathlib import Path
    cfg = Path(str(tmp_path)) / "c.yaml"
    cfg.write_text("mem_fraction_static: 0.6\nenable_mixed_chunk: true\ncuda_graph_bs: [1, 2]\n")
    args = parse_args([*BASE, "--config", str(cfg), "--tp", "2"])
    assert args.mem_fraction_static == 0.6 and args.enable_mixed_chunk
    assert args.cuda_graph_bs == [1, 2] and args.tp_size == 2


def test_config_file_values_with_quotes_hashes_and_escapes(tmp_path: Path) -> None:
    from pytest_autotune.sim.cli import _read_config

    key = 'k#1"\\\'x'
    config = tmp_path / "args.yaml"
    config.write_text(f"api-key: {json.dumps(key)}\nschedule-policy: lpm # a comment\n"
                      "served-model-name: 'it''s'\n")
    assert _read_config(str(config)) == ["--api-key", key, "--schedule-policy", "lpm",
                                         "--served-model-name", "it's"]
