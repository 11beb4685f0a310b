"""Numbered run files, stored as pytest-benchmark stores its runs:
``runs/NNNN_<commit>_<timestamp>.json``."""

from __future__ import annotations

import json
import os
import re
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

from ..results import ReportFormatError, RunReport

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


def run_files(storage: Path) -> list[Path]:
    folder = storage / "runs"
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
        path = storage / "runs" / f"{next_number(storage):04d}_{commit}_{stamp}.json"
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


def load_run(path: Path) -> RunReport:
    """A stored run, its format version checked (:class:`ReportFormatError` names the file)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ReportFormatError(f"{path}: not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ReportFormatError(f"{path} is not a pytest-autotune run file")
    return RunReport.from_dict(data, what=str(path))


def latest_complete(storage: Path, cases: set[str] | None = None) -> Path | None:
    """The newest run file that is complete and measured something (and, given ``cases``,
    holds every one of them)."""
    for path in reversed(run_files(storage)):
        try:
            report = load_run(path)
        except ReportFormatError:
            continue
        if not report.complete or (report.completeness.measured_nothing and \
                report.completeness.planned):
            continue
        if cases and not cases <= {c.name for c in report.cases}:
            continue
        return path
    return None


def find_run(storage: Path, ref: str | None) -> Path:
    """A run by number (``3``, ``0003``), by path, the latest (``None``/``latest``), or the
    newest complete one (``latest-complete``)."""
    files = run_files(storage)
    if ref == "latest-complete":
        found = latest_complete(storage)
        if found is None:
            raise FileNotFoundError(f"no complete run stored under {storage / 'runs'}")
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
