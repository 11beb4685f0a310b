"""The genai-bench stand-in (tests/standin/genai_bench.py) that plugin-logic tests measure with:
run through the plugin's own runner and argv against a real simulator process, its files must
parse like genai-bench's, its numbers must agree with the simulator's ground truth, and failed
requests must be counted as genai-bench counts them."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from pytest_autotune.bench import tokenizers
from pytest_autotune.bench.estimate import template_tokens
from pytest_autotune.bench.plan import Invocation
from pytest_autotune.bench.results import RUN_FILE
from pytest_autotune.bench.runner import BenchOutcome, BenchRequest, build_argv
from pytest_autotune.errors import BenchError
from pytest_autotune.sim.tokens import for_model
from pytest_autotune.values import Metrics, Workload, WorkloadPoint

from ..e2e.sim.conftest import Sim, free_port, start_sim
from ..standin import SCRIPT, runner
from ..standin.genai_bench import Prompts, parse_scenario, stats

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "genai_bench"
MODEL = "meta-llama/Llama-3.1-8B-Instruct"
#: what the chat template adds to a prompt (the simulator serves MODEL with Llama-3.1's tokenizer)
CHAT_TEMPLATE_TOKENS = template_tokens(MODEL)


@pytest.fixture
def sim_proc(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Sim]:
    """A simulator process; a test may add flags with ``@pytest.mark.parametrize('sim_flags')``."""
    flags = getattr(request, "param", ("--sim-noise", "0"))
    sim = start_sim(tmp_path, *flags)
    try:
        sim.wait_ready()
        yield sim
    finally:
        sim.stop()


def measure(url: str, out_dir: Path, scenarios: tuple[str, ...], levels: tuple[int, ...],
            max_requests: int = 8, api_key: str | None = None, **workload: Any) -> BenchOutcome:
    """One stand-in process through the plugin's runner (its argv, env, supervision)."""
    w = Workload(scenarios=scenarios, concurrency=levels, max_requests=max_requests, **workload)
    req = BenchRequest(url=url, api_model_name=MODEL,
                       tokenizer=str(tokenizers.directory("llama-3.1")), workload=w,
                       invocation=Invocation(scenarios, levels), out_dir=out_dir,
                       timeout=60.0, api_key=api_key)
    return runner().run(req)


def metrics_of(outcome: BenchOutcome) -> dict[WorkloadPoint, Metrics]:
    out: dict[WorkloadPoint, Metrics] = {}
    for point, result in outcome.results.items():
        assert isinstance(result, Metrics), result
        out[point] = result
    return out


def run_file(folder: Path) -> dict[str, Any]:
    [path] = [p for p in folder.iterdir() if RUN_FILE.match(p.name)]
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_grid_in_one_process_is_parsed_like_genai_bench(sim_proc: Sim, tmp_path: Path) -> None:
    out = tmp_path / "gb"
    outcome = measure(f"http://127.0.0.1:{sim_proc.port}", out, ("D(50,20)", "N(200,50)/(40,10)"),
                      (1, 4), max_requests=4)
    assert outcome.returncode == 0
    metrics = metrics_of(outcome)
    assert sorted(metrics) == sorted(WorkloadPoint(s, c) for s in ("D(50,20)", "N(200,50)/(40,10)")
                                     for c in (1, 4))
    for m in metrics.values():
        assert m.num_requests == 4 and m.num_errors == 0 and m.error_codes == {}
        ttft, tpot, e2e = m.ttft.p50, m.tpot.p50, m.e2e.p50
        assert ttft is not None and tpot is not None and e2e is not None
        assert 0 < ttft < 1 and 0 < tpot < 0.1 and e2e > ttft
        assert m.output_throughput > 0 and m.request_throughput > 0 and m.run_duration > 0
    # the same files and keys as the real genai-bench's
    names = sorted(p.name for p in out.iterdir() if p.suffix == ".json")
    assert names[0].startswith("D50_20_text-to-text_num_concurrency_1_time_")
    assert names[-1] == "experiment_metadata.json"
    assert any(n.startswith("N200_50_40_10_text-to-text_num_concurrency_4_time_") for n in names)
    golden = json.loads(next((GOLDEN / "ms-grid").glob("D100_100_*_4_*.json")).read_text())
    data = json.loads(next(out.glob("D50_20_*_4_*.json")).read_text())
    assert data.keys() == golden.keys() and data["_time_unit"] == "s"
    agg, gagg = data["aggregated_metrics"], golden["aggregated_metrics"]
    assert agg.keys() == gagg.keys()
    assert agg["stats"].keys() == gagg["stats"].keys()
    assert all(agg["stats"][k].keys() == gagg["stats"][k].keys() for k in agg["stats"])
    assert data["individual_request_metrics"][0].keys() == (
        golden["individual_request_metrics"][0].keys())
    meta = json.loads((out / "experiment_metadata.json").read_text())
    assert meta.keys() == json.loads((GOLDEN / "ms-grid" / "experiment_metadata.json")
                                     .read_text()).keys()
    # exact token counts: the prompt is sized for the served model's tokenizer
    per_request = data["individual_request_metrics"]
    assert {r["num_input_tokens"] for r in per_request} == {50 + CHAT_TEMPLATE_TOKENS}
    assert {r["num_output_tokens"] for r in per_request} == {20}
    assert (out / "genai_bench.log").read_text().count("genai-bench stand-in: ") == 4


