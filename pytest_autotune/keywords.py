"""``-k`` support for configuration and workload ids.

Item ids carry ``=`` and scenario strings (``mem-fraction-static=0.8``, ``D(100,100)``), which
pytest's ``-k`` grammar cannot spell. Every autotune item therefore also answers to an alias with
``=`` written as ``:`` and scenarios written as genai-bench names its files (``D100_100``), and
``-k`` expressions that use ``=`` or scenario strings — invalid for pytest anyway — are rewritten
to those aliases before pytest parses them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_SCENARIO = re.compile(r"\b([DNU])\((\d+),\s*(\d+)\)(?:/\((\d+),\s*(\d+)\))?")


def _sanitize(match: re.Match[str]) -> str:
    return match.group(1) + "_".join(g for g in match.groups()[1:] if g is not None)


def alias(name: str) -> str:
    return _SCENARIO.sub(_sanitize, name).replace("=", ":")


def rewrite_expression(expr: str) -> str:
    """``mem-fraction-static=0.8 and D(100,100)`` → ``mem-fraction-static:0.8 and D100_100``."""
    return alias(expr)


def aliases(names: Iterable[str]) -> set[str]:
    return {a for a in (alias(n) for n in names) if a}
