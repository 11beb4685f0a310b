"""What the run's small plugins are given: :class:`RunContext`, a frozen value.

The session builds it once, in ``pytest_configure``, and hands it to the baseline gate, the live
progress and the xdist hooks, as pytest hands its own junitxml and cacheprovider plugins the
values they need; the default hook implementations find it in ``config.stash``. A plugin that
needs something the run only knows later (the backend's capabilities, the configuration a trial
slot chose, the GPU pool) gets a callable that resolves it when called.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ..backends.base import Capabilities
    from ..results.layout import RunLayout
    from ..settings import Settings
    from ..values import Configuration
    from .items import ItemInfo

CONTEXT_KEY = pytest.StashKey["RunContext"]()
#: a duplicate of the terminal's fd, taken before pytest starts capturing (main.py)
TERMINAL_FD = pytest.StashKey[int]()


@dataclass(frozen=True)
class RunContext:
    """One run, as its plugins see it."""

    config: pytest.Config
    settings: Settings
    run_id: str
    #: started as a run's xdist worker (``workerinput`` below is what the controller sent it)
    is_worker: bool
    #: the run directory and every path in it
    layout: RunLayout
    #: the time the run started (seconds since the epoch)
    started: float
    #: an item's configuration (a trial slot's once its strategy chose one; None before)
    configuration_of: Callable[[ItemInfo], Configuration | None] = field(repr=False)
    #: what the run's backend can do (the backend is made after this value)
    capabilities: Callable[[], Capabilities] = field(repr=False)
    #: how many GPUs the run leases from (None: no pool), discovered on first call
    pool_size: Callable[[], int | None] = field(repr=False)
    workerinput: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def worker_id(self) -> str:
        """The xdist worker's id (``gw0``), empty on the controller or without xdist."""
        return str(self.workerinput.get("workerid", "")) if self.is_worker else ""

    @property
    def distributed(self) -> bool:
        """The controller of an xdist run (its workers run the items)."""
        config = self.config
        return (not self.is_worker and config.pluginmanager.hasplugin("xdist")
                and bool(getattr(config.option, "tx", None)))


def run_context(config: pytest.Config) -> RunContext:
    """The run's context, for hook implementations that are given only ``config``."""
    return config.stash[CONTEXT_KEY]


__all__ = ["CONTEXT_KEY", "TERMINAL_FD", "RunContext", "run_context"]