def test_numbers_agree_with_the_simulators_ground_truth(sim_proc: Sim, tmp_path: Path) -> None:
    outcome = measure(f"http://127.0.0.1:{sim_proc.port}", tmp_path / "gb", ("D(100,50)",), (4,),
                      max_requests=8)
    [m] = metrics_of(outcome).values()
    truth = [json.loads(line) for line in sim_proc.truth.read_text().splitlines()]
    truth = [t for t in truth if t["endpoint"] == "chat"]
    assert len(truth) == m.num_requests == 8
    per_request = run_file(tmp_path / "gb")["individual_request_metrics"]
    assert sorted(r["num_input_tokens"] for r in per_request) == sorted(
        t["input_tokens"] for t in truth)
    assert all(t["output_tokens"] == 50 for t in truth)
    mean_ttft = sum(t["ttft"] for t in truth) / len(truth)
    mean_tpot = sum(t["tpot"] for t in truth) / len(truth)
    mean_e2e = sum(t["e2e"] for t in truth) / len(truth)
    assert m.tpot.mean == pytest.approx(mean_tpot, rel=0.05)
    assert m.e2e.mean == pytest.approx(mean_e2e, rel=0.05)
    assert abs(m.ttft.mean - mean_ttft) <= 0.05 * mean_ttft + 0.010


def test_a_closed_port_gives_connection_errors_and_exit_1(tmp_path: Path) -> None:
    out = tmp_path / "gb"
    outcome = measure(f"http://127.0.0.1:{free_port()}", out, ("D(50,20)",), (2, 4),
                      max_requests=5)
    assert outcome.returncode == 1
    # as genai-bench: a run without one success cannot be aggregated; the next run is skipped
    for result in outcome.results.values():
        assert isinstance(result, BenchError)
        assert "could not aggregate debug_for_run_D50_20_2.json" in str(result)
    debug = json.loads((out / "debug_for_run_D50_20_2.json").read_text())
    assert debug["aggregated_metrics"]["error_codes_frequency"] == {"503": 5}
    entries = debug["individual_request_metrics"]
    assert len(entries) == 5 and all(e["error_code"] == 503 and e["ttft"] is None
                                     for e in entries)
    assert entries[0]["error_message"].startswith("Connection error: ")
    assert not (out / "debug_for_run_D50_20_4.json").exists()


@pytest.mark.parametrize("sim_proc", [("--sim-noise", "0", "--max-running-requests", "1",
                                       "--max-queued-requests", "1")], indirect=True)
def test_refused_requests_count_as_errors_with_their_status(sim_proc: Sim,
                                                            tmp_path: Path) -> None:
    # one request runs, one waits, the rest are turned away with 503 "queue is full"
    outcome = measure(f"http://127.0.0.1:{sim_proc.port}", tmp_path / "gb", ("D(50,20)",), (4,),
                      max_requests=12)
    [m] = metrics_of(outcome).values()
    assert m.num_requests == 12 and 0 < m.num_errors < 12
    assert m.error_codes == {"503": m.num_errors}
    assert m.error_rate == pytest.approx(m.num_errors / 12)
    entries = run_file(tmp_path / "gb")["individual_request_metrics"]
    refused = [e for e in entries if e["error_code"] == 503]
    assert "The request queue is full." in refused[0]["error_message"]


@pytest.mark.parametrize("sim_proc", [("--sim-noise", "0", "--api-key", "sekret")],
                         indirect=True)
