"""pytest-autotune: tune and guard LLM inference servers as parametrized pytest suites.

This module stays import-free (the simulator runs from a bare copy of the package inside a
minimal container); the public names below load on first use.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["Configuration", "Metrics", "Stat", "Workload", "WorkloadPoint", "__version__"]


def __getattr__(name: str) -> Any:
    if name in __all__ and name != "__version__":
        from . import model

        return getattr(model, name)
    raise AttributeError(f"module 'pytest_autotune' has no attribute {name!r}")
