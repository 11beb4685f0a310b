"""pytest-autotune: tune and guard LLM inference servers as parametrized pytest suites.

This module stays import-free (the simulator runs from a bare copy of the package inside a
minimal container); the public names below load on first use.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
#: the public names, and the module each lives in (loaded on first use)
_PUBLIC = {
    "Configuration": "values",
    "Metrics": "values",
    "Stat": "values",
    "Workload": "values",
    "WorkloadPoint": "values",
    "Interval": "decide.stats",
    "Trial": "results.records",
    "RunReport": "results.records",
    "Strategy": "search.base",
    "SearchExhausted": "search.base",
    "Backend": "backends.base",
    "ReportWriter": "report.writers",
}
__all__ = sorted([*_PUBLIC, "__version__"])


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        from importlib import import_module

        return getattr(import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module 'pytest_autotune' has no attribute {name!r}")
