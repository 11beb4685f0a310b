"""pytest-autotune: tune and guard LLM inference servers as parametrized pytest suites."""

from __future__ import annotations

__version__ = "0.1.0"
