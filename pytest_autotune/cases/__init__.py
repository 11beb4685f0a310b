"""Tuning cases: YAML files, the earlier tool's task JSON and ``@pytest.mark.autotune``.

All three are validated into one :class:`~pytest_autotune.cases.case.Case`. This package imports
pydantic, so the plugin imports it only when a case is actually collected.
"""

from __future__ import annotations

from .case import Case, SimSettings
from .load import case_from_marker, load_case_file

__all__ = ["Case", "SimSettings", "case_from_marker", "load_case_file"]
