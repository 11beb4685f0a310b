"""``pytest -p tests.standin.plugin``: measure with the genai-bench stand-in (from the repository
root, e.g. for the example suites in ``tuning_cases/``)."""

from __future__ import annotations

import pytest

from pytest_autotune.bench.runner import Runner

from . import runner


def pytest_autotune_make_runner(config: pytest.Config) -> Runner:
    return runner()
