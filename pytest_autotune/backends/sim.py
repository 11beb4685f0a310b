"""``sim`` mode: the embedded SGLang simulator as a local process."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .base import Capabilities, DeployContext, ServerSpec
from .process import HOST, ProcessBackend


class SimBackend(ProcessBackend):
    """Starts ``python -m pytest_autotune.sim`` with the configuration's SGLang flags."""

    name = "sim"
    capabilities = Capabilities(simulated=True)

    def __init__(
        self, *, lock_dir: Path, pool_size: int = 8, startup_scale: float | None = None
    ) -> None:
        super().__init__(lock_dir=lock_dir, stop_grace=5.0)
        self.pool_size = pool_size
        self.startup_scale = startup_scale

    def command(self, spec: ServerSpec, ctx: DeployContext, port: int) -> list[str]:
        sim = spec.sim
        argv = [sys.executable, "-m", "pytest_autotune.sim",
                *spec.argv(host=HOST, port=port, launcher=())]
        gpus = len(ctx.gpu_ids) if ctx.gpu_ids else self.pool_size
        argv += [
            "--sim-gpu", sim.gpu,
            "--sim-gpus-available", str(gpus),
            "--sim-seed", str(sim.seed),
            "--sim-noise", str(sim.noise),
            "--sim-startup-scale", str(self.startup_scale or sim.startup_scale),
            "--sim-truth-log", str(ctx.artifacts / "truth.jsonl"),
        ]
        if sim.model:
            argv += ["--sim-model", sim.model]
        return argv

    def environment(self, spec: ServerSpec, ctx: DeployContext) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        return env
