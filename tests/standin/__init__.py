"""The genai-bench stand-in (``genai_bench.py`` here) for plugin-logic tests.

Three ways in:

- :func:`use_standin` writes a pytester project's ``conftest.py`` (``STANDIN_CONFTEST`` plus the
  test's own conftest text) whose ``pytest_autotune_make_runner`` runs the stand-in;
- ``-p tests.standin.plugin`` does the same for a pytest run from the repository root;
- :func:`runner` gives the runner object itself.

Tests of the measurement chain (genai-bench's argv, files and numbers) use the real genai-bench.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from pytest_autotune.bench.runner import GenaiBenchRunner

__all__ = ["SCRIPT", "STANDIN_CONFTEST", "runner", "use_standin"]

SCRIPT = Path(__file__).resolve().with_name("genai_bench.py")
#: How often the runner checks whether the server died while the stand-in runs (seconds).
POLL = 0.2

STANDIN_CONFTEST = f'''\
import sys

from pytest_autotune.bench.runner import GenaiBenchRunner

#: the genai-bench stand-in of pytest-autotune's tests (not genai-bench)
GENAI_BENCH_STANDIN = {str(SCRIPT)!r}


def pytest_autotune_make_runner(config):
    return GenaiBenchRunner(command=(sys.executable, GENAI_BENCH_STANDIN), poll={POLL})
'''


def runner() -> GenaiBenchRunner:
    """A runner that runs the stand-in with this interpreter instead of genai-bench."""
    return GenaiBenchRunner(command=(sys.executable, str(SCRIPT)), poll=POLL)


def use_standin(pytester: pytest.Pytester, conftest: str = "") -> pytest.Pytester:
    """Make ``pytester``'s project measure with the stand-in; ``conftest`` is appended to its
    ``conftest.py`` (which this writes, so a test must pass its own conftest text here)."""
    pytester.makeconftest(STANDIN_CONFTEST + "\n" + textwrap.dedent(conftest))
    return pytester
