"""The simulator as a process: start-up, endpoints, streaming contract, failures, shutdown."""

from __future__ import annotations

import http.client
import json
import signal
import time
from typing import Any

import pytest

from pytest_autotune.sim.tokens import for_model

from ...polling import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

CHAT = {"model": "x", "messages": [{"role": "user", "content": "Or ten times happier"}],
        "max_tokens": 12, "temperature": 0.0, "stream": True,
        "stream_options": {"include_usage": True}, "ignore_eos": True}


Events = list[tuple[float, Any]]
#: the simulators here serve Llama-3.1-8B, so they count with Llama-3.1's tokenizer
TOK = for_model("meta-llama/Llama-3.1-8B-Instruct")


def stream(port: int, path: str, body: dict[str, Any]) -> tuple[Events, dict[str, str]]:
    """POST and read the chunked SSE stream; returns (arrival time, parsed event) pairs."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", path, body=json.dumps(body), headers={"content-type": "application/json"})
    resp = conn.getresponse()
    assert resp.status == 200
    headers = {k.lower(): v for k, v in resp.getheaders()}
    events: list[tuple[float, Any]] = []
    buf = b""
    while True:
        chunk = resp.read1(65536)
        if not chunk:
            break
        buf += chunk
        while b"\n\n" in buf:
            line, buf = buf.split(b"\n\n", 1)
            assert line.startswith(b"data: ")
            payload = line[6:]
            events.append((time.monotonic(), "[DONE]" if payload == b"[DONE]"
                           else json.loads(payload)))
    conn.close()
    return events, headers


def test_chat_stream_contract(sim: Any) -> None:
    events, headers = stream(sim.port, "/v1/chat/completions", CHAT)
    assert headers["transfer-encoding"] == "chunked"
    assert headers["content-type"].startswith("text/event-stream")
    objs = [e for _, e in events]
    assert objs[-1] == "[DONE]"
    first = objs[0]["choices"][0]
    assert first["delta"] == {"role": "assistant", "content": ""}
    content = [o["choices"][0]["delta"]["content"] for o in objs[1:-3]]
    assert all(content) and TOK.count("".join(content)) == 12
    finish = objs[-3]["choices"][0]
    assert finish["finish_reason"] == "length"
    usage = objs[-2]
    assert usage["choices"] == []
    prompt = TOK.count(TOK.render_chat(CHAT["messages"]))  # type: ignore[arg-type]
    assert prompt == 39  # 35 of them Llama-3.1's template
    assert usage["usage"] == {"prompt_tokens": prompt, "completion_tokens": 12,
                              "total_tokens": prompt + 12, "prompt_tokens_details": None}
    # tokens arrive over time, not in one piece at the end
    assert events[-1][0] - events[1][0] > 0.05


def test_completions_and_non_stream(sim: Any) -> None:
    status, body = sim.request("POST", "/v1/completions",
                               {"prompt": "abc", "max_tokens": 7, "ignore_eos": True})
    data = json.loads(body)
    assert status == 200 and data["object"] == "text_completion"
    assert TOK.count(data["choices"][0]["text"]) == 7
    assert data["usage"]["prompt_tokens"] == 1 and data["usage"]["completion_tokens"] == 7
    events, _ = stream(sim.port, "/v1/completions",
                       {"prompt": "abc", "max_completion_tokens": 5, "max_tokens": 5,
                        "stream": True, "ignore_eos": True})
    assert "role" not in json.dumps(events[0][1])
    text = "".join(e["choices"][0]["text"] for _, e in events[:-1] if e["choices"])
    assert TOK.count(text) == 5
    status, body = sim.request("POST", "/v1/chat/completions",
                               {**CHAT, "stream": False, "max_completion_tokens": 4})
    data = json.loads(body)
    assert data["choices"][0]["message"]["role"] == "assistant"
    assert data["usage"]["completion_tokens"] == 4


def test_info_endpoints(sim: Any) -> None:
    status, body = sim.request("GET", "/v1/models")
    assert status == 200
    assert json.loads(body)["data"][0]["id"] == "meta-llama/Llama-3.1-8B-Instruct"
    info = json.loads(sim.request("GET", "/get_server_info")[1])
    assert info["mem_fraction_static"] == 0.835 and info["chunked_prefill_size"] == 8192
    assert info["cuda_graph_max_bs"] == 256 and info["max_running_requests"] == 2048
    assert info["tp_size"] == 1 and info["schedule_policy"] == "fcfs"
    assert info["max_total_num_tokens"] > 300_000
    assert info["sim"]["gpu"] == "H100-SXM" and info["sim"]["model"] == "llama-3.1-8b"
    assert json.loads(sim.request("GET", "/get_model_info")[1])["is_generation"] is True
    assert sim.request("GET", "/metrics")[0] == 404  # only with --enable-metrics
    assert sim.request("GET", "/health_generate")[0] == 200
    status, body = sim.request("POST", "/flush_cache")
    assert status == 200 and body.startswith(b"Cache flushed.")


def test_logs_say_simulator_and_scheduler_line(sim: Any) -> None:
    logs = sim.logs()
    assert "pytest-autotune SGLang simulator" in logs.splitlines()[0]
    assert "max_total_num_tokens=" in logs and "available_gpu_mem=" in logs
    assert "The server is fired up and ready to roll!" in logs


def test_health_503_while_starting(sim_factory: Any) -> None:
    sim = sim_factory("--sim-startup-scale", "0.3", ready=False)
    seen: set[int] = set()

    def healthy() -> bool:
        seen.add(sim.request("GET", "/health")[0])
        return 200 in seen

    wait_for("/health to answer 200", healthy, timeout=30, poll=0.05)
    assert seen == {503, 200}
    assert "Capture cuda graph end" in sim.logs()


def test_late_bind_refuses_connections_while_loading(sim_factory: Any) -> None:
    sim = sim_factory("--sim-startup-scale", "0.2", "--sim-late-bind", ready=False)
    wait_for("the model load to begin", lambda: "Load weight begin" in sim.logs(), timeout=30)
    with pytest.raises(OSError):
        sim.request("GET", "/health")
    sim.wait_ready()


def test_metrics_api_key_and_busy_flush(sim_factory: Any) -> None:
    sim = sim_factory("--enable-metrics", "--api-key", "sekret", "--sim-noise", "0")
    auth = {"authorization": "Bearer sekret"}
    assert sim.request("GET", "/v1/models")[0] == 401
    assert sim.request("GET", "/v1/models", headers=auth)[0] == 200
    import threading
    t = threading.Thread(target=sim.request, args=("POST", "/v1/completions",
                                                   {"prompt": "x", "max_tokens": 200,
                                                    "ignore_eos": True}, auth))
    t.start()
    wait_for("the request to run", lambda: json.loads(
        sim.request("GET", "/get_load", headers=auth)[1])[0]["num_reqs"], timeout=10)
    assert sim.request("POST", "/flush_cache", headers=auth)[0] == 400
    t.join()
    text = sim.request("GET", "/metrics")[1].decode()
    for name in ("sglang:num_running_reqs", "sglang:num_queue_reqs", "sglang:token_usage",
                 "sglang:gen_throughput", "sglang:cache_hit_rate", "sglang:prompt_tokens_total",
                 "sglang:generation_tokens_total", "sglang:num_requests_total",
                 "sglang:time_to_first_token_seconds_bucket",
                 "sglang:inter_token_latency_seconds_bucket",
                 "sglang:e2e_request_latency_seconds_bucket", "sglang:queue_time_seconds_bucket"):
        assert name in text
    assert 'sglang:generation_tokens_total{model_name="meta-llama/Llama-3.1-8B-Instruct"' in text


@pytest.mark.parametrize(("flags", "message"), [
    (["--mem-fraction-static", "0.15"],
     "RuntimeError: Not enough memory. Please try to increase --mem-fraction-static. "
     "Current value: "),
    (["--mem-fraction-static", "0.99"],
     "Exception: Capture cuda graph failed: CUDA out of memory. Tried to allocate"),
    (["--tp", "4", "--dp", "4"], "RuntimeError: CUDA error: invalid device ordinal"),
    (["--tp", "3"], "AssertionError"),
])
def test_startup_failures(sim_factory: Any, flags: list[str], message: str) -> None:
    sim = sim_factory(*flags, ready=False)
    assert sim.proc.wait(30) == 1
    logs = sim.logs()
    assert message in logs
    assert "Scheduler hit an exception: Traceback (most recent call last):" in logs
    assert "Received sigquit from a child process. It usually means the child failed." in logs
    assert "The server is fired up" not in logs


def test_sigterm_exits_cleanly(sim: Any) -> None:
    sim.proc.send_signal(signal.SIGTERM)
    assert sim.proc.wait(10) == 0
    assert "Traceback" not in sim.logs()
    with pytest.raises(OSError):
        sim.request("GET", "/health")


def test_sigint_exits_cleanly_during_startup(sim_factory: Any) -> None:
    sim = sim_factory("--sim-startup-scale", "1.0", ready=False)
    wait_for("the model load to begin", lambda: "Load weight begin" in sim.logs(), timeout=30)
    sim.proc.send_signal(signal.SIGINT)
    assert sim.proc.wait(10) == 0
    assert "Traceback" not in sim.logs()


def test_truth_log(sim: Any) -> None:
    sim.request("POST", "/v1/completions", {"prompt": "hello world", "max_tokens": 9,
                                            "ignore_eos": True})

    def logged() -> list[dict[str, Any]]:
        lines = sim.truth.read_text().splitlines() if sim.truth.exists() else []
        return [r for r in map(json.loads, lines) if r["input_tokens"] == TOK.count("hello world")]

    user = wait_for("the request in the truth log", logged, timeout=10)
    assert len(user) == 1
    r = user[0]
    assert r["output_tokens"] == 9 and r["arrival"] < r["first_token"] < r["last_token"]
    assert r["ttft"] == pytest.approx(r["first_token"] - r["arrival"], abs=1e-5)
    for key in ("queue_time", "cached_tokens", "prefix_hit", "first_token_sent"):
        assert key in r


def test_client_disconnect_aborts_the_request(sim_factory: Any) -> None:
    import socket
    sim = sim_factory("--sim-noise", "0", "--enable-metrics")
    body = json.dumps({**CHAT, "max_tokens": 5000}).encode()
    with socket.create_connection(("127.0.0.1", sim.port)) as s:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: "
                  + str(len(body)).encode() + b"\r\n\r\n" + body)
        got = b""
        while b"data: " not in got:
            got += s.recv(65536)
    def idle() -> list[dict[str, Any]] | None:
        load: list[dict[str, Any]] = json.loads(sim.request("GET", "/get_load")[1])
        return load if load[0]["num_reqs"] == 0 else None

    load = wait_for("the aborted request to leave the server", idle, timeout=5)
    assert load[0]["num_waiting_reqs"] == 0
    assert "sglang:num_aborted_requests_total" in sim.request("GET", "/metrics")[1].decode()
    assert not sim.truth.exists() or all(
        json.loads(line)["output_tokens"] != 5000 for line in sim.truth.read_text().splitlines())


def test_request_validation_and_queue_limit(sim_factory: Any) -> None:
    sim = sim_factory("--sim-noise", "0", "--context-length", "1000", "--max-queued-requests",
                      "0")
    status, body = sim.request("POST", "/v1/completions", {"prompt": " x" * 2000,
                                                           "max_tokens": 5})
    assert status == 400 and b"longer than the model's context length" in body
    status, body = sim.request("POST", "/v1/completions", {"prompt": " x" * 100,
                                                           "max_tokens": 950})
    assert status == 400 and b"maximum context length" in body
    status, body = sim.request("POST", "/v1/completions", {"prompt": "x", "max_tokens": 5})
    assert status == 503 and b"The request queue is full." in body
    assert sim.request("POST", "/v1/completions", b"not json")[0] == 400


def test_native_generate_endpoint(sim: Any) -> None:
    status, body = sim.request("POST", "/generate", {"text": "hello", "sampling_params": {
        "max_new_tokens": 6, "ignore_eos": True}})
    data = json.loads(body)
    assert status == 200 and TOK.count(data["text"]) == 6
    assert data["meta_info"]["completion_tokens"] == 6
    events, _ = stream(sim.port, "/generate", {"text": "hello", "stream": True,
                                               "sampling_params": {"max_new_tokens": 4,
                                                                   "ignore_eos": True}})
    assert events[-1][1] == "[DONE]" and TOK.count(events[-2][1]["text"]) == 4


def test_without_ignore_eos_requests_may_stop_early(sim: Any) -> None:
    lengths = []
    for _ in range(12):
        data = json.loads(sim.request("POST", "/v1/completions",
                                      {"prompt": "p", "max_tokens": 600})[1])
        lengths.append(data["usage"]["completion_tokens"])
        assert (data["choices"][0]["finish_reason"] == "length") == (lengths[-1] == 600)
    assert min(lengths) < 600


def test_log_requests(sim_factory: Any) -> None:
    first = sim_factory("--sim-noise", "0", "--log-requests")
    first.request("POST", "/v1/completions", {"prompt": "abc", "max_tokens": 3})
    wait_for("the finish line in the log", lambda: "Finish: obj=GenerateReqInput(" in
             first.logs(), timeout=10)
    assert "Receive: obj=GenerateReqInput(" in first.logs()


def test_second_server_on_a_bound_port_exits_1(sim_factory: Any) -> None:
    import subprocess
    import sys
    first = sim_factory("--sim-noise", "0")
    res = subprocess.run([sys.executable, "-m", "pytest_autotune.sim", "--model-path",  # noqa: S603
                          "llama-3.1-8b", "--port", str(first.port), "--sim-startup-scale", "0"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 1
    assert "error while attempting to bind on address" in res.stderr
