"""Where a run keeps its files: one run directory under the results directory.

``<results_dir>/runs/<run_id>/`` holds the journal of point records (``records.jsonl``), the
live status files of xdist workers (``progress/``), the shortlists made by estimate
(``shortlist/``), Optuna's journal (``study.log``), the run's reports (``report.json``,
``report.html``) and one folder per deployment (``<case>/<configuration>``, its logs and
genai-bench's files). Every path below a run directory is spelled here and only here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: the folder of run directories under the results directory
RUNS = "runs"


@dataclass(frozen=True)
class RunLayout:
    """The paths of one run directory (nothing is created: the writers make what they write)."""

    dir: Path

    @classmethod
    def of(cls, results_dir: Path, run_id: str) -> RunLayout:
        """The run directory of ``run_id`` under ``results_dir``."""
        return cls(results_dir / RUNS / run_id)

    @property
    def run_id(self) -> str:
        return self.dir.name

    @property
    def records(self) -> Path:
        """The journal: one point record a line, appended as each arrives."""
        return self.dir / "records.jsonl"

    @property
    def progress(self) -> Path:
        """The status files xdist workers publish for the controller's live view."""
        return self.dir / "progress"

    @property
    def shortlist(self) -> Path:
        """``--autotune-shortlist``: one file per case, made once per run."""
        return self.dir / "shortlist"

    @property
    def study(self) -> Path:
        """Optuna's journal file when ``--autotune-study`` names none."""
        return self.dir / "study.log"

    @property
    def report_json(self) -> Path:
        return self.dir / "report.json"

    @property
    def report_html(self) -> Path:
        """The HTML report unless ``--autotune-html`` names another path."""
        return self.dir / "report.html"

    def deployment(self, case: str, config_dir: str) -> Path:
        """The folder of a configuration's deployment (a second deployment of it takes
        ``<config_dir>.2``, see ``engine/deploy.py``)."""
        return self.dir / case / config_dir


__all__ = ["RUNS", "RunLayout"]
