"""The results store: point records in, trials out, each scored the moment it completes.

Records arrive one by one (on the controller of an xdist run, from every worker). Each is
appended to the run's journal (``records.jsonl``) as it arrives, so measured results survive a
crash of the run; a configuration's trial completes when every point it planned has reported:
the store scores it (``score``: the score hook's answer) and records the score on the trial,
the one place a trial's score and its interval are set, then hands it to ``on_complete`` (which
tells the strategy and hooks).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from ..decide.scoring import Score
from .records import PointRecord, Trial, group_records

TrialCallback = Callable[[Trial], None]
#: a trial's score: a :class:`~pytest_autotune.decide.scoring.Score`, a plain number (no
#: interval), or None (not eligible, or not scored in this process)
Scorer = Callable[[Trial], "Score | float | None"]


class ResultsStore:
    def __init__(self, journal: Path | None, on_complete: TrialCallback | None = None,
                 score: Scorer | None = None) -> None:
        self.journal = journal
        self.on_complete = on_complete
        self.scorer = score
        self.records: list[PointRecord] = []
        self._trials: dict[str, Trial] = {}
        self._completed: set[str] = set()

    def __bool__(self) -> bool:
        return bool(self.records)

    def add(self, record: PointRecord) -> Trial | None:
        """Take one record; returns its trial when this record completed it."""
        self.records.append(record)
        self._write(record)
        key = record.config_key
        trial = self._trials.get(key)
        if trial is None:
            trial = self._trials[key] = Trial.from_record(record)
        else:
            trial.add(record)
        if key in self._completed or not trial.complete:
            return None
        self._complete(trial)
        return trial

    def finish(self) -> list[Trial]:
        """Every trial, in case then grid order; trials cut short (``-x``, Ctrl-C, a crashed
        worker) are completed now with the points they have."""
        for trial in self.trials():
            if trial.config_key not in self._completed:
                self._complete(trial)
        return self.trials()

    def trials(self) -> list[Trial]:
        return sorted(self._trials.values(), key=lambda t: (t.source, t.case, t.index))

    def record_score(self, trial: Trial) -> None:
        """Score ``trial`` and record its score and interval on it (a completed trial of this
        run, or one of a ``--lf`` merge)."""
        if self.scorer is None:
            return
        trial.score, trial.score_interval = Score.parts(self.scorer(trial))

    def _complete(self, trial: Trial) -> None:
        self._completed.add(trial.config_key)
        self.record_score(trial)
        if self.on_complete is not None:
            self.on_complete(trial)

    def _write(self, record: PointRecord) -> None:
        if self.journal is None:
            return
        self.journal.parent.mkdir(parents=True, exist_ok=True)
        with open(self.journal, "a", encoding="utf-8") as f:
            f.write(json.dumps(record.to_dict(), default=str) + "\n")


def read_journal(path: Path) -> list[Trial]:
    """The trials of a run's journal (a crashed run's results, or for inspection)."""
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            records.append(PointRecord.from_dict(json.loads(line)))
    return group_records(records)
