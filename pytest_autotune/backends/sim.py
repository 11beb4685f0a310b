"""``sim`` mode: the embedded SGLang simulator as a local process."""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

from ..values import short_hash
from .base import Capabilities, DeployContext, ServerSpec
from .process import HOST, ProcessBackend


def deployment_seed(spec: ServerSpec, ctx: DeployContext) -> int:
    """The case's ``sim.seed`` when it pins one; otherwise a seed of this deployment's own (run,
    configuration, attempt), so that no two deployments draw the same device factor and noise:
    identical runs then differ as identical deployments on real GPUs do."""
    if spec.sim.seed is not None:
        return spec.sim.seed
    digest = short_hash([ctx.run_id, spec.case, spec.configuration.hash, ctx.attempt])
    return int(digest, 16) % 2**31


def sim_argv(spec: ServerSpec, ctx: DeployContext, *, host: str, port: int, gpus: int,
             startup_scale: float | None = None, slowdown: float | None = None) -> list[str]:
    """The simulator's command line for ``spec``: SGLang's flags plus the case's ``sim:``
    settings (``slowdown``, ``--autotune-sim-slowdown``, overrides the case's) and this
    deployment's seed."""
    sim = spec.sim if slowdown is None else replace(spec.sim, slowdown=slowdown)
    argv = [
        *spec.argv(host=host, port=port, launcher=()),
        "--sim-gpu", sim.gpu,
        "--sim-gpus-available", str(gpus),
        "--sim-seed", str(deployment_seed(spec, ctx)),
        "--sim-noise", str(sim.noise),
        "--sim-startup-scale", str(startup_scale or sim.startup_scale),
    ]
    if sim.slowdown != 1.0:
        argv += ["--sim-slowdown", str(sim.slowdown)]
    if sim.model:
        argv += ["--sim-model", sim.model]
    return argv


class SimBackend(ProcessBackend):
    """Starts ``python -m pytest_autotune.sim`` with the configuration's SGLang flags."""

    name = "sim"
    capabilities = Capabilities(simulated=True)

    def __init__(
        self, *, lock_dir: Path, pool_size: int = 8, startup_scale: float | None = None,
        slowdown: float | None = None,
    ) -> None:
        super().__init__(lock_dir=lock_dir, stop_grace=5.0)
        self.pool_size = pool_size
        self.startup_scale = startup_scale
        #: ``--autotune-sim-slowdown``: every case's servers this many times slower
        self.slowdown = slowdown

    def command(self, spec: ServerSpec, ctx: DeployContext, port: int) -> list[str]:
        gpus = len(ctx.gpu_ids) if ctx.gpu_ids else self.pool_size
        return [sys.executable, "-m", "pytest_autotune.sim",
                *sim_argv(spec, ctx, host=HOST, port=port, gpus=gpus,
                          startup_scale=self.startup_scale, slowdown=self.slowdown),
                "--sim-truth-log", str(ctx.artifacts / "truth.jsonl")]

    def environment(self, spec: ServerSpec, ctx: DeployContext) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        return env
