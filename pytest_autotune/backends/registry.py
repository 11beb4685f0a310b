"""The built-in backend for each mode (SDK imports stay inside the chosen backend)."""

from __future__ import annotations

import os
from pathlib import Path

from ..settings import Settings
from .base import Backend


def hf_cache_dir(setting: str | None) -> Path | None:
    """The host's Hugging Face cache for containers: the option, $HF_HOME, or the default."""
    if setting is not None and setting.strip().lower() == "none":
        return None
    path = Path(setting or os.environ.get("HF_HOME") or "~/.cache/huggingface").expanduser()
    return path.resolve()


def make_backend(settings: Settings, mode: str) -> Backend | None:
    if mode == "sim":
        from .sim import SimBackend

        return SimBackend(lock_dir=settings.lock_dir, pool_size=settings.sim_gpus,
                          startup_scale=settings.sim_startup_scale,
                          slowdown=settings.sim_slowdown)
    if mode == "estimate":
        from .estimate import EstimateBackend

        return EstimateBackend(pool_size=settings.sim_gpus, slowdown=settings.sim_slowdown)
    if mode == "local":
        from .local import LocalBackend

        return LocalBackend(lock_dir=settings.lock_dir)
    if mode == "docker":
        from .container import DockerOptions, parse_ulimits
        from .docker import DockerBackend

        return DockerBackend(DockerOptions(
            image=settings.backend_option("image"),
            pull=not settings.backend_option("no-pull"),
            shm_size=settings.backend_option("docker-shm-size"),
            ulimits=parse_ulimits(settings.backend_option("docker-ulimits")),
            hf_cache=hf_cache_dir(settings.backend_option("hf-cache")),
        ))
    if mode == "ome":
        from .ome import OmeBackend, OmeOptions

        return OmeBackend(OmeOptions(
            namespace=settings.backend_option("ome-namespace"),
            kubeconfig=settings.backend_option("ome-kubeconfig"),
            context=settings.backend_option("ome-context"),
            access=settings.backend_option("ome-access"),
            runtime=settings.backend_option("ome-runtime"),
            max_parallel=settings.backend_option("max-parallel"),
            lock_dir=settings.lock_dir,
        ))
    if mode == "endpoint":
        from .endpoint import EndpointBackend

        return EndpointBackend(url=settings.endpoint)
    return None
