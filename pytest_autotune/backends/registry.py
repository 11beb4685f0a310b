"""The built-in backend for each mode (SDK imports stay inside the chosen backend)."""

from __future__ import annotations

from ..settings import Settings
from .base import Backend


def make_backend(settings: Settings, mode: str) -> Backend | None:
    if mode == "sim":
        from .sim import SimBackend

        return SimBackend(lock_dir=settings.lock_dir, pool_size=settings.sim_gpus,
                          startup_scale=settings.sim_startup_scale)
    return None
