"""pytest-xdist: one worker per configuration group, the run id handed to workers.

All the items of one configuration must run on one worker, so its server is deployed once.
xdist's ``--dist loadgroup`` cannot do that on pytest ≥ 9.2 (it rewrites a node-id attribute
pytest no longer reads), so when the user picks no ``--dist`` mode pytest-autotune schedules
with :class:`ConfigurationScheduling`: xdist's scope scheduling with a scope per configuration.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .context import RunContext

AUTO_DIST = pytest.StashKey[bool]()
#: the ``workerinput`` key of the run id a worker takes from its controller
RUN_ID_KEY = "autotune_run_id"


def make_scheduling_class() -> type:
    from xdist.scheduler import LoadScopeScheduling

    class ConfigurationScheduling(LoadScopeScheduling):  # type: ignore[misc]
        """xdist scope scheduling where a scope is one server configuration."""

        def _split_scope(self, nodeid: str) -> str:
            from ..cases.grammar import configuration_scope

            return configuration_scope(nodeid)

    return ConfigurationScheduling


class XdistHooks:
    """Registered only when pytest-xdist is active."""

    def __init__(self, run: RunContext) -> None:
        self.run = run

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[RUN_ID_KEY] = self.run.run_id

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        if config.stash.get(AUTO_DIST, False):
            return make_scheduling_class()(config, log)
        return None
