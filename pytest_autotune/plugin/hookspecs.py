"""Hooks a ``conftest.py`` (or another plugin) can implement to customise pytest-autotune.

Defaults live in :mod:`pytest_autotune.plugin.defaults` as ``trylast`` implementations, so any
conftest implementation runs first and wins for ``firstresult`` hooks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ..backends.base import Backend
    from ..bench.runner import Runner
    from ..cases.case import Case
    from ..decide.ranking import Decision
    from ..decide.scoring import Score
    from ..report.writers import ReportWriter
    from ..results.records import RunReport, Trial
    from ..search.base import Strategy


@pytest.hookspec(firstresult=True)
def pytest_autotune_make_backend(config: pytest.Config, mode: str) -> Backend | None:
    """Return the backend that deploys servers in ``mode``, or None to let the next one decide.

    Called once per run, at configure time: a mode no implementation answers for is a usage
    error, so returning a backend for a new name (``--autotune-mode=relay``) adds a mode.
    The backend's ``capabilities`` tell the plugin what it can do (deploy, tune flags, lease
    local GPUs, simulated).

    Example (a conftest that deploys through an in-house launcher)::

        def pytest_autotune_make_backend(config, mode):
            if mode == "launcher":
                return MyLauncherBackend(config)

    .. versionadded:: 0.1
    """


@pytest.hookspec(firstresult=True)
def pytest_autotune_make_runner(config: pytest.Config) -> Runner | None:
    """Return the benchmark runner that measures workload points (default: the genai-bench CLI
    next to this interpreter), or None to let the next implementation decide.

    Example (genai-bench from another environment)::

        from pytest_autotune.bench.runner import GenaiBenchRunner

        def pytest_autotune_make_runner(config):
            return GenaiBenchRunner(command=("/opt/bench/bin/genai-bench",))

    .. versionadded:: 0.2
    """


@pytest.hookspec(firstresult=True)
def pytest_autotune_make_strategy(config: pytest.Config, case: Case, name: str) -> \
        Strategy | None:
    """Return the search strategy ``name`` for ``case`` (a
    :class:`~pytest_autotune.search.strategy.Strategy`), or None to let the next one decide.

    ``name`` is ``--autotune-search``, else the case's ``search.strategy`` (``grid`` by
    default); ``case.search`` holds the trial budget and seed (``--autotune-trials``
    applied) and ``case.space`` the parameter space. The defaults answer to ``grid``,
    ``random`` and ``optuna``; a name nobody answers to is an error of the case.

    A strategy with a fixed plan (the grid) collects one node per configuration; one without
    collects trial slots (``chat.yaml::trial-07``) and proposes each slot's configuration when
    the slot is set up.

    Example (the grid, collected as trial slots)::

        from pytest_autotune.search.grid import GridStrategy

        def pytest_autotune_make_strategy(config, case, name):
            if name == "grid":
                return GridStrategy(case, slots=True)

    .. versionadded:: 0.2
    """


@pytest.hookspec(firstresult=True)
def pytest_autotune_score_trial(config: pytest.Config, trial: Trial) -> Score | float | None:
    """Score one configuration (a :class:`~pytest_autotune.results.records.Trial` with every
    workload point it measured). Return a number, or None when the configuration is not
    eligible (e.g. no point met the SLOs). Called on the controller the moment the trial
    completes; the results store records the answer as ``trial.score``. Higher or lower is
    better according to the case objective's direction
    (``pytest_autotune.decide.scoring.objective_of(trial).direction``), unless you also implement
    ``pytest_autotune_select_best``.

    The default returns a :class:`~pytest_autotune.decide.scoring.Score`: the value and its
    confidence interval (recorded as ``trial.score_interval``); a plain number has no interval,
    so ties with it are not judged. Returning the default's answer keeps the interval.

    Example (rank by p90 TTFT at concurrency 16, lower is better)::

        def pytest_autotune_score_trial(config, trial):
            point = trial.point("D(100,100)", 16)
            return -point.metrics.ttft.p90 if point and point.metrics else None

    .. versionadded:: 0.1
    """


@pytest.hookspec(firstresult=True)
def pytest_autotune_select_best(
    config: pytest.Config, trials: list[Trial]
) -> Trial | Decision | None:
    """Pick the best configuration of one case among its scored trials: return a trial, or
    None for no winner.

    The default returns the ranking's :class:`~pytest_autotune.decide.ranking.Decision` (the
    winner, the configurations tied with it, the confidence in it and the reason), which the
    report shows as it is. A returned trial of the ranking winner's configuration gets the
    ranking's decision; any other is reported as "chosen by the project's
    pytest_autotune_select_best", with its ties and confidence judged against it.
    Configurations are compared by case and configuration key, not as objects.

    .. versionadded:: 0.1
    """


@pytest.hookspec
def pytest_autotune_trial_finished(config: pytest.Config, trial: Trial) -> None:
    """Called on the controller when every selected workload point of a configuration has
    reported (or at the end of the run for configurations cut short), after scoring:
    ``trial.score`` holds ``pytest_autotune_score_trial``'s result. Use it to feed an optimiser
    or a logger.

    .. versionadded:: 0.1
    """


@pytest.hookspec(firstresult=True)
def pytest_autotune_generate_report(
    config: pytest.Config, trials: list[Trial], best: dict[str, Trial | None],
    decisions: dict[str, Decision],
) -> RunReport | None:
    """Build the run report (a :class:`~pytest_autotune.results.records.RunReport`) from every trial
    and the best one per case (``best``: case → trial or None; ``decisions``: case →
    :class:`~pytest_autotune.decide.ranking.Decision`, what ``pytest_autotune_select_best``
    decided, with its ties and reason).

    .. versionadded:: 0.1
    """


@pytest.hookspec
def pytest_autotune_update_report(config: pytest.Config, report: RunReport) -> None:
    """Edit the run report in place before it is written and shown. Keys put in
    ``report.extra`` are written at the top level of the run file (CI metadata, ...).

    .. versionadded:: 0.1
    """


@pytest.hookspec
def pytest_autotune_report_writers(config: pytest.Config) -> list[ReportWriter] | None:
    """Return report writers (:class:`~pytest_autotune.report.writers.ReportWriter`) to run
    on the final report; every implementation's writers run. The defaults write the
    per-case results files, the run file, and the terminal table.

    Example (a CSV of every point)::

        class CsvWriter:
            format, stage = "csv", "files"
            def write(self, report, ctx):
                path = ctx.results_dir / "points.csv"
                ...
                return [path]

        def pytest_autotune_report_writers(config):
            return [CsvWriter()]

    .. versionadded:: 0.2
    """
