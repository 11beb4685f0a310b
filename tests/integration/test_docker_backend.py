"""``--autotune-mode=docker`` against a real Docker engine, with the simulator image.

Each test runs ``pytest <case>.yaml --autotune-mode=docker`` in a subprocess, as a user would,
and the ``docker_project`` fixture fails it if any container of its cases is left behind.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from .harness import ROOT, Project, containers, outcomes, processes, unique, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.docker, pytest.mark.slow]

CPU_CASE = """\
model: {path: meta-llama/Llama-3.1-8B-Instruct, tokenizer: builtin}
gpus: 0
env: [AUTOTUNE_SIM_ARGS]
slo: ["error_rate <= 1%"]
"""
TWO_CONFIGS = CPU_CASE + "parameters: {schedule-policy: [fcfs, lpm]}\n"


def config_dirs(project: Project, case: str) -> list[Path]:
    return sorted(p for p in (project.results() / "runs").glob(f"*/{case}/*") if p.is_dir())


def running_container(client: Any, case: str) -> Any:
    """The first container of ``case`` that serves the benchmark's requests."""
    def probe() -> Any:
        for container in containers(client, case=case):
            if container.status != "running":
                continue
            ports = container.attrs["NetworkSettings"]["Ports"].get("30000/tcp") or []
            port = next((b["HostPort"] for b in ports if b.get("HostPort")), None)
            if port and processes("genai-bench", f"127.0.0.1:{port}") and \
                    b"Decode batch" in container.logs(tail=20):
                return container
        return None

    return wait_for(f"a benchmark against a container of {case}", probe, timeout=120)


def test_case_file_end_to_end_with_an_infeasible_configuration(
    docker_project: Project, docker_client: Any,
) -> None:
    """The example case: mem-fraction-static 0.1 does not fit (infeasible), 0.85 runs."""
    name = unique("docker-sim")
    text = (ROOT / "tests" / "integration" / "cases" / "docker-sim.yaml").read_text()
    (docker_project.path / f"{name}.yaml").write_text(text.replace("name: docker-sim",
                                                                   f"name: {name}"))
    docker_project.cases.append(name)
    result = docker_project.run(f"{name}.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert outcomes(result) == {"passed": 2, "infeasible": 2}
    assert "INFEASIBLE: not enough memory for the KV cache" in result.stdout
    assert "launch: docker run --rm --shm-size 32g --ipc host" in result.stdout
    infeasible, feasible = config_dirs(docker_project, name)
    assert "Not enough memory. Please try to increase --mem-fraction-static" in (
        infeasible / "server.log").read_text()
    assert "The server is fired up and ready to roll!" in (feasible / "server.log").read_text()
    record = json.loads((feasible / "deploy.json").read_text())
    labels = record["plan"]["labels"]
    assert labels["pytest-autotune.case"] == name
    assert labels["pytest-autotune.owner"].split(":")[0]  # <host>:<pid>:<start>
    assert record["plan"]["gpus"] == 0 and record["host_port"] > 0
    assert record["plan"]["command"][:3] == ["python3", "-m", "sglang.launch_server"]
    assert record["start_to_ready_seconds"] > 0 and "teardown_seconds" in record
    report = json.loads((docker_project.results() / f"{name}_results.json").read_text())
    # the image runs the simulator, and the server says so: the results say SIMULATED
    assert (report["mode"], report["simulated"]) == ("docker", True)
    assert (report["total_experiments"], report["successful_experiments"]) == (2, 1)


def test_container_killed_mid_benchmark_errors_with_its_log_and_the_next_runs(
    docker_project: Project, docker_client: Any,
) -> None:
    name, path = docker_project.case("killed", TWO_CONFIGS, requests=80)
    proc = docker_project.popen(path.name)
    try:
        running_container(docker_client, name).kill()  # requests in flight
        assert proc.wait(timeout=300) == 1
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    out = (docker_project.path / "pytest.out").read_text()
    assert "1 passed, 1 error" in out, out
    assert "the server exited during the benchmark" in out
    assert "--- server log (last lines) ---" in out
    assert "Decode batch" in out  # the tail of the killed server's own log


def test_server_never_healthy_errors_after_the_timeout_and_leaves_nothing(
    docker_project: Project, docker_client: Any,
) -> None:
    name, path = docker_project.case("never-ready", CPU_CASE)
    docker_project.env["AUTOTUNE_SIM_ARGS"] = "--sim-startup-scale 10"  # minutes of start-up
    started = time.monotonic()
    result = docker_project.run(path.name, "--autotune-deploy-timeout=3s")
    assert time.monotonic() - started < 120
    assert result.returncode == 1, result.stdout
    assert outcomes(result) == {"error": 1}
    assert "was not ready after 3 s (/health answered 503)" in result.stdout
    assert "--- server log (last lines) ---" in result.stdout
    assert containers(docker_client, case=name) == []
    (folder,) = config_dirs(docker_project, name)
    assert json.loads((folder / "deploy.json").read_text())["exit"]["Status"] == "exited"


@pytest.mark.parametrize(("workers", "how"), [
    (0, "sigint-group"), (2, "sigint-group"), (0, "sigterm-pytest"), (2, "sigterm-pytest"),
], ids=["serial-ctrl-c", "xdist-2-ctrl-c", "serial-sigterm", "xdist-2-sigterm"])
def test_interrupt_leaves_no_container_of_the_run(
    docker_project: Project, docker_client: Any, workers: int, how: str,
) -> None:
    """Ctrl-C in a terminal (SIGINT to the process group) or a CI job cancelled (SIGTERM to
    pytest alone): the run's containers are gone when pytest has exited."""
    name, path = docker_project.case("sigint", TWO_CONFIGS, requests=400)
    extra = ["-n", str(workers)] if workers else []
    proc = docker_project.popen(path.name, *extra)
    try:
        victim = running_container(docker_client, name)
        run = victim.labels["pytest-autotune.run"]
        if workers:  # both workers deploy at once
            wait_for("two running containers",
                     lambda: len([c for c in containers(docker_client, run=run)
                                  if c.status == "running"]) == 2, timeout=120)
        interrupted = time.monotonic()
        if how == "sigint-group":
            os.killpg(proc.pid, signal.SIGINT)
        else:
            os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=120)
        wait_for("the run's containers to go", lambda: not containers(docker_client, run=run),
                 timeout=5)
        cleanup = time.monotonic() - interrupted
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode in (1, 2, -signal.SIGTERM), (
        docker_project.path / "pytest.out").read_text()
    assert containers(docker_client, run=run) == []
    assert not processes("genai-bench", str(docker_project.path))
    print(f"clean-up after {how}: {cleanup:.2f} s")


