"""The run's plugins are handed one ``RunContext`` the session builds (plugin/context.py), are
registered under the names the session lists, and leave with it."""

from __future__ import annotations

import pytest

from pytest_autotune.plugin.context import CONTEXT_KEY, run_context
from pytest_autotune.plugin.items import ItemInfo
from pytest_autotune.plugin.session import get_session
from pytest_autotune.results.layout import RunLayout


def test_the_plugins_get_the_runs_context_and_not_the_session(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfigure("-p", "xdist", "--autotune-results-dir", "out")
    session = get_session(config)
    run = run_context(config)
    assert session.run is run
    assert (run.settings, run.run_id, run.is_worker, run.started) == \
        (session.settings, session.run_id, False, session.started)
    assert run.layout == RunLayout.of(session.settings.results_dir, session.run_id)
    assert run.layout.dir.parts[-3:] == ("out", "runs", session.run_id)
    assert run.capabilities() is session.backend.capabilities
    manager = config.pluginmanager
    assert [name for name, _ in session.plugins()] == \
        ["autotune-session", "autotune-progress", "autotune-xdist"]
    for name, plugin in session.plugins():
        assert manager.get_plugin(name) is plugin
        if plugin is not session:
            assert vars(plugin)["run"] is run
            assert session not in vars(plugin).values()
    config._ensure_unconfigure()
    assert CONTEXT_KEY not in config.stash
    assert all(manager.get_plugin(name) is None for name, _ in session.plugins())


def test_the_configuration_lookup_resolves_when_called(pytester: pytest.Pytester) -> None:
    """A trial slot has no configuration until its strategy chooses one: the context's lookup
    asks the session's strategies at call time."""
    from pytest_autotune.cases import case_from_marker
    from pytest_autotune.values import WorkloadPoint

    config = pytester.parseconfigure()
    session, run = get_session(config), run_context(config)
    fields = {"model": {"path": "m"}, "parameters": {"chunked-prefill-size": [512, 1024]},
              "workload": {"scenarios": ["D(10,10)"], "concurrency": [1]},
              "search": {"strategy": "random", "trials": 2}}
    case = case_from_marker(fields, source="t.py", default_name="t", base_dir=pytester.path)
    point = next(iter(case.workload.points()))
    assert isinstance(point, WorkloadPoint)
    fixed = case.configurations[1]
    assert run.configuration_of(ItemInfo(case, point, fixed.key, fixed, None)) == fixed
    slot = ItemInfo(case, point, "t::trial-1", None, None)
    assert run.configuration_of(slot) is None
    chosen = session.strategies.choose(case, "t::trial-1", 1)
    assert run.configuration_of(slot) == chosen
