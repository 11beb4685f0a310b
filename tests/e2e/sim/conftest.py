"""Start the simulator as a subprocess on a free port; always kill it afterwards."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ...polling import wait_for

ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Sim:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    truth: Path

    def request(self, method: str, path: str, body: Any = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            data = body if isinstance(body, bytes) else (
                json.dumps(body).encode() if body is not None else None)
            hdrs = {"content-type": "application/json", **(headers or {})}
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def logs(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_ready(self, timeout: float = 30.0) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"simulator exited {self.proc.returncode}:\n{self.logs()}")
            return self.request("GET", "/health")[0] == 200

        wait_for("the simulator to answer /health", ready, timeout=timeout, poll=0.05)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


def start_sim(tmp: Path, *flags: str, model: str = "meta-llama/Llama-3.1-8B-Instruct") -> Sim:
    port = free_port()
    log = tmp / f"sim-{port}.log"
    truth = tmp / f"truth-{port}.jsonl"
    argv = [sys.executable, "-m", "pytest_autotune.sim", "--model-path", model, "--port",
            str(port), "--sim-startup-scale", "0.01", "--sim-truth-log", str(truth), *flags]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with log.open("wb") as fh:
        proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT,  # noqa: S603
                                cwd=str(ROOT), env=env)
    return Sim(proc, port, log, truth)


@pytest.fixture
def sim_factory(tmp_path: Path) -> Iterator[Any]:
    started: list[Sim] = []

    def make(*flags: str, model: str = "meta-llama/Llama-3.1-8B-Instruct",
             ready: bool = True) -> Sim:
        sim = start_sim(tmp_path, *flags, model=model)
        started.append(sim)
        if ready:
            sim.wait_ready()
        return sim

    yield make
    for sim in started:
        sim.stop()


@pytest.fixture
def sim(sim_factory: Any) -> Sim:
    return sim_factory("--sim-noise", "0")  # type: ignore[no-any-return]