def test_a_killed_runs_containers_are_swept_by_the_next_run(
    docker_project: Project, docker_client: Any,
) -> None:
    name, path = docker_project.case("orphan", CPU_CASE, requests=400)
    proc = docker_project.popen(path.name)
    try:
        orphan = running_container(docker_client, name)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # no teardown at all
        proc.wait(timeout=30)
    for pid, _ in processes("genai-bench", str(docker_project.path)):
        os.kill(pid, signal.SIGKILL)  # it runs in its own session
    assert [c.id for c in containers(docker_client, case=name)] == [orphan.id]
    _, other = docker_project.case("next-run", CPU_CASE)
    result = docker_project.run(other.name)
    assert result.returncode == 0, result.stdout
    assert containers(docker_client, case=name) == []


def test_secrets_never_reach_results_logs_or_reports(
    docker_project: Project, docker_client: Any,
) -> None:
    hf_token, api_key = unique("hf_secret"), unique("sk-server-key")
    docker_project.env.update({
        "HF_TOKEN": hf_token, "SERVER_API_KEY": api_key,
        # the stand-in then logs the key and HF_TOKEN as SGLang logs its server_args
        "AUTOTUNE_SHIM_ECHO_SECRETS": "1", "AUTOTUNE_SHIM_ECHO_ENV": "HF_TOKEN",
    })
    name, path = docker_project.case("secrets", CPU_CASE.replace(
        "env: [AUTOTUNE_SIM_ARGS]",
        "env: [AUTOTUNE_SIM_ARGS, AUTOTUNE_SHIM_ECHO_SECRETS, AUTOTUNE_SHIM_ECHO_ENV]\n"
        "api_key_env: SERVER_API_KEY"))
    # the live output of --autotune-verbose goes to the terminal, past pytest's capture
    result = docker_project.run(path.name, "--autotune-verbose",
                                f"--junitxml={docker_project.path / 'junit.xml'}")
    assert result.returncode == 0, result.stdout
    assert outcomes(result) == {"passed": 1}
    assert "  | server_args=ServerArgs(model_path=..., api_key='***')" in result.stdout
    (folder,) = config_dirs(docker_project, name)
    log = (folder / "server.log").read_text()
    assert "api_key='***'" in log and "HF_TOKEN=***" in log  # printed, then redacted
    command = json.loads((folder / "deploy.json").read_text())["plan"]["command"]
    assert command[-2:] == ["--config", "/pytest-autotune/server-args.yaml"]

    def leaked(text: str) -> bool:
        return hf_token in text or api_key in text

    files = [p.relative_to(docker_project.path).as_posix()
             for p in docker_project.path.rglob("*")
             if p.is_file() and leaked(p.read_text(errors="replace"))]
    lines = [line for line in (result.stdout + result.stderr).splitlines() if leaked(line)]
    # genai-bench 0.0.5 logs "model_api_key: <key>" itself: the runner redacts it live and in
    # every file genai-bench wrote
    assert files == []
    assert lines == []


