"""``local`` mode: ``python3 -m sglang.launch_server …`` as a child process on this machine.

The server runs in its own process group with ``CUDA_VISIBLE_DEVICES`` set to the GPUs leased for
its configuration (indices as NVML numbers them, hence ``CUDA_DEVICE_ORDER=PCI_BUS_ID``). Start-up,
readiness, failure classification, logs, the pid-file sweep and teardown are
:class:`~pytest_autotune.backends.process.ProcessBackend`'s.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import DeployError
from .base import Capabilities, DeployContext, ServerHandle, ServerSpec
from .process import HOST, ProcessBackend
from .secrets import api_key_placeholder, server_api_key


class LocalBackend(ProcessBackend):
    """Starts the case's launcher (default ``python3 -m sglang.launch_server``) locally."""

    name = "local"
    capabilities = Capabilities()

    def __init__(self, *, lock_dir: Path, stop_grace: float = 30.0) -> None:
        super().__init__(lock_dir=lock_dir, stop_grace=stop_grace)

    def command(self, spec: ServerSpec, ctx: DeployContext, port: int) -> list[str]:
        return spec.argv(host=HOST, port=port)

    def environment(self, spec: ServerSpec, ctx: DeployContext) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
        if spec.gpus <= 0:
            env["CUDA_VISIBLE_DEVICES"] = ""  # a CPU configuration (gpus: 0) sees no GPU
        elif ctx.gpu_ids:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(ctx.gpu_ids)  # exactly the lease
        return env

    def server_secret(self, spec: ServerSpec) -> str | None:
        return server_api_key(spec.api_key_env)

    def display_command(self, spec: ServerSpec) -> list[str]:
        argv = super().display_command(spec)
        if spec.api_key_env:
            argv += ["--api-key", api_key_placeholder(spec.api_key_env)]
        return argv

    @contextmanager
    def deploy(self, spec: ServerSpec, ctx: DeployContext) -> Iterator[ServerHandle]:
        launcher = spec.launcher[0] if spec.launcher else ""
        if not launcher or (shutil.which(launcher) is None and not os.path.isfile(launcher)):
            raise DeployError(
                f"local mode runs {' '.join(spec.launcher) or '(no launcher)'} but {launcher!r} "
                "is not on PATH; install SGLang here, or set the case's launcher"
            )
        with super().deploy(spec, ctx) as handle:
            yield handle
