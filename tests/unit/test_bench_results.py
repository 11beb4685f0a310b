"""genai-bench output parsing against real files (fixtures/genai_bench), and the argv we build."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_autotune.bench.plan import Invocation
from pytest_autotune.bench.results import read_experiment, read_run_file
from pytest_autotune.bench.runner import DUMMY_API_KEY, BenchRequest, bench_env, build_argv, scrub
from pytest_autotune.values import Workload, WorkloadPoint

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "genai_bench"


def test_milliseconds_are_normalised_to_seconds() -> None:
    path = GOLDEN / "ms-grid" / "D100_100_text-to-text_num_concurrency_4_time_1s.json"
    raw = json.loads(path.read_text())["aggregated_metrics"]
    point, metrics = read_run_file(path)
    assert point == WorkloadPoint("D(100,100)", 4)
    assert metrics.ttft.p50 == pytest.approx(raw["stats"]["ttft"]["p50"] / 1000)
    assert metrics.e2e.p99 == pytest.approx(raw["stats"]["e2e_latency"]["p99"] / 1000)
    # throughputs are tokens/s whatever the time unit; genai-bench's own is kept beside ours
    assert metrics.genai_bench["output_throughput"] == pytest.approx(
        raw["mean_output_throughput_tokens_per_s"])
    assert metrics.num_requests == raw["num_requests"] and metrics.error_rate == 0


def test_one_process_grid_gives_every_point_with_scenarios_from_the_json() -> None:
    results = read_experiment(GOLDEN / "ms-grid")
    assert sorted(results) == sorted(
        WorkloadPoint(s, c) for s in ("D(100,100)", "N(200,50)/(40,10)") for c in (1, 4))


def test_error_rate_is_recomputed_when_genai_bench_says_zero() -> None:
    path = GOLDEN / "server-killed" / "D100_100_text-to-text_num_concurrency_2_time_60s.json"
    raw = json.loads(path.read_text())["aggregated_metrics"]
    assert raw["error_rate"] == 0  # the 0.0.5 bug
    _, metrics = read_run_file(path)
    assert metrics.num_errors == 26847 and metrics.num_requests == 26951
    assert metrics.error_rate == pytest.approx(26847 / 26951)
    assert metrics.error_codes == {"500": 2, "503": 26845}


def request(tmp_path: Path, **workload: object) -> BenchRequest:
    w = Workload(scenarios=("D(100,100)", "D(1000,200)"), concurrency=(1, 8),
                 **workload)  # type: ignore[arg-type]
    inv = Invocation(("D(100,100)", "D(1000,200)"), (1, 8))
    return BenchRequest(url="http://127.0.0.1:1234", api_model_name="llama", tokenizer="/tok",
                        workload=w, invocation=inv, out_dir=tmp_path / "gb-1", api_key="s3cret")


def test_argv_repeats_scenarios_and_levels_and_keeps_secrets_off_it(tmp_path: Path) -> None:
    argv = build_argv(request(tmp_path, max_time_s=90, warmup_ratio=0.1), "genai-bench")
    assert argv[:2] == ["genai-bench", "benchmark"]
    assert argv[argv.index("--api-backend") + 1] == "sglang"
    assert argv.count("--traffic-scenario") == 2 and argv.count("--num-concurrency") == 2
    assert argv[argv.index("--max-time-per-run") + 1] == "2"  # 90 s → whole minutes
    assert argv[argv.index("--warmup-ratio") + 1] == "0.1"
    assert argv[argv.index("--api-key") + 1] == DUMMY_API_KEY
    assert "s3cret" not in argv
    env = bench_env("s3cret", base={"PATH": "/bin", "MODEL_API_KEY": "stale"})
    assert env["MODEL_API_KEY"] == "s3cret" and env["HF_HUB_OFFLINE"] == "1"
    assert env["ENABLE_UI"] == "false"
    assert "MODEL_API_KEY" not in bench_env(None, base={"MODEL_API_KEY": "stale"})


def test_scrub_removes_secrets_from_genai_bench_files(tmp_path: Path) -> None:
    (tmp_path / "experiment_metadata.json").write_text('{"cmd": "--model-api-key s3cret"}')
    (tmp_path / "genai_bench.log").write_text("auth s3cret ok\n")
    scrub(tmp_path, ["s3cret"])
    assert "s3cret" not in (tmp_path / "experiment_metadata.json").read_text()
    assert (tmp_path / "genai_bench.log").read_text() == "auth *** ok\n"