def test_wrong_api_key_is_refused_by_the_server(
    docker_project: Project, docker_client: Any,
) -> None:
    """The key does reach the server: health checks with another key are turned away."""
    docker_project.env["SERVER_API_KEY"] = unique("sk-server-key")
    name, path = docker_project.case("key-check", CPU_CASE + "api_key_env: SERVER_API_KEY\n",
                                     requests=400)
    proc = docker_project.popen(path.name)
    try:
        container = running_container(docker_client, name)
        port = container.attrs["NetworkSettings"]["Ports"]["30000/tcp"][0]["HostPort"]
        from pytest_autotune.backends.wait import http_get

        assert http_get(f"http://127.0.0.1:{port}/v1/models", api_key="wrong-key")[0] == 401
        ok = http_get(f"http://127.0.0.1:{port}/v1/models",
                      api_key=docker_project.env["SERVER_API_KEY"])
        assert ok[0] == 200
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=120)


def test_gpu_configuration_requests_the_leased_device(
    docker_project: Project, docker_client: Any,
) -> None:
    if "nvidia" in (docker_client.info().get("Runtimes") or {}):
        pytest.skip("this engine has the NVIDIA runtime; the GPU path is exercised on GPUs")
    _, path = docker_project.case("gpu", CPU_CASE.replace("gpus: 0", "gpus: 1"))
    result = docker_project.run(path.name, "--autotune-gpus=0")
    assert result.returncode == 1
    assert outcomes(result) == {"error": 1}
    assert 'could not select device driver "" with capabilities: [[gpu]]' in result.stdout
    assert "NVIDIA Container Toolkit" in result.stdout


@pytest.mark.parametrize("pull", [True, False], ids=["pull", "no-pull"])
def test_a_missing_image_is_one_clear_error(
    docker_project: Project, docker_client: Any, pull: bool,
) -> None:
    missing = f"pytest-autotune-sim:{unique('missing')}"
    _, path = docker_project.case("no-image", CPU_CASE)
    flags = [f"--autotune-image={missing}"] + ([] if pull else ["--autotune-no-pull"])
    result = docker_project.run(path.name, *flags)
    assert result.returncode == 1
    assert outcomes(result) == {"error": 1}
    expected = "pulling it failed" if pull else "--autotune-no-pull is set"
    assert f"image {missing} is not in the Docker engine" in result.stdout
    assert expected in result.stdout


def test_without_nvml_gpu_configurations_are_infeasible_and_say_why(
    docker_project: Project, docker_client: Any,
) -> None:
    from pytest_autotune.backends.gpus import nvml_gpus

    if nvml_gpus()[0]:
        pytest.skip("NVML sees GPUs here")
    _, path = docker_project.case("no-nvml", CPU_CASE.replace("gpus: 0", "gpus: 1"))
    result = docker_project.run(path.name)
    assert outcomes(result) == {"infeasible": 1}
    assert "needs 1 GPUs, only 0 available; NVML" in result.stdout
    assert "no GPUs discovered" in result.stdout
