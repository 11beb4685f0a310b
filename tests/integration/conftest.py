"""Integration tests against real systems: a Docker engine, real process trees.

The Docker tests need an engine (``make test`` installs and starts one, see
scripts/ensure-docker-engine) and build, without a registry, the simulator image
(scripts/build_sim_image.py, cached by content hash). Without an engine they skip and say why.
Every test runs ``pytest`` as a user would, in a subprocess, and checks that no container or
server process of its run is left behind.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .harness import BUILD_SCRIPT, FAST_SIM, ROOT, SHIM, Project, containers, processes

#: the example case is for docker mode, and the image's files are no tests
collect_ignore = ["cases", "image"]

# -- Docker ---------------------------------------------------------------------------------------
def _engine_unavailable_note() -> str:
    state = Path(os.environ.get("AUTOTUNE_DOCKER_STATE")
                 or Path(tempfile.gettempdir()) / "pytest-autotune-docker")
    try:
        return " (" + (state / "unavailable").read_text(encoding="utf-8").strip() + ")"
    except OSError:
        return ""


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """The engine's client; the Docker tests skip, saying why, where no engine answers."""
    try:
        import docker

        client = docker.from_env(timeout=60)
        client.ping()
    except Exception as exc:
        pytest.skip(f"no Docker engine answers ({str(exc)[:200]}){_engine_unavailable_note()}; "
                    "`make test` installs and starts one (scripts/ensure-docker-engine, as root)")
    yield client
    client.close()


@pytest.fixture(scope="session")
def sim_image(docker_client: Any) -> str:
    """The simulator image, built without a registry (or reused: tagged by content hash)."""
    proc = subprocess.run(  # noqa: S603 - argv list
        [sys.executable, str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=1500,
        check=False,
    )
    if proc.returncode != 0:
        message = (proc.stderr or proc.stdout).strip()[-1500:]
        if "needs root" in message:
            pytest.skip(f"cannot build the simulator image: {message}")
        pytest.fail(f"building the simulator image failed:\n{message}")
    return proc.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def engine_ulimits(docker_client: Any, sim_image: str) -> str | None:
    """None where the engine accepts the default ulimits (memlock=-1); otherwise a setting it
    accepts. Some sandboxes run dockerd without CAP_SYS_RESOURCE, so runc may not raise
    RLIMIT_MEMLOCK there; GPU hosts normally can."""
    import docker

    container = docker_client.containers.create(
        sim_image, ["true"], labels={"pytest-autotune.probe": "ulimits"},
        ulimits=[docker.types.Ulimit(name="memlock", soft=-1, hard=-1)],
    )
    try:
        container.start()
        container.wait(timeout=60)
        return None
    except docker.errors.APIError as exc:
        if "rlimit" not in str(exc):
            raise
        return "stack=67108864"
    finally:
        container.remove(force=True)


@pytest.fixture
def docker_project(
    pytester: pytest.Pytester, docker_client: Any, sim_image: str, engine_ulimits: str | None,
) -> Iterator[Project]:
    """A project in docker mode with the simulator image; no container of it may remain."""
    pytester.makeini(textwrap.dedent(f"""\
        [pytest]
        autotune_lock_dir = {pytester.path / "locks"}
        autotune_hf_cache = {pytester.path / "hf-cache"}
        autotune_image = {sim_image}
        autotune_deploy_timeout = 60s
    """) + (f"autotune_docker_ulimits = {engine_ulimits}\n" if engine_ulimits else ""))
    project = Project(pytester, "docker", env={"AUTOTUNE_SIM_ARGS": FAST_SIM})
    yield project
    left = [c for name in project.cases for c in containers(docker_client, case=name)]
    for container in left:
        container.remove(force=True)
    assert not left, f"containers left behind: {[c.name for c in left]}"


# -- local processes ------------------------------------------------------------------------------
@pytest.fixture
def local_project(pytester: pytest.Pytester) -> Iterator[Project]:
    """A project in local mode where ``python3 -m sglang.launch_server`` is the simulator's
    stand-in (tests/integration/image/sglang); no server process of it may remain."""
    pytester.makeini(textwrap.dedent(f"""\
        [pytest]
        autotune_lock_dir = {pytester.path / "locks"}
        autotune_deploy_timeout = 60s
    """))
    path = os.pathsep.join([str(SHIM), str(ROOT)])
    project = Project(pytester, "local", env={"AUTOTUNE_SIM_ARGS": FAST_SIM, "PYTHONPATH": path})
    yield project
    left = [p for name in project.cases for p in processes("sglang.launch_server", name)]
    for pid, _ in left:
        os.kill(pid, 9)
    assert not left, f"server processes left behind: {left}"
