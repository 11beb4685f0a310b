"""Hooks a ``conftest.py`` (or another plugin) can implement to customise pytest-autotune.

Defaults live in :mod:`pytest_autotune.scoring` and :mod:`pytest_autotune.session` as ``trylast``
implementations, so any conftest implementation runs first and wins for ``firstresult`` hooks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .backends.base import Backend
    from .bench.runner import Runner
    from .trials import Trial


@pytest.hookspec(firstresult=True)
def pytest_autotune_make_backend(config: pytest.Config, mode: str) -> Backend | None:
    """Return the backend that deploys servers in ``mode``, or None to let the next one decide.

    Example (a conftest that deploys through an in-house launcher)::

        def pytest_autotune_make_backend(config, mode):
            if mode == "local":
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
def pytest_autotune_score_trial(config: pytest.Config, trial: Trial) -> float | None:
    """Score one configuration (a :class:`~pytest_autotune.trials.Trial` with every workload
    point it measured). Return None when the configuration is not eligible (e.g. no point met
    the SLOs). Higher or lower is better according to ``trial.objective_direction``, unless
    you also implement ``pytest_autotune_select_best``.

    Example (rank by p90 TTFT at concurrency 16, lower is better)::

        def pytest_autotune_score_trial(config, trial):
            point = trial.point("D(100,100)", 16)
            return -point.metrics.ttft.p90 if point and point.metrics else None

    .. versionadded:: 0.1
    """


@pytest.hookspec(firstresult=True)
def pytest_autotune_select_best(config: pytest.Config, trials: list[Trial]) -> Trial | None:
    """Pick the best configuration of one case among its scored trials (None: no winner).

    .. versionadded:: 0.1
    """


@pytest.hookspec
def pytest_autotune_trial_finished(config: pytest.Config, trial: Trial) -> None:
    """Called on the controller when every selected workload point of a configuration has
    reported (or at the end of the run for configurations cut short). Use it to feed an
    optimiser or a logger.

    .. versionadded:: 0.1
    """


@pytest.hookspec(firstresult=True)
def pytest_autotune_generate_report(
    config: pytest.Config, trials: list[Trial], best: dict[str, Trial | None]
) -> dict[str, Any] | None:
    """Build the run report (a JSON-able dict) from every trial and the best one per case.

    .. versionadded:: 0.1
    """


@pytest.hookspec
def pytest_autotune_update_report(config: pytest.Config, report: dict[str, Any]) -> None:
    """Edit the run report in place before it is written and shown (add CI metadata, ...).

    .. versionadded:: 0.1
    """
