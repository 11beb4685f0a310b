"""End-to-end: the real plugin, real genai-bench, the simulator as a real server process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..scratch import scratch_project


@pytest.fixture
def project(pytester: pytest.Pytester) -> Iterator[pytest.Pytester]:
    """A scratch project; asserts that no simulator process outlives the test."""
    yield from scratch_project(pytester)
