"""The default implementations of pytest-autotune's hooks, all ``trylast``: a conftest or
plugin implementing the same hook runs first and, for ``firstresult`` hooks, wins. What they need
of the run they read from its :class:`~pytest_autotune.plugin.context.RunContext`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ..decide import scoring
from .context import CONTEXT_KEY, run_context

if TYPE_CHECKING:
    from ..backends.base import Backend
    from ..bench.runner import Runner
    from ..cases.case import Case
    from ..decide.ranking import Decision
    from ..report.writers import ReportWriter
    from ..results.records import RunReport, Trial
    from ..search.base import Strategy


@pytest.hookimpl(trylast=True)
def pytest_autotune_make_backend(config: pytest.Config, mode: str) -> Backend | None:
    from ..backends.registry import make_backend
    from .options import settings_from_config

    run = config.stash.get(CONTEXT_KEY, None)  # the settings resolved once, where a run has them
    return make_backend(run.settings if run is not None else settings_from_config(config), mode)


@pytest.hookimpl(trylast=True)
def pytest_autotune_make_runner(config: pytest.Config) -> Runner | None:
    from ..bench.runner import GenaiBenchRunner

    return GenaiBenchRunner()


@pytest.hookimpl(trylast=True)
def pytest_autotune_make_strategy(config: pytest.Config, case: Case, name: str) -> \
        Strategy | None:
    from ..search.base import SearchContext
    from ..search.strategies import make_builtin

    run = run_context(config)
    settings = run.settings
    study = settings.study
    if study and "://" not in study:  # a journal file: relative to the root, as other paths
        study = str(config.rootpath / Path(study).expanduser())

    def pool_size() -> int | None:
        """``gpus`` in constraints: the pool this run leases from (virtual in sim mode), the
        virtual pool in estimate mode, none for an endpoint."""
        pool = run.pool_size()
        if pool is not None:
            return pool
        return settings.sim_gpus if run.capabilities().simulated else None

    context = SearchContext(run_id=run.run_id, run_dir=run.layout.dir, study=study,
                            pool_size=pool_size)
    return make_builtin(name, case, context)


@pytest.hookimpl(trylast=True)
def pytest_autotune_score_trial(config: pytest.Config, trial: Trial) -> scoring.Score | None:
    # the score with its interval: a conftest's own number comes without one
    return scoring.score(trial)


@pytest.hookimpl(trylast=True)
def pytest_autotune_select_best(config: pytest.Config, trials: list[Trial]) -> Decision:
    return scoring.select_best(trials)


@pytest.hookimpl(trylast=True)
def pytest_autotune_generate_report(
    config: pytest.Config, trials: list[Trial], decisions: dict[str, Decision]
) -> RunReport:
    from ..report.build import build_report
    from ..results.runs import git_commit
    from ..search.shortlist import stored

    run = run_context(config)
    report = build_report(trials, decisions, run_id=run.run_id, started=run.started,
                          mode=run.settings.mode, commit=git_commit(config.rootpath))
    shortlists = stored(run.layout)
    if shortlists:
        report.extra["shortlist"] = [s.to_dict() for s in shortlists]
    return report


def pytest_autotune_report_writers(config: pytest.Config) -> list[ReportWriter]:
    import os

    from ..report.ci import BenchmarkJsonWriter, MarkdownWriter
    from ..report.writers import default_writers
    settings = run_context(config).settings
    writers = default_writers(html=settings.html if settings.html_enabled else False)
    if settings.markdown is not None or os.environ.get("GITHUB_STEP_SUMMARY"):
        writers.append(MarkdownWriter(settings.markdown))
    if settings.benchmark_json is not None:
        writers.append(BenchmarkJsonWriter(settings.benchmark_json))
    return writers
