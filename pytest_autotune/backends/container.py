"""What the Docker backend asks the engine for, decided without talking to it.

:func:`plan_container` turns a configuration (and its GPU lease) into a :class:`ContainerPlan`:
image, ``sglang.launch_server`` argv, labels, environment passed by name, mounts, GPU device
request, shared memory, IPC and ulimits. :func:`docker_run_argv` renders the same decisions as the
``docker run`` command a user would type. Both are pure, so they are unit-tested without Docker.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..procs import pid_alive
from ..runtimes import sglang
from .base import DeployContext, ServerSpec
from .secrets import (
    DEFAULT_ENV,
    SECRET_CONFIG_NAME,
    api_key_placeholder,
    passed_env,
    secret_values,
)

CONTAINER_PORT = sglang.DEFAULT_PORT
HF_CACHE_IN_CONTAINER = "/root/.cache/huggingface"
#: Where the API-key config file is copied into the container before it starts.
SECRET_DIR_IN_CONTAINER = "/pytest-autotune"
LABEL_PREFIX = "pytest-autotune."
LABEL_RUN = "pytest-autotune.run"
LABEL_CASE = "pytest-autotune.case"
LABEL_CONFIG = "pytest-autotune.config"
LABEL_OWNER = "pytest-autotune.owner"
#: Devices come from the device request; CUDA_VISIBLE_DEVICES inside would renumber them.
NEVER_PASSED = ("CUDA_VISIBLE_DEVICES",)
DEFAULT_SHM_SIZE = "32g"
DEFAULT_ULIMITS = "memlock=-1,stack=67108864"


@dataclass(frozen=True)
class Ulimit:
    name: str
    soft: int
    hard: int


def parse_ulimits(text: str) -> tuple[Ulimit, ...]:
    """``"memlock=-1,stack=67108864"`` (``name=soft[:hard]``; empty or ``none``: no ulimits)."""
    out: list[Ulimit] = []
    if text.strip().lower() in ("", "none"):
        return ()
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, sep, value = part.partition("=")
        soft, _, hard = value.partition(":")
        try:
            if not sep or not re.match(r"^[a-z]+$", name.strip()):
                raise ValueError
            limits = (int(soft), int(hard or soft))
        except ValueError:
            raise ValueError(
                f"bad ulimit {part!r}: expected name=soft[:hard] such as memlock=-1 or "
                "stack=67108864 (comma separated; 'none' for no ulimits)"
            ) from None
        out.append(Ulimit(name.strip(), *limits))
    return tuple(out)


@dataclass(frozen=True)
class DockerOptions:
    """Run-wide settings of the Docker backend (from ``--autotune-*`` options)."""

    image: str | None = None  # overrides every case's image
    pull: bool = True
    shm_size: str = DEFAULT_SHM_SIZE
    ulimits: tuple[Ulimit, ...] = parse_ulimits(DEFAULT_ULIMITS)
    hf_cache: Path | None = None  # host directory mounted as the container's HF cache
    stop_grace: float = 30.0
    default_env: tuple[str, ...] = DEFAULT_ENV


@dataclass(frozen=True)
class ContainerPlan:
    name: str
    image: str
    command: list[str]
    labels: dict[str, str]
    environment: dict[str, str] = field(repr=False)
    env_missing: tuple[str, ...]
    volumes: dict[str, dict[str, str]]
    gpu_count: int
    gpu_ids: tuple[str, ...]
    shm_size: str
    ulimits: tuple[Ulimit, ...]
    api_key: str | None = field(default=None, repr=False)

    @property
    def secrets(self) -> list[str]:
        return secret_values(self.environment, self.api_key)

    def summary(self) -> dict[str, Any]:
        """What was asked of the engine, safe to write to the results (names, never values)."""
        return {
            "name": self.name, "image": self.image, "command": self.command,
            "labels": self.labels, "env": sorted(self.environment), "env_missing":
            list(self.env_missing), "volumes": self.volumes, "gpus": list(self.gpu_ids)
            if self.gpu_ids else self.gpu_count, "shm_size": self.shm_size,
            "ulimits": [f"{u.name}={u.soft}:{u.hard}" for u in self.ulimits],
            "api_key": "passed in a --config file" if self.api_key else None,
        }


def process_start(pid: int) -> int:
    """When a process started (clock ticks since boot; 0 where /proc has no answer), so that a
    reused pid is not mistaken for the pytest process that owned a container."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            fields = f.read().rpartition(")")[2].split()
        return int(fields[19])
    except (OSError, IndexError, ValueError):
        return 0


