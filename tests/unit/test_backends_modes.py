"""Each mode's backend: built without side effects, and its checks that need no server."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from pytest_autotune.backends.base import DeployContext, ServerSpec
from pytest_autotune.backends.container import DockerOptions
from pytest_autotune.backends.docker import DockerBackend
from pytest_autotune.backends.endpoint import EndpointBackend, check_untuned
from pytest_autotune.backends.local import LocalBackend
from pytest_autotune.backends.registry import hf_cache_dir
from pytest_autotune.backends.wait import classify
from pytest_autotune.errors import DeployError
from pytest_autotune.values import Configuration

CONFIG = Configuration("c", (("mem-fraction-static", 0.8),))


def spec(**kw: object) -> ServerSpec:
    base = ServerSpec(case="c", configuration=CONFIG, model_path="m", flags=CONFIG.params)
    return replace(base, **kw)  # type: ignore[arg-type]


def test_plugin_import_does_not_import_the_docker_sdk() -> None:
    code = ("import sys, pytest_autotune.plugin.main, pytest_autotune.backends.docker; "
            "print('docker' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,  # noqa: S603
                         timeout=60, check=True)
    assert out.stdout.strip() == "False"


def test_docker_backend_touches_no_engine_until_it_deploys(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    backend = DockerBackend(DockerOptions(), api_timeout=5)
    assert backend.display_command(spec())[:2] == ["docker", "run"]  # collection: no engine
    assert backend.sweep() == []  # nothing to sweep without an engine
    with pytest.raises(DeployError, match="no Docker engine answers at unix://"):
        with backend.deploy(spec(gpus=0), DeployContext(run_id="r", artifacts=tmp_path)):
            pass


def test_endpoint_mode_refuses_cases_that_change_the_server() -> None:
    check_untuned(spec(flags=()))
    with pytest.raises(DeployError, match=r"sets server flags or parameters \(--mem-fraction"):
        check_untuned(spec())
    with pytest.raises(DeployError, match="--foo"):
        check_untuned(spec(flags=(), extra_args=("--foo",)))


def test_endpoint_mode_needs_a_url(tmp_path: Path) -> None:
    with pytest.raises(DeployError, match="--autotune-endpoint URL"):
        with EndpointBackend().deploy(spec(flags=()), DeployContext("r", tmp_path)):
            pass


def test_local_mode_sees_exactly_the_leased_gpus(tmp_path: Path) -> None:
    backend = LocalBackend(lock_dir=tmp_path)
    env = backend.environment(spec(gpus=2), DeployContext("r", tmp_path, gpu_ids=("2", "5")))
    assert env["CUDA_VISIBLE_DEVICES"] == "2,5"
    assert env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"  # NVML's numbering
    cpu = backend.environment(spec(gpus=0), DeployContext("r", tmp_path))
    assert cpu["CUDA_VISIBLE_DEVICES"] == ""


def test_local_mode_command_and_display(tmp_path: Path) -> None:
    backend = LocalBackend(lock_dir=tmp_path)
    argv = backend.command(spec(), DeployContext("r", tmp_path), 4321)
    assert argv[:3] == ["python3", "-m", "sglang.launch_server"]
    assert argv[argv.index("--host") + 1] == "127.0.0.1" and "4321" in argv
    shown = backend.display_command(spec(api_key_env="K"))
    assert shown[-2:] == ["--api-key", "<value of $K>"]


def test_the_sim_slowdown_option_overrides_the_cases(tmp_path: Path) -> None:
    """``--autotune-sim-slowdown`` plants a regression from the command line: it reaches the
    simulator of sim mode and the model of estimate mode, over a case's ``sim.slowdown``."""
    from pytest_autotune.backends.estimate import EstimateBackend
    from pytest_autotune.backends.registry import make_backend
    from pytest_autotune.backends.sim import SimBackend
    from pytest_autotune.cases.case import SimSettings
    from pytest_autotune.settings import Settings

    settings = Settings(mode="sim", results_dir=tmp_path, storage=tmp_path, verbose=False,
                        strict=False, deploy_timeout=None, bench_timeout=None, endpoint=None,
                        gpus=None, sim_gpus=8, sim_startup_scale=None, lock_dir=tmp_path,
                        sim_slowdown=1.3)
    ctx = DeployContext("r", tmp_path)
    slow_case = spec(sim=SimSettings(slowdown=1.1))
    sim = make_backend(settings, "sim")
    assert isinstance(sim, SimBackend)
    argv = sim.command(slow_case, ctx, 4321)
    assert argv[argv.index("--sim-slowdown") + 1] == "1.3"
    estimate = make_backend(settings, "estimate")
    assert isinstance(estimate, EstimateBackend)
    with estimate.deploy(replace(slow_case, model_path="meta-llama/Llama-3.1-8B-Instruct"), ctx):
        logged = (tmp_path / "estimate.log").read_text().split()
    assert logged[logged.index("--sim-slowdown") + 1] == "1.3"
    unset = make_backend(replace(settings, sim_slowdown=None), "sim")
    assert isinstance(unset, SimBackend)
    argv = unset.command(slow_case, ctx, 4321)
    assert argv[argv.index("--sim-slowdown") + 1] == "1.1"  # the case's


def test_local_mode_says_when_the_launcher_is_missing(tmp_path: Path) -> None:
    backend = LocalBackend(lock_dir=tmp_path)
    with pytest.raises(DeployError, match="'no-such-python' is not on PATH"):
        with backend.deploy(spec(launcher=("no-such-python", "-m", "sglang.launch_server")),
                            DeployContext("r", tmp_path)):
            pass


def test_hf_cache_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    assert hf_cache_dir(None) == tmp_path / "hf"
    assert hf_cache_dir("none") is None
    assert hf_cache_dir(str(tmp_path / "x")) == tmp_path / "x"


@pytest.mark.parametrize(("log", "reason"), [
    ("RuntimeError: Not enough memory. Please try to increase --mem-fraction-static. Current",
     "KV cache"),
    ("Exception: Capture cuda graph failed: CUDA out of memory. Tried to allocate", "CUDA graphs"),
    ("torch.OutOfMemoryError: CUDA out of memory.", "out of memory"),
    ("torch.AcceleratorError: CUDA error: invalid device ordinal", "not enough GPUs"),
    ("ModuleNotFoundError: No module named 'sglang'", None),
])
def test_start_up_failures_are_classified_from_the_log(log: str, reason: str | None) -> None:
    found = classify("line\n" + log + "\nReceived sigquit from a child process.\n")
    assert (found is None) if reason is None else (found is not None and reason in found)
