"""A mode of a conftest's own, ``relay``: the tests copy this file as a project's ``conftest.py``
to show that ``pytest_autotune_make_backend`` adds an ``--autotune-mode`` value without editing
the package. It deploys through the simulator backend and notes every configuration it relayed
in ``relayed.txt`` (in the working directory). No ``from __future__`` import: the tests append
this text to other conftest text."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pytest_autotune.backends.base import Backend, DeployContext, ServerHandle, ServerSpec
from pytest_autotune.backends.sim import SimBackend
from pytest_autotune.plugin.options import settings_from_config

RELAYED = Path("relayed.txt")


class RelayBackend:
    """Deploys through another backend; says ``relay`` in front of its launch command."""

    name = "relay"

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.capabilities = inner.capabilities

    @contextmanager
    def deploy(self, spec: ServerSpec, ctx: DeployContext) -> Iterator[ServerHandle]:
        with RELAYED.open("a", encoding="utf-8") as f:
            f.write(f"{spec.case} {spec.configuration.id}\n")
        with self.inner.deploy(spec, ctx) as handle:
            yield handle

    def display_command(self, spec: ServerSpec) -> list[str]:
        return ["relay", *self.inner.display_command(spec)]

    def sweep(self) -> list[str]:
        return self.inner.sweep()


def pytest_autotune_make_backend(config: pytest.Config, mode: str) -> Backend | None:
    if mode != "relay":
        return None
    settings = settings_from_config(config)
    return RelayBackend(SimBackend(lock_dir=settings.lock_dir, pool_size=settings.sim_gpus,
                                   startup_scale=settings.sim_startup_scale))
