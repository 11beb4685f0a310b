"""What the real backends add on top of the server's own start-up, and how fast they clean up.

    .venv/bin/python benchmarks/backend_overhead.py [--repeats 5] [--sigint-repeats 3]
                                                    [--rebuild-image]

1. Start-to-ready of the same simulated server (Llama-3.1-8B, start-up scale 0.02) three ways:
   - ``raw``: ``python3 -m sglang.launch_server`` (the test stand-in) as a bare process, /health
     polled every 10 ms: the simulator's own start-up;
   - ``local``: LocalBackend.deploy (process group, port lease, log pump, readiness poller);
   - ``docker``: DockerBackend.deploy with the simulator image (create, start, port read-back,
     log stream, readiness poller), and its teardown (stop + remove).
2. Clean-up after Ctrl-C: ``pytest <case> --autotune-mode=docker`` (and ``local``) is sent
   SIGINT while genai-bench runs; measured until pytest exits and until no container / server
   process of the run is left.
3. Image build time of scripts/build_sim_image.py: cached, and (with --rebuild-image) fresh.

Needs a Docker engine. Prints a summary and writes benchmarks/results/backend_overhead.json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHIM = ROOT / "tests" / "integration" / "image"
OUT = ROOT / "benchmarks" / "results" / "backend_overhead.json"
MODEL = "meta-llama/Llama-3.1-8B-Instruct"
SIM_ARGS = "--sim-startup-scale 0.02 --sim-noise 0"

from pytest_autotune.backends.base import DeployContext, ServerSpec  # noqa: E402
from pytest_autotune.backends.container import DockerOptions, parse_ulimits  # noqa: E402
from pytest_autotune.backends.docker import DockerBackend  # noqa: E402
from pytest_autotune.backends.local import LocalBackend  # noqa: E402
from pytest_autotune.backends.wait import is_healthy  # noqa: E402
from pytest_autotune.values import Configuration  # noqa: E402


def summary(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3), "n": len(values)}


def shim_env() -> dict[str, str]:
    return {**os.environ, "AUTOTUNE_SIM_ARGS": SIM_ARGS,
            "PYTHONPATH": os.pathsep.join([str(SHIM), str(ROOT)])}


def raw_start(tmp: Path) -> float:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    started = time.monotonic()
    proc = subprocess.Popen(  # noqa: S603
        ["python3", "-m", "sglang.launch_server", "--model-path", MODEL, "--port", str(port)],
        env=shim_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        while not is_healthy(url, timeout=1.0):
            if proc.poll() is not None or time.monotonic() - started > 60:
                raise RuntimeError("the simulator did not start")
            time.sleep(0.01)
        return time.monotonic() - started
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def spec() -> ServerSpec:
    config = Configuration("overhead", ())
    return ServerSpec(case="overhead", configuration=config, model_path=MODEL, flags=(), gpus=0,
                      env_names=("AUTOTUNE_SIM_ARGS",), deploy_timeout=60)


def backend_start(backend: Any, tmp: Path, i: int) -> dict[str, float]:
    ctx = DeployContext(run_id=f"overhead-{os.getpid()}", artifacts=tmp / f"{backend.name}-{i}")
    started = time.monotonic()
    with backend.deploy(spec(), ctx):
        ready = time.monotonic() - started
        stopping = time.monotonic()
    out = {"start_to_ready": ready, "teardown": time.monotonic() - stopping}
    record = ctx.artifacts / "deploy.json"
    if record.exists():
        data = json.loads(record.read_text())
        out["create_to_ready"] = data.get("start_to_ready_seconds", 0.0)
        out["engine_teardown"] = data.get("teardown_seconds", 0.0)
    return out


def image() -> str:
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_sim_image.py")],  # noqa: S603
                          capture_output=True, text=True, timeout=1500, check=True)
    return proc.stdout.strip().splitlines()[-1]


def docker_options(tag: str) -> DockerOptions:
    import docker

    client = docker.from_env()
    probe = client.containers.create(tag, ["true"], ulimits=[
        docker.types.Ulimit(name="memlock", soft=-1, hard=-1)])
    try:
        probe.start()
        probe.wait(timeout=60)
        ulimits = parse_ulimits("memlock=-1,stack=67108864")
    except docker.errors.APIError:
        ulimits = parse_ulimits("stack=67108864")  # this engine may not raise memlock
    finally:
        probe.remove(force=True)
        client.close()
    return DockerOptions(image=tag, ulimits=ulimits, hf_cache=None)


def sigint_cleanup(mode: str, tag: str, ulimits: str, tmp: Path) -> dict[str, float]:
    """SIGINT to a running pytest (its process group, as Ctrl-C does): time until it exits and
    until nothing of the run is left."""
    import docker

    project = Path(tempfile.mkdtemp(dir=tmp))
    name = f"sigint-{mode}-{os.getpid()}-{int(time.time() * 1000) % 100000}"
    (project / "tox.ini").write_text(textwrap.dedent(f"""\
        [pytest]
        autotune_lock_dir = {project / "locks"}
        autotune_image = {tag}
        autotune_docker_ulimits = {ulimits}
        autotune_hf_cache = none
    """))
    (project / f"{name}.yaml").write_text(textwrap.dedent(f"""\
        name: {name}
        model: {{path: {MODEL}, served_name: {name}, tokenizer: builtin}}
        gpus: 0
        env: [AUTOTUNE_SIM_ARGS]
        workload: {{scenarios: ["D(50,20)"], concurrency: [1], max_requests: 400}}
    """))
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--autotune-mode={mode}",
         f"{name}.yaml"], cwd=project, env=shim_env(), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )
    client = docker.from_env()

    def left() -> int:
        if mode == "docker":
            return len(client.containers.list(
                all=True, filters={"label": f"pytest-autotune.case={name}"}))
        return len(subprocess.run(["pgrep", "-f", f"served-model-name {name}"],  # noqa: S603
                                  capture_output=True, text=True, timeout=10).stdout.split())

    try:
        deadline = time.monotonic() + 120
        while not any("Decode batch" in p.read_text(errors="replace")
                      for p in project.glob("results/runs/*/*/*/server.log")):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"{mode}: no benchmark started")
            time.sleep(0.1)
        interrupted = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=120)
        exited = time.monotonic() - interrupted
        while left() and time.monotonic() - interrupted < 60:
            time.sleep(0.05)
        return {"pytest_exit": exited, "nothing_left": time.monotonic() - interrupted,
                "left": float(left())}
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        client.close()


def build_times(rebuild: bool) -> dict[str, float]:
    script = [sys.executable, str(ROOT / "scripts" / "build_sim_image.py")]
    out: dict[str, float] = {}
    if rebuild:
        started = time.monotonic()
        subprocess.run([*script, "--force"], check=True, timeout=1500,  # noqa: S603
                       capture_output=True)
        out["fresh"] = time.monotonic() - started
    started = time.monotonic()
    subprocess.run(script, check=True, timeout=600, capture_output=True)  # noqa: S603
    out["cached"] = time.monotonic() - started
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sigint-repeats", type=int, default=3)
    parser.add_argument("--rebuild-image", action="store_true",
                        help="also time a fresh build (debootstrap; about a minute)")
    args = parser.parse_args()
    result: dict[str, Any] = {"build": build_times(args.rebuild_image)}
    tag = image()
    options = docker_options(tag)
    ulimits = ",".join(f"{u.name}={u.soft}" for u in options.ulimits)
    os.environ["AUTOTUNE_SIM_ARGS"] = SIM_ARGS
    os.environ["PYTHONPATH"] = shim_env()["PYTHONPATH"]
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        raw = [raw_start(tmp) for _ in range(args.repeats)]
        local = [backend_start(LocalBackend(lock_dir=tmp / "locks"), tmp, i)
                 for i in range(args.repeats)]
        dock = DockerBackend(options)
        dock.ensure_image(tag)
        container = [backend_start(dock, tmp, i) for i in range(args.repeats)]
        result["start_to_ready"] = {
            "raw_simulator": summary(raw),
            "local_backend": summary([r["start_to_ready"] for r in local]),
            "docker_backend": summary([r["start_to_ready"] for r in container]),
            "docker_create_to_ready": summary([r["create_to_ready"] for r in container]),
        }
        result["overhead_vs_raw_median"] = {
            "local": round(result["start_to_ready"]["local_backend"]["median"]
                           - result["start_to_ready"]["raw_simulator"]["median"], 3),
            "docker": round(result["start_to_ready"]["docker_backend"]["median"]
                            - result["start_to_ready"]["raw_simulator"]["median"], 3),
        }
        result["teardown"] = {
            "local_backend": summary([r["teardown"] for r in local]),
            "docker_backend": summary([r["teardown"] for r in container]),
        }
        result["sigint_cleanup"] = {}
        for mode in ("docker", "local"):
            runs = [sigint_cleanup(mode, tag, ulimits, tmp) for _ in range(args.sigint_repeats)]
            result["sigint_cleanup"][mode] = {
                "pytest_exit": summary([r["pytest_exit"] for r in runs]),
                "nothing_left": summary([r["nothing_left"] for r in runs]),
                "left_behind": sum(r["left"] for r in runs),
            }
    result["machine"] = {"cpus": os.cpu_count(), "image": tag}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