def test_the_api_key_travels_in_model_api_key(sim_proc: Sim, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{sim_proc.port}"
    ok = measure(url, tmp_path / "ok", ("D(10,4)",), (1,), max_requests=2, api_key="sekret")
    assert [m.num_errors for m in metrics_of(ok).values()] == [0]
    assert "sekret" not in " ".join(ok.argv)
    denied = measure(url, tmp_path / "denied", ("D(10,4)",), (1,), max_requests=2)
    assert denied.returncode == 1
    debug = json.loads((tmp_path / "denied" / "debug_for_run_D10_4_1.json").read_text())
    assert debug["aggregated_metrics"]["error_codes_frequency"] == {"401": 2}


class Recorder(BaseHTTPRequestHandler):
    """Answers like SGLang's streaming chat endpoint; keeps each request's headers and body."""

    seen: ClassVar[list[tuple[dict[str, str], dict[str, Any]]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append((dict(self.headers), body))
        role = {"role": "assistant", "content": ""}
        chunks: list[dict[str, Any]] = [{"choices": [{"delta": role}]}]
        chunks += [{"choices": [{"delta": {"content": "ab"[i % 2]}}]} for i in range(3)]
        chunks += [{"choices": [{"delta": {}, "finish_reason": "length"}]},
                   {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3}}]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()  # HTTP/1.0: the body ends when the connection closes
        for c in [*(json.dumps(c) for c in chunks), "[DONE]"]:
            self.wfile.write(f"data: {c}\n\n".encode())
            self.wfile.flush()
            time.sleep(0.005)  # tokens over time (genai-bench drops TPOTs under 1 ms)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_request_body_and_headers_mirror_genai_benchs_sglang_backend(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    Recorder.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        outcome = measure(f"http://127.0.0.1:{server.server_address[1]}", tmp_path / "gb",
                          ("D(30,3)",), (1,), max_requests=2, api_key="k3y",
                          additional_request_params={"temperature": 0.5, "top_p": 0.9,
                                                     "system_message": "be brief"})
    finally:
        server.shutdown()
        server.server_close()
    [m] = metrics_of(outcome).values()
    assert m.num_requests == 2 and m.num_errors == 0
    headers, body = Recorder.seen[0]
    assert headers["Authorization"] == "Bearer k3y"
    assert body == {
        "model": "meta-llama/Llama-3.1-8B-Instruct",
        "messages": [{"role": "system", "content": "be brief"},
                     {"role": "user", "content": body["messages"][1]["content"]}],
        "max_tokens": 3, "temperature": 0.5, "stream": True,
        "stream_options": {"include_usage": True}, "top_p": 0.9, "ignore_eos": True}
    assert for_model(MODEL).count(body["messages"][1]["content"]) == 30
    per_request = run_file(tmp_path / "gb")["individual_request_metrics"]
    assert [(r["num_input_tokens"], r["num_output_tokens"]) for r in per_request] == [(7, 3)] * 2
    assert all(r["tpot"] == pytest.approx(r["output_latency"] / 2) for r in per_request)


def test_scenarios_parse_sample_and_name_files_like_genai_bench() -> None:
    rng = random.Random(0)
    assert parse_scenario("D(100,100)").sample(rng) == (100, 100)
    assert parse_scenario("N(200,50)/(40,10)").sanitized == "N200_50_40_10"  # golden file names
    assert {p.name.split("_text-to-text")[0] for p in (GOLDEN / "ms-grid").glob("*_time_*")} == {
        "D100_100", "N200_50_40_10"}
    tiny = parse_scenario("N(1,50)/(1,50)")
    assert all(i >= 1 and o >= 2 for i, o in (tiny.sample(rng) for _ in range(200)))
    for text in ("U(100,20)", "U(50,100)/(5,20)"):
        samples = [parse_scenario(text).sample(rng) for _ in range(200)]
        low_in, high_in = (1, 100) if text == "U(100,20)" else (50, 100)
        assert all(low_in <= i <= high_in for i, _ in samples)
        assert all(2 <= o <= 20 for _, o in samples)
    for bad in ("D(1)", "X(1,2)", "N(1,2)"):
        with pytest.raises(Exception, match="unsupported traffic scenario"):
            parse_scenario(bad)


def test_prompts_have_the_requested_token_count_and_shared_prefixes() -> None:
    rng = random.Random(1)
    plain = Prompts([], None, None)
    assert [len(plain.make(n, rng).encode()) for n in (1, 7, 50, 999)] == [1, 7, 50, 999]
    shared = Prompts([], 20, None)
    a, b = shared.make(60, rng), shared.make(80, rng)
    assert len(a) == 60 and len(b) == 80 and a[:20] == b[:20] and a[20:24] != b[20:24]
    ratio = Prompts([], None, 0.5)
    c, d = ratio.make(40, rng), ratio.make(40, rng)
    assert c[:20] == d[:20] and len(c) == 40


def test_stats_are_numpys() -> None:
    rng = random.Random(2)
    for n in (1, 2, 7, 100):
        values = [rng.expovariate(3.0) for _ in range(n)]
        got = stats(values)
        assert got["stddev"] == pytest.approx(float(np.std(values)), abs=1e-12)
        for p in (25, 50, 75, 90, 95, 99):
            assert got[f"p{p}"] == pytest.approx(float(np.percentile(values, p)), rel=1e-12)
        assert got["mean"] == pytest.approx(math.fsum(values) / n)


def test_unknown_options_are_a_usage_error_like_clicks(tmp_path: Path) -> None:
    w = Workload(scenarios=("D(1,2)",), concurrency=(1,))
    req = BenchRequest(url="http://127.0.0.1:1", api_model_name="m", tokenizer="tok", workload=w,
                       invocation=Invocation(("D(1,2)",), (1,)), out_dir=tmp_path / "gb")
    argv = build_argv(req, (sys.executable, str(SCRIPT)))
    res = subprocess.run([*argv, "--no-such-flag", "1"],  # noqa: S603
                         capture_output=True, text=True, timeout=30, check=False, cwd=tmp_path)
    assert res.returncode == 2 and "unrecognized arguments: --no-such-flag 1" in res.stderr
    assert not (tmp_path / "gb").exists()
