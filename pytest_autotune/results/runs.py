"""Numbered run files, stored as pytest-benchmark stores its runs:
``runs/NNNN_<commit>_<timestamp>.json``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import warnings
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import AutotuneWarning
from .records import Kind, KindMismatch, ReportFormatError, RunReport, kind_text

_RUN_FILE = re.compile(r"^(\d{4})_([^_]+)_(\d{8}-\d{6})\.json$")
_STAMP = re.compile(r"\d{8}-\d{6}")


def git_commit(root: Path) -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
            timeout=5, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "nocommit"
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and commit else "nocommit"


def runs_folder(storage: Path) -> Path:
    """Where the numbered run files live under ``--autotune-storage``."""
    return storage / "runs"


def run_files(storage: Path) -> list[Path]:
    folder = runs_folder(storage)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if _RUN_FILE.match(p.name))


def next_number(storage: Path) -> int:
    numbers = [int(m.group(1)) for p in run_files(storage) if (m := _RUN_FILE.match(p.name))]
    return max(numbers, default=0) + 1


def write_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n",
                   encoding="utf-8")
    os.replace(tmp, path)


def save_run(storage: Path, report: dict[str, Any], commit: str) -> Path:
    """Write the report as the next numbered run file (retrying if a parallel run took it),
    stamped with the run's start as its run id is (``20261203-101500-ab12`` →
    ``NNNN_<commit>_20261203-101500.json``)."""
    started = _STAMP.match(str(report.get("run_id", "")))
    stamp = started.group(0) if started else datetime.now().strftime("%Y%m%d-%H%M%S")
    for _ in range(20):
        path = runs_folder(storage) / f"{next_number(storage):04d}_{commit}_{stamp}.json"
        try:
            fd = os.open(path.parent / (path.name + ".lock"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            continue
        except FileExistsError:
            continue
        try:
            if path.exists():
                continue
            write_atomic(path, report)
            return path
        finally:
            os.close(fd)
            os.unlink(path.parent / (path.name + ".lock"))
    raise OSError(f"could not allocate a run file under {storage / 'runs'}")


#: how a caller hears of a run file it skipped (default: an :class:`AutotuneWarning`)
Notice = Callable[[str], None]


def warn(message: str) -> None:
    warnings.warn(AutotuneWarning(message), stacklevel=3)


def load_run(path: Path) -> RunReport:
    """A stored run, its format version checked (:class:`ReportFormatError` names the file)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportFormatError(f"{path}: unreadable run file ({exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportFormatError(
            f"{path}: unreadable run file, not complete JSON ({exc}): a copy or a write cut "
            "short? Restore it, or delete it") from None
    if not isinstance(data, dict):
        raise ReportFormatError(f"{path} is not a pytest-autotune run file")
    return RunReport.from_dict(data, what=str(path))


def eligible(report: RunReport, *, cases: set[str] | None = None, kind: Kind | None = None,
             passed_gate: bool = True) -> bool:
    """Whether ``report`` can stand for ``latest-complete``: complete, measured something,
    holds ``cases``, is of ``kind`` (given one) and, with ``passed_gate``, did not fail a
    baseline gate of its own."""
    if not report.complete or (report.completeness.measured_nothing and
                               report.completeness.planned):
        return False
    if cases and not cases <= {c.name for c in report.cases}:
        return False
    if kind is not None and report.kind != kind:
        return False
    return not (passed_gate and report.gate == "failed")


def latest_complete(storage: Path, cases: set[str] | None = None, *, kind: Kind | None = None,
                    passed_gate: bool = True, notice: Notice | None = warn) -> Path | None:
    """The newest run file that is complete, measured something, is of ``kind`` (given one)
    and, unless ``passed_gate`` is False, did not fail its baseline gate (and, given ``cases``,
    holds every one of them). A file that cannot be read is skipped with a ``notice`` naming
    it."""
    for path in reversed(run_files(storage)):
        try:
            report = load_run(path)
        except ReportFormatError as exc:
            if notice is not None:
                notice(f"skipped {exc}")
            continue
        if eligible(report, cases=cases, kind=kind, passed_gate=passed_gate):
            return path
    return None


def describe_latest_complete(storage: Path, kind: Kind | None) -> str:
    what = f"complete run that is {kind_text(kind)}" if kind else "complete run"
    return (f"no {what} whose baseline gate (if it had one) passed under {storage / 'runs'} "
            "(`pytest-autotune list` shows each run's mode, kind, completeness and gate)")


def find_run(storage: Path, ref: str | None, *, kind: Kind | None = None,
             notice: Notice | None = warn) -> Path:
    """A run by number (``3``, ``0003``), by path, the latest (``None``/``latest``), or the
    newest complete one that passed its gate (``latest-complete``, of ``kind`` given one: the
    one ref that chooses among runs). An explicit run is returned whatever its kind: the caller
    checks it (:func:`check_kind`)."""
    files = run_files(storage)
    if ref == "latest-complete":
        found = latest_complete(storage, kind=kind, notice=notice)
        if found is None:
            raise FileNotFoundError(describe_latest_complete(storage, kind))
        return found
    if ref in (None, "latest", "last"):
        if not files:
            raise FileNotFoundError(f"no runs stored under {storage / 'runs'}")
        return files[-1]
    assert ref is not None
    candidate = Path(ref)
    if candidate.exists():
        return candidate
    if ref.isdigit():
        for path in files:
            m = _RUN_FILE.match(path.name)
            if m and int(m.group(1)) == int(ref):
                return path
    raise FileNotFoundError(f"no run {ref!r} under {storage / 'runs'}")


def check_kind(name: str, report: RunReport, wanted: Kind | None, *, this: str,
               fix: str) -> None:
    """Raise :class:`KindMismatch` unless ``report`` (called ``name``) is of kind ``wanted``
    (what ``this`` is): estimates, simulations and real measurements never stand in for one
    another."""
    if report.kind == wanted and wanted is not None:
        return
    raise KindMismatch(
        f"{name} is {kind_text(report.kind)}, {this} is {kind_text(wanted)}: estimates, "
        f"simulations and real measurements are never compared; {fix}")
