"""pytest entry point (``pytest11: autotune``): options, hooks, markers, collection.

Kept cheap to import: tuning cases (pydantic), backends (SDKs) and genai-bench are imported only
when a run actually collects or deploys something.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from .context import CONTEXT_KEY, TERMINAL_FD
from .fixtures import (
    autotune_bench,
    autotune_configuration,
    autotune_deployment,
    autotune_metrics,
    autotune_point,
    autotune_server,
    autotune_server_factory,
    autotune_session,
    autotune_slo,
)
from .options import addoptions
from .session import SESSION_KEY, AutotuneSession, get_session

__all__ = [
    "autotune_bench", "autotune_configuration", "autotune_deployment", "autotune_metrics",
    "autotune_point", "autotune_server", "autotune_server_factory", "autotune_session",
    "autotune_slo",
]

MARKER_HELP = (
    "autotune(case_file=None, **case_fields): parametrize this test over a tuning case's "
    "configurations and workload points; fields as in a YAML case (model, parameters, workload, "
    "slo, objective, sim, ...)"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    addoptions(parser)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> Any:
    """With ``-n`` and no ``--dist`` mode chosen, schedule whole configurations per worker."""
    if getattr(config.option, "dist", None) == "no" and not getattr(config.option, "distload",
                                                                    False):
        from .workers import AUTO_DIST

        config.stash[AUTO_DIST] = True
    return (yield)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> Any:
    """Keep a handle on the real terminal before pytest starts capturing output: the
    ``--autotune-verbose`` stream writes there from background threads."""
    try:
        early_config.stash[TERMINAL_FD] = os.dup(1)
    except OSError:
        pass
    return (yield)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from . import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_configure(config: pytest.Config) -> None:
    from ..cases.grammar import rewrite_expression
    from . import defaults

    config.addinivalue_line("markers", MARKER_HELP)
    if config.option.keyword:
        config.option.keyword = rewrite_expression(config.option.keyword)
    config.pluginmanager.register(defaults, "autotune-defaults")
    session = AutotuneSession(config)
    config.stash[SESSION_KEY] = session
    for name, plugin in session.plugins():
        config.pluginmanager.register(plugin, name)
    if session.xdist is not None:
        warn_about_dist_mode(config)


def warn_about_dist_mode(config: pytest.Config) -> None:
    from ..errors import AutotuneWarning
    from .workers import AUTO_DIST

    dist = getattr(config.option, "dist", "no")
    if dist not in ("no", "each") and not config.stash.get(AUTO_DIST, False) and not hasattr(
        config, "workerinput"
    ):
        config.issue_config_time_warning(
            AutotuneWarning(
                f"--dist {dist}: the items of one configuration may run on several workers, each "
                "deploying its own server; leave --dist unset to schedule whole configurations "
                "per worker"
            ),
            stacklevel=2,
        )


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(SESSION_KEY, None)
    if session is not None:
        session.progress.stop()  # no status line is drawn on the closed terminal
    fd = config.stash.get(TERMINAL_FD, None)
    if fd is not None:
        os.close(fd)
        del config.stash[TERMINAL_FD]
    if session is not None:
        for name in [name for name, _ in session.plugins()] + ["autotune-defaults"]:
            plugin = config.pluginmanager.get_plugin(name)
            if plugin is not None:
                config.pluginmanager.unregister(plugin)
        del config.stash[SESSION_KEY]
    if CONTEXT_KEY in config.stash:
        del config.stash[CONTEXT_KEY]


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    from ..cases.sniff import CASE_SUFFIXES, is_case_document

    if file_path.suffix not in CASE_SUFFIXES:
        return None
    if parent.session.isinitpath(file_path) or is_case_document(file_path):
        from .collect import CaseFile

        return CaseFile.from_parent(parent, path=file_path)
    return None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("autotune")
    if marker is None:
        return
    from ..cases import case_from_marker
    from ..errors import ConfigError
    from .fixtures import ConfigParam

    kwargs: dict[str, Any] = dict(marker.kwargs)
    if marker.args:
        if len(marker.args) > 1 or "case" in kwargs:
            raise pytest.Collector.CollectError(
                f"{metafunc.definition.nodeid}: @pytest.mark.autotune takes one case file path"
            )
        kwargs["case"] = marker.args[0]
    source = metafunc.definition.nodeid
    try:
        case = case_from_marker(
            kwargs, source=source, default_name=metafunc.function.__name__,
            base_dir=Path(metafunc.definition.path).parent,
        )
        get_session(metafunc.config).check_case(case)
    except ConfigError as exc:
        raise pytest.Collector.CollectError(f"invalid tuning case: {exc}") from None
    if "autotune_configuration" not in metafunc.fixturenames:
        raise pytest.Collector.CollectError(
            f"{source}: a test marked autotune must use autotune_metrics, autotune_server, "
            "autotune_bench or autotune_configuration"
        )
    session = get_session(metafunc.config)
    try:
        plan = session.strategy_for(case).fixed_plan()
    except ConfigError as exc:
        raise pytest.Collector.CollectError(f"invalid tuning case: {exc}") from None
    if plan is None:
        raise pytest.Collector.CollectError(
            f"{source}: this case's search strategy chooses configurations while the run goes "
            "on (trial slots), which only case files support; write the case as a YAML file"
        )
    metafunc.parametrize(
        "autotune_configuration",
        [pytest.param(ConfigParam(case, c), id=c.id, marks=session.item_marks(case, c))
         for c in plan],
        indirect=True, scope="session",
    )
    if "autotune_point" in metafunc.fixturenames:
        metafunc.parametrize(
            "autotune_point", [pytest.param(p, id=p.id) for p in case.workload.points()],
            indirect=True,
        )

