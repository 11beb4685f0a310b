"""``--autotune-mode=local``: the real default launch command, ``python3 -m sglang.launch_server``,
with the simulator's stand-in for the ``sglang`` package on PYTHONPATH (tests/integration/image).

The ``local_project`` fixture fails a test if any server process of its cases is left behind.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from .harness import Project, outcomes, processes, unique, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CASE = """\
model: {path: meta-llama/Llama-3.1-8B-Instruct, served_name: "{name}", tokenizer: builtin}
gpus: 0
slo: ["error_rate <= 1%"]
"""


def server_logs(project: Project, case: str) -> list[Path]:
    return sorted((project.results() / "runs").glob(f"*/{case}/*/server.log"))


def serving(project: Project, case: str) -> int:
    """The pid of the first server of ``case`` that is answering benchmark requests."""
    def probe() -> int | None:
        for log in server_logs(project, case):
            if "Decode batch" in log.read_text(errors="replace"):
                found = processes("sglang.launch_server", case)
                if found:
                    return found[0][0]
        return None

    pid: int = wait_for(f"a server of {case} serving requests", probe, timeout=120)
    return pid


def test_infeasible_configuration_is_skipped_and_the_other_runs(local_project: Project) -> None:
    name, path = local_project.case(
        "local", CASE + "parameters: {mem-fraction-static: [0.1, 0.85]}\n")
    result = local_project.run(path.name)
    assert result.returncode == 0, result.stdout
    assert outcomes(result) == {"passed": 1, "infeasible": 1}
    assert "INFEASIBLE: not enough memory for the KV cache" in result.stdout
    assert "launch: python3 -m sglang.launch_server --model-path" in result.stdout
    infeasible, feasible = server_logs(local_project, name)
    assert "Not enough memory" in infeasible.read_text()
    assert "The server is fired up and ready to roll!" in feasible.read_text()


def test_server_killed_mid_benchmark_errors_and_the_next_runs(local_project: Project) -> None:
    name, path = local_project.case(
        "local-kill", CASE + "parameters: {schedule-policy: [fcfs, lpm]}\n", requests=80)
    proc = local_project.popen(path.name)
    try:
        os.kill(serving(local_project, name), signal.SIGKILL)
        assert proc.wait(timeout=300) == 1
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    out = (local_project.path / "pytest.out").read_text()
    assert "1 passed, 1 error" in out, out
    assert "the server exited during the benchmark" in out
    assert "Decode batch" in out  # the server log's tail


def test_server_never_healthy_errors_after_the_timeout(local_project: Project) -> None:
    name, path = local_project.case("local-slow", CASE)
    local_project.env["AUTOTUNE_SIM_ARGS"] = "--sim-startup-scale 10"
    started = time.monotonic()
    result = local_project.run(path.name, "--autotune-deploy-timeout=3s")
    assert time.monotonic() - started < 120
    assert result.returncode == 1
    assert outcomes(result) == {"error": 1}
    assert "local server was not ready after 3 s (/health answered 503)" in result.stdout
    assert processes("sglang.launch_server", name) == []


def test_sigint_leaves_no_process_and_the_key_stays_off_the_command_line(
    local_project: Project,
) -> None:
    key = unique("sk-local-key")
    local_project.env.update({"LOCAL_KEY": key, "AUTOTUNE_SHIM_ECHO_SECRETS": "1"})
    name, path = local_project.case("local-int", CASE + "api_key_env: LOCAL_KEY\n", requests=400)
    proc = local_project.popen(path.name)
    try:
        pid = serving(local_project, name)
        cmdline = (Path("/proc") / str(pid) / "cmdline").read_bytes().split(b"\0")
        assert key.encode() not in b" ".join(cmdline)
        config = cmdline[cmdline.index(b"--config") + 1].decode()
        assert not Path(config).exists()  # read at start-up, then removed
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=120) in (1, 2)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    wait_for("the server to go", lambda: not processes("sglang.launch_server", name), timeout=5)
    assert not processes("genai-bench", str(local_project.path))
    (log,) = server_logs(local_project, name)
    assert "api_key='***'" in log.read_text()
    leaks = [p.relative_to(local_project.path).as_posix() for p in local_project.path.rglob("*")
             if p.is_file() and key in p.read_text(errors="replace")]
    # genai-bench records --model-api-key; the runner scrubs its files also when interrupted
    assert leaks == []


def test_a_closed_terminal_leaves_no_process(local_project: Project) -> None:
    """A closed terminal (a lost SSH connection, a killed tmux session) sends SIGHUP to the
    process group: pytest unwinds as on Ctrl-C and the server goes with it."""
    name, path = local_project.case("hangup", CASE, requests=400)
    proc = local_project.popen(path.name)
    try:
        serving(local_project, name)
        os.killpg(proc.pid, signal.SIGHUP)
        assert proc.wait(timeout=120) in (1, 2), (local_project.path / "pytest.out").read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    wait_for("the server to go", lambda: not processes("sglang.launch_server", name), timeout=5)
    assert not processes("genai-bench", str(local_project.path))