def owner_label(pid: int | None = None) -> str:
    """``<hostname>:<pid>:<start>`` of the pytest process that owns a container."""
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{process_start(pid)}"


@dataclass(frozen=True)
class Owner:
    host: str
    pid: int
    start: int = 0

    def gone(self, alive: bool) -> bool:
        """Whether the owning process has ended (``alive``: whether its pid exists now)."""
        if not alive:
            return True
        return bool(self.start) and process_start(self.pid) not in (0, self.start)


def parse_owner(value: str) -> Owner | None:
    parts = value.split(":")
    if len(parts) == 2:
        parts.append("0")
    if len(parts) != 3 or not parts[0] or not parts[1].isdigit() or not parts[2].isdigit():
        return None
    return Owner(parts[0], int(parts[1]), int(parts[2]))


def dead_owner(value: str) -> Owner | None:
    """The owner an owner label names, when it ran on this host and its process is gone (what
    a sweep may remove); None for other hosts, live processes and labels that name none."""
    owner = parse_owner(value)
    if owner is None or owner.host != socket.gethostname() or not owner.gone(pid_alive(owner.pid)):
        return None
    return owner


def container_name(case: str, config_hash: str, run_id: str) -> str:
    """``autotune-<case>-<config hash>-<run id>`` within Docker's name rules."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", case).strip("-.") or "case"
    run = re.sub(r"[^A-Za-z0-9_.-]+", "-", run_id)
    return f"autotune-{slug[:40]}-{config_hash[:12]}-{run}"


def image_for(spec: ServerSpec, options: DockerOptions) -> str:
    return options.image or spec.image or sglang.DEFAULT_IMAGE


def model_mount(model_path: str, cwd: Path | None = None) -> tuple[str, str] | None:
    """A local model directory: (host path, path inside the container); hub ids give None."""
    path = Path(model_path).expanduser()
    if not path.is_absolute():
        path = (cwd or Path.cwd()) / path
    if not path.is_dir():
        return None
    resolved = str(path.resolve())
    return resolved, resolved


def server_argv(spec: ServerSpec, *, model_path: str, api_key: bool) -> list[str]:
    argv = sglang.launch_argv(
        model_path=model_path, host="0.0.0.0", port=CONTAINER_PORT, flags=spec.flags,
        extra_args=spec.extra_args, served_model_name=spec.served_name, launcher=spec.launcher,
    )
    if api_key:
        argv += ["--config", f"{SECRET_DIR_IN_CONTAINER}/{SECRET_CONFIG_NAME}"]
    return argv


def plan_container(
    spec: ServerSpec,
    ctx: DeployContext,
    options: DockerOptions,
    environ: Mapping[str, str],
    *,
    api_key: str | None = None,
    owner: str | None = None,
    cwd: Path | None = None,
) -> ContainerPlan:
    environment, missing = passed_env(
        spec.env_names, environ, defaults=options.default_env, exclude=NEVER_PASSED
    )
    volumes: dict[str, dict[str, str]] = {}
    model_path = spec.model_path
    mount = model_mount(spec.model_path, cwd)
    if mount is not None:
        volumes[mount[0]] = {"bind": mount[1], "mode": "ro"}
        model_path = mount[1]
    if options.hf_cache is not None:
        volumes[str(options.hf_cache)] = {"bind": HF_CACHE_IN_CONTAINER, "mode": "rw"}
    labels = {k: v for k, v in ctx.labels.items() if k.startswith(LABEL_PREFIX)}
    labels.setdefault(LABEL_RUN, ctx.run_id)
    labels.setdefault(LABEL_CASE, spec.case)
    labels.setdefault(LABEL_CONFIG, spec.configuration.hash)
    labels[LABEL_OWNER] = owner or owner_label()
    gpus = max(spec.gpus, 0)
    return ContainerPlan(
        name=container_name(spec.case, spec.configuration.hash, ctx.run_id),
        image=image_for(spec, options),
        command=server_argv(spec, model_path=model_path, api_key=api_key is not None),
        labels=labels,
        environment=environment,
        env_missing=tuple(n for n in missing if n not in NEVER_PASSED),
        volumes=volumes,
        gpu_count=gpus,
        gpu_ids=tuple(ctx.gpu_ids) if gpus else (),
        shm_size=options.shm_size,
        ulimits=options.ulimits,
        api_key=api_key,
    )


def device_request_args(plan: ContainerPlan) -> dict[str, Any] | None:
    """Keyword arguments of ``docker.types.DeviceRequest`` for the plan, or None (CPU image)."""
    if plan.gpu_count <= 0:
        return None
    if plan.gpu_ids:
        return {"device_ids": list(plan.gpu_ids), "capabilities": [["gpu"]]}
    return {"count": plan.gpu_count, "capabilities": [["gpu"]]}


def docker_run_argv(
    spec: ServerSpec,
    options: DockerOptions,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> list[str]:
    """The ``docker run`` command that deploys this configuration by hand (no secret values).

    Variables go by name (``-e NAME``): the case's, and those of the default allow-list that are
    set in ``environ``.
    """
    environ = os.environ if environ is None else environ
    argv = ["docker", "run", "--rm"]
    if spec.gpus > 0:
        argv += ["--gpus", str(spec.gpus)]
    argv += ["--shm-size", options.shm_size, "--ipc", "host"]
    for u in options.ulimits:
        argv += ["--ulimit", f"{u.name}={u.soft}" + (f":{u.hard}" if u.hard != u.soft else "")]
    argv += ["-p", f"127.0.0.1:{CONTAINER_PORT}:{CONTAINER_PORT}"]
    model_path = spec.model_path
    mount = model_mount(spec.model_path, cwd)
    if mount is not None:
        argv += ["-v", f"{mount[0]}:{mount[1]}:ro"]
        model_path = mount[1]
    if options.hf_cache is not None:
        argv += ["-v", f"{options.hf_cache}:{HF_CACHE_IN_CONTAINER}"]
    defaults = [n for n in options.default_env if n in environ]
    for name in dict.fromkeys([*spec.env_names, *defaults]):
        if name not in NEVER_PASSED:
            argv += ["-e", name]
    argv.append(image_for(spec, options))
    argv += server_argv(spec, model_path=model_path, api_key=False)
    if spec.api_key_env:
        argv += ["--api-key", api_key_placeholder(spec.api_key_env)]
    return argv


def engine_hint(message: str) -> str | None:
    """What to do about an engine error message that users meet on GPU boxes."""
    text = message.lower()
    if "could not select device driver" in text:
        return ("the engine cannot give containers GPUs: install the NVIDIA Container Toolkit "
                "(nvidia-ctk runtime configure --runtime=docker; restart dockerd), or use a "
                "CPU image with gpus: 0 in the case")
    if "error setting rlimit" in text:
        return ("the engine may not raise these ulimits here (dockerd lacks CAP_SYS_RESOURCE or "
                "runs with a lower hard limit): set --autotune-docker-ulimits, e.g. "
                "stack=67108864, or 'none'")
    if "port is already allocated" in text or "address already in use" in text:
        return "the host port Docker picked was taken meanwhile; the start is retried"
    if "no such image" in text or "pull access denied" in text:
        return "the image is not available locally; docker pull it or build it"
    return None
