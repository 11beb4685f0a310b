"""Where a run writes, checked before anything is deployed (pytest-free).

A results directory or run store that cannot be written used to surface after every point was
measured, as an INTERNALERROR while the results were written: the measurements were lost.
:func:`unwritable` finds that at start; :func:`rescue` keeps a run's report when a write fails
anyway (a disk that filled up, a directory removed during the run).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def unwritable(directory: Path) -> str | None:
    """Why ``directory`` (made on demand, with its parents) cannot hold files, or None."""
    probe = directory
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        return f"{probe} is a file, not a directory"
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as exc:
        return f"{probe} cannot be written ({exc.strerror or exc})"
    return None


def check_outputs(outputs: Iterable[tuple[str, Path]]) -> list[str]:
    """One line per output that cannot be written: ``(option, directory)`` pairs."""
    problems = []
    for option, directory in outputs:
        why = unwritable(directory)
        if why is not None:
            problems.append(f"{option} ({directory}): {why}")
    return problems


def rescue(report: dict[str, Any], run_id: str) -> Path:
    """The run's report, written where a temporary file can go: what could not be written is
    not lost."""
    path = Path(tempfile.gettempdir()) / f"pytest-autotune-{run_id}-{os.getpid()}.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    return path
