"""pytest-xdist: one worker per configuration group, the run id handed to workers.

All the items of one configuration must run on one worker, so its server is deployed once.
xdist's ``--dist loadgroup`` cannot do that on pytest ≥ 9.2 (it rewrites a node-id attribute
pytest no longer reads), so when the user picks no ``--dist`` mode pytest-autotune schedules
with :class:`ConfigurationScheduling`: xdist's scope scheduling with a scope per configuration.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .session import AutotuneSession

AUTO_DIST = pytest.StashKey[bool]()

#: the workload-point part of an item id: D(100,100)-c16, N(480,240)/(300,150)-c4, U(10,20)-c1
_POINT = re.compile(r"-?[DNU]\([\d,]+\)(?:/\([\d,]+\))?-c\d+")


def configuration_scope(nodeid: str) -> str:
    """The scheduling scope of an item: its configuration, or itself for other tests.

    ``chat.yaml::mem-fraction-static=0.8::D(100,100)-c16`` → ``chat.yaml::mem-fraction-static=0.8``
    ``test_x.py::test_x[tp-size=2-D(100,100)-c16]`` → ``test_x.py::test_x[tp-size=2]``
    """
    head, sep, last = nodeid.rpartition("::")
    if sep and _POINT.fullmatch(last):
        return head
    if nodeid.endswith("]") and "[" in nodeid:
        base, _, params = nodeid[:-1].partition("[")
        if _POINT.search(params):
            return f"{base}[{_POINT.sub('', params).strip('-')}]"
    return nodeid


def make_scheduling_class() -> type:
    from xdist.scheduler import LoadScopeScheduling

    class ConfigurationScheduling(LoadScopeScheduling):  # type: ignore[misc]
        """xdist scope scheduling where a scope is one server configuration."""

        def _split_scope(self, nodeid: str) -> str:
            return configuration_scope(nodeid)

    return ConfigurationScheduling


class XdistHooks:
    """Registered only when pytest-xdist is active."""

    def __init__(self, session: AutotuneSession) -> None:
        self.session = session

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["autotune_run_id"] = self.session.run_id

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        if config.stash.get(AUTO_DIST, False):
            return make_scheduling_class()(config, log)
        return None
