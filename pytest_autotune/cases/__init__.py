"""Tuning cases: YAML files, the earlier tool's task JSON and ``@pytest.mark.autotune``.

All three are validated into one :class:`~pytest_autotune.cases.case.Case`. Loading imports
pydantic, so this package imports nothing itself: its light modules (``grammar``, ``sniff``,
``space``, ``constraints``) are imported without it, and the names below load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .case import Case as Case
    from .case import SimSettings as SimSettings
    from .load import case_from_marker as case_from_marker
    from .load import load_case_file as load_case_file

#: the public names, and the module each lives in
_PUBLIC = {"Case": "case", "SimSettings": "case", "case_from_marker": "load",
           "load_case_file": "load"}
__all__ = ["Case", "SimSettings", "case_from_marker", "load_case_file"]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        from importlib import import_module

        return getattr(import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
