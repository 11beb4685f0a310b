"""Does the measurement chain see what the simulator did? genai-bench against the ground truth.

    .venv/bin/python benchmarks/sim_fidelity.py [--quick] [--skip-capacity]

Part 1 runs the real genai-bench CLI against the simulator (Llama-3.1-8B on H100) for D(100,100)
and D(1000,200) at concurrency 1, 8, 32 and 64, one genai-bench invocation per point, and
compares its TTFT / TPOT / E2E mean and p90 with the simulator's ground-truth log (true token
times). It also records the CPU the simulator and genai-bench used, to show where the 2-core
machine becomes the limit.

Part 2 measures how many streamed tokens per second the simulator sustains on one core: the
server is pinned to core 0 and a lean asyncio client (counting chunks, no JSON parsing) to
core 1, with a model/GPU whose modelled throughput exceeds what one core can stream.

Writes benchmarks/results/sim_fidelity.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from pytest_autotune.sim.sensitivity import percentile

ROOT = Path(__file__).resolve().parents[1]
TOKENIZER = ROOT / "pytest_autotune" / "data" / "tokenizer"
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its waited-for children."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(x) for x in fields[11:15]) / TICKS


class Sim:
    def __init__(self, tmp: Path, flags: list[str], pin: str | None = None) -> None:
        self.port = free_port()
        self.truth = tmp / f"truth-{self.port}.jsonl"
        self.log = tmp / f"sim-{self.port}.log"
        argv = [sys.executable, "-m", "pytest_autotune.sim", "--port", str(self.port),
                "--sim-startup-scale", "0.01", "--sim-truth-log", str(self.truth), *flags]
        if pin is not None and shutil.which("taskset"):
            argv = ["taskset", "-c", pin, *argv]
        with self.log.open("wb") as fh:
            self.proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT,  # noqa: S603
                                         cwd=str(ROOT))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health",
                                            timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"simulator did not start:\n{self.log.read_text()}")

    def info(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/get_server_info",
                                    timeout=5) as r:
            return json.loads(r.read())  # type: ignore[no-any-return]

    def truth_lines(self) -> list[dict[str, Any]]:
        if not self.truth.exists():
            return []
        return [json.loads(x) for x in self.truth.read_text().splitlines()]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def stats(values: list[float]) -> dict[str, float]:
    return {"mean": sum(values) / len(values), "p90": percentile(values, 90)}


def genai_bench_point(sim: Sim, tmp: Path, scenario: str, conc: int, max_requests: int,
                      pin: str | None) -> dict[str, Any]:
    exe = Path(sys.executable).parent / "genai-bench"
    folder = f"run-{scenario.replace(',', '_').replace('(', '').replace(')', '')}-c{conc}"
    argv = [str(exe), "benchmark", "--api-backend", "sglang",
            "--api-base", f"http://127.0.0.1:{sim.port}", "--api-key", "dummy",
            "--api-model-name", "meta-llama/Llama-3.1-8B-Instruct",
            "--model-tokenizer", str(TOKENIZER), "--task", "text-to-text",
            "--traffic-scenario", scenario, "--num-concurrency", str(conc),
            "--max-requests-per-run", str(max_requests), "--max-time-per-run", "1",
            "--experiment-base-dir", str(tmp), "--experiment-folder-name", folder,
            "--log-dir", str(tmp / "logs")]
    if pin is not None and shutil.which("taskset"):
        argv = ["taskset", "-c", pin, *argv]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "HF_DATASETS_OFFLINE": "1", "ENABLE_UI": "false"}
    before = len(sim.truth_lines())
    cpu0 = cpu_seconds(sim.proc.pid)
    kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    res = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600,  # noqa: S603
                         cwd=str(tmp), check=False)
    wall = time.monotonic() - t0
    sim_cpu = cpu_seconds(sim.proc.pid) - cpu0
    kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    bench_cpu = (kids1.ru_utime + kids1.ru_stime) - (kids0.ru_utime + kids0.ru_stime)
    if res.returncode != 0:
        raise RuntimeError(f"genai-bench failed ({res.returncode}):\n{res.stderr[-3000:]}")
    files = [p for p in (tmp / folder).rglob("*.json")
             if "aggregated_metrics" in p.read_text(errors="replace")]
    data = json.loads(files[0].read_text())
    agg = data["aggregated_metrics"]
    scale = 1000.0 if data.get("_time_unit") == "ms" else 1.0
    truth = [t for t in sim.truth_lines()[before:] if t["endpoint"] == "chat"]
    ok = [r for r in data["individual_request_metrics"] if r.get("error_code") is None]
    run_s = float(agg["run_duration"])
    row: dict[str, Any] = {
        "scenario": scenario, "concurrency": conc, "bench_requests": len(ok),
        "truth_requests": len(truth), "run_duration_s": run_s, "wall_s": round(wall, 2),
        "sim_cpu_s": round(sim_cpu, 2), "bench_cpu_s": round(bench_cpu, 2),
        "sim_cpu_share_of_run": round(sim_cpu / run_s, 3) if run_s else None,
        "bench_output_tok_s": agg["mean_output_throughput_tokens_per_s"],
        "sim_lag_max_s": sim.info()["sim"]["engine"]["max_lag_s"],
    }
    for name, bkey, tkey in (("ttft", "ttft", "ttft"), ("tpot", "tpot", "tpot"),
                             ("e2e", "e2e_latency", "e2e")):
        b = [r[bkey] / scale for r in ok if r.get(bkey) is not None]
        t = [x[tkey] for x in truth if x.get(tkey) is not None]
        bs, ts = stats(b), stats(t)
        for stat in ("mean", "p90"):
            row[f"{name}_{stat}_bench"] = bs[stat]
            row[f"{name}_{stat}_truth"] = ts[stat]
            row[f"{name}_{stat}_err"] = (bs[stat] - ts[stat]) / ts[stat]
    sent_lag = [x["first_token_sent"] - x["first_token"] for x in truth]
    row["first_token_send_lag_p90_ms"] = percentile(sent_lag, 90) * 1e3
    ttft_ok = abs(row["ttft_mean_bench"] - row["ttft_mean_truth"]) <= (
        0.05 * row["ttft_mean_truth"] + 0.003)
    row["within_target"] = bool(abs(row["tpot_mean_err"]) <= 0.05
                                and abs(row["e2e_mean_err"]) <= 0.05 and ttft_ok)
    return row


async def _lean_point(port: int, concurrency: int, requests: int, input_len: int,
                      output_len: int) -> list[tuple[float, float, float]]:
    """A minimal asyncio client (keep-alive, no JSON parsing): (start, first token, end)."""
    prompt = "x" * max(1, input_len - len("<|user|>\n\n<|assistant|>\n"))
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": prompt}],
                       "max_tokens": output_len, "stream": True, "ignore_eos": True,
                       "stream_options": {"include_usage": True}}).encode()
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: "
            f"application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    left = [requests]
    out: list[tuple[float, float, float]] = []

    async def user() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while left[0] > 0:
                left[0] -= 1
                start = time.monotonic()
                writer.write(head + body)
                await reader.readuntil(b"\r\n\r\n")
                first = 0.0
                while True:
                    size = int((await reader.readline()).strip(), 16)
                    data = await reader.readexactly(size + 2)
                    if size == 0:
                        break
                    if not first and b'"content":"' in data.replace(b'"content":""', b""):
                        first = time.monotonic()
                out.append((start, first, time.monotonic()))
        finally:
            writer.close()

    await asyncio.gather(*(user() for _ in range(concurrency)))
    return out


def lean_point(sim: Sim, scenario: str, conc: int, n: int) -> dict[str, Any]:
    inp, outp = (int(x) for x in scenario[2:-1].split(","))
    before = len(sim.truth_lines())
    res = asyncio.run(_lean_point(sim.port, conc, n, inp, outp))
    truth = [t for t in sim.truth_lines()[before:] if t["endpoint"] == "chat"]
    ttft = [f - s for s, f, _ in res]
    e2e = [e - s for s, _, e in res]
    tpot = [(e - f) / (outp - 1) for s, f, e in res]
    row: dict[str, Any] = {}
    for name, vals, key in (("ttft", ttft, "ttft"), ("tpot", tpot, "tpot"), ("e2e", e2e, "e2e")):
        t = [x[key] for x in truth]
        row[f"lean_{name}_mean_err"] = (sum(vals) / len(vals)) / (sum(t) / len(t)) - 1
        row[f"lean_{name}_mean_diff_ms"] = (sum(vals) / len(vals) - sum(t) / len(t)) * 1e3
    return row


async def _stream_client(port: int, concurrency: int, duration: float, max_tokens: int,
                         prompt: str) -> dict[str, float]:
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": prompt}],
                       "max_tokens": max_tokens, "stream": True, "ignore_eos": True,
                       "stream_options": {"include_usage": True}}).encode()
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
            f"\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    done = {"requests": 0, "chunks": 0, "bytes": 0}
    stop_at = time.monotonic() + duration

    async def user() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.monotonic() < stop_at:
                writer.write(head + body)
                await reader.readuntil(b"\r\n\r\n")
                while True:
                    size = int((await reader.readline()).strip(), 16)
                    data = await reader.readexactly(size + 2)
                    if size == 0:
                        break
                    done["chunks"] += data.count(b"data: ")
                    done["bytes"] += size
                done["requests"] += 1
        finally:
            writer.close()

    await asyncio.gather(*(user() for _ in range(concurrency)))
    return {k: float(v) for k, v in done.items()}


def capacity(tmp: Path, duration: float, dp: int = 4, conc: int = 256) -> dict[str, Any]:
    """Streamed tokens/s the simulator sustains on one core (server on core 0, client core 1)."""
    sim = Sim(tmp, ["--model-path", "llama-3.2-1b", "--sim-gpu", "h200", "--sim-noise", "0",
                    "--dp-size", str(dp)], pin="0")
    try:
        before = len(sim.truth_lines())
        cpu0 = cpu_seconds(sim.proc.pid)
        t0 = time.monotonic()
        if shutil.which("taskset"):
            os.sched_setaffinity(0, {1})
        counts = asyncio.run(_stream_client(sim.port, conc, duration, 400, "hello " * 20))
        wall = time.monotonic() - t0
        cpu = cpu_seconds(sim.proc.pid) - cpu0
        truth = sim.truth_lines()[before:]
        tokens = sum(x["output_tokens"] for x in truth)
        span = (max(x["last_token"] for x in truth) - min(x["arrival"] for x in truth))
        send_lag = [x["last_token_sent"] - x["last_token"] for x in truth]
        info = sim.info()["sim"]["engine"]
        return {"model": f"llama-3.2-1b on H200, dp={dp}", "concurrency": conc,
                "wall_s": round(wall, 2), "requests": len(truth),
                "streamed_tokens": tokens, "chunks": counts["chunks"],
                "tokens_per_s_wall": round(tokens / wall, 1),
                "tokens_per_s_modelled": round(tokens / span, 1) if span else None,
                "sim_cpu_utilisation": round(cpu / wall, 3),
                "tokens_per_cpu_second": round(tokens / cpu, 1) if cpu else None,
                "tokens_per_chunk": round(tokens / max(counts["chunks"], 1), 2),
                "last_token_send_lag_p90_ms": round(percentile(send_lag, 90) * 1e3, 2),
                "engine": info}
    finally:
        sim.stop()
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="one scenario, concurrency 1 and 8")
    ap.add_argument("--skip-capacity", action="store_true")
    ap.add_argument("--only-capacity", action="store_true")
    ap.add_argument("--capacity-seconds", type=float, default=8.0)
    opts = ap.parse_args()
    scenarios = ["D(100,100)"] if opts.quick else ["D(100,100)", "D(1000,200)"]
    concs = [1, 8] if opts.quick else [1, 8, 32, 64]
    if opts.only_capacity:
        scenarios = []
    out: dict[str, Any] = {"rows": []}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        sim = Sim(tmp, ["--model-path", "meta-llama/Llama-3.1-8B-Instruct", "--sim-seed", "3"])
        try:
            if not scenarios:
                sim.stop()
            for scenario in scenarios:
                for conc in concs:
                    n = max(16, 3 * conc) if scenario == "D(100,100)" else max(12, 2 * conc)
                    row = genai_bench_point(sim, tmp, scenario, conc, n, None)
                    row.update(lean_point(sim, scenario, conc, n))
                    out["rows"].append(row)
                    print(json.dumps({k: row[k] for k in (
                        "scenario", "concurrency", "bench_requests", "ttft_mean_err",
                        "tpot_mean_err", "e2e_mean_err", "sim_cpu_share_of_run",
                        "lean_ttft_mean_diff_ms", "lean_tpot_mean_err", "lean_e2e_mean_err")}),
                          flush=True)
        finally:
            sim.stop()
        if not opts.skip_capacity:
            out["capacity"] = capacity(tmp, opts.capacity_seconds)
    print()
    hdr = (f"{'scenario':12} {'c':>3} {'n':>4}  {'TTFT mean ms b/t':>17} {'p90 b/t':>15}  "
           f"{'TPOT mean ms b/t':>17} {'p90 b/t':>13}  {'E2E mean ms b/t':>17} "
           f"{'p90 b/t':>15}  {'simCPU':>6}  ok  lean client: TTFT diff ms, TPOT/E2E err")
    print(hdr)
    for r in out["rows"]:
        def pair(m: str, s: str, r: dict[str, Any] = r) -> str:
            return f"{r[f'{m}_{s}_bench'] * 1e3:.1f}/{r[f'{m}_{s}_truth'] * 1e3:.1f}"
        print(f"{r['scenario']:12} {r['concurrency']:>3} {r['bench_requests']:>4}  "
              f"{pair('ttft', 'mean'):>17} {pair('ttft', 'p90'):>15}  "
              f"{pair('tpot', 'mean'):>17} {pair('tpot', 'p90'):>13}  "
              f"{pair('e2e', 'mean'):>17} {pair('e2e', 'p90'):>15}  "
              f"{r['sim_cpu_share_of_run']:>6}  {'yes' if r['within_target'] else 'NO ':3}  "
              f"{r['lean_ttft_mean_diff_ms']:+.1f} {r['lean_tpot_mean_err']:+.1%} "
              f"{r['lean_e2e_mean_err']:+.1%}")
    if "capacity" in out:
        print("\none-core capacity:", json.dumps(out["capacity"]))
    dest = Path(__file__).resolve().parent / "results" / "sim_fidelity.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(out, indent=2))
    print(f"wrote {dest}")


if __name__ == "__main__":
    main()
