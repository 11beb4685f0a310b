"""Plugin-logic tests: real simulator servers, points measured by the genai-bench stand-in
(tests/standin) unless a test says otherwise."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator

import pytest

from ..scratch import scratch_project

CASE = """\
name: chat
model:
  path: meta-llama/Llama-3.2-1B-Instruct
parameters:
  mem-fraction-static: [0.8, 0.9]
  schedule-policy: [fcfs, lpm]
workload:
  scenarios: ["D(100,100)", "D(1000,200)"]
  concurrency: [1, 16]
slo:
  - ttft.p99 <= 200ms
"""


@pytest.fixture
def case_text() -> str:
    return CASE


@pytest.fixture
def tuning_dir(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project with one YAML case under tuning_cases/."""
    pytester.mkdir("tuning_cases")
    (pytester.path / "tuning_cases" / "chat.yaml").write_text(CASE)
    pytester.makeini(textwrap.dedent("""\
        [pytest]
        autotune_lock_dir = locks
    """))
    return pytester


@pytest.fixture
def project(pytester: pytest.Pytester) -> Iterator[pytest.Pytester]:
    """A scratch project; asserts that no simulator process outlives the test."""
    yield from scratch_project(pytester)
