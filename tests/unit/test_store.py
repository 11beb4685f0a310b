"""The results store (store.py): records in, each journalled as it arrives, and every trial scored
(the one place a score is recorded) and handed on the moment its last planned point reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_autotune.decide import scoring
from pytest_autotune.decide.scoring import Score, score_trial
from pytest_autotune.decide.stats import Interval
from pytest_autotune.results.records import PointRecord, Trial, group_records
from pytest_autotune.results.store import ResultsStore, read_journal

from .builders import around, metrics, record

OBJECTIVE = "max_output_throughput"


def point(config: str, c: int, index: int, out: float = 500.0) -> PointRecord:
    """Point ``c`` of configuration ``config`` (grid position ``index``), one of two planned."""
    return record(config, c, metrics(out, 0.2), [], OBJECTIVE, index=index)


class Finished:
    """An ``on_complete`` that keeps the trials in the order they completed, and the score
    each had when it was handed on."""

    def __init__(self) -> None:
        self.trials: list[Trial] = []
        self.scores: list[float | None] = []

    def __call__(self, trial: Trial) -> None:
        self.trials.append(trial)
        self.scores.append(trial.score)

    @property
    def ids(self) -> list[str]:
        return [t.config_id for t in self.trials]


def test_a_trial_completes_when_its_last_planned_point_reports() -> None:
    finished = Finished()
    store = ResultsStore(None, on_complete=finished, score=score_trial)
    assert not store
    assert store.add(point("a", 1, 0, out=500)) is None and finished.trials == []
    assert store
    done = store.add(point("a", 4, 0, out=900))
    assert done is not None and done.complete and [p.point.concurrency for p in done.points] \
        == [1, 4]
    # scored the moment it completed, before it was handed on; the store holds that trial
    assert finished.trials == [done] and finished.scores == [900] and done.score == 900
    assert store.trials() == [done] and store.trials()[0].score == 900


def test_a_point_reported_again_does_not_complete_its_trial_twice() -> None:
    """A point run again (an item xdist gives a replacement worker after a crash) replaces the
    earlier point; the trial, already handed on, is not handed on again."""
    finished = Finished()
    store = ResultsStore(None, on_complete=finished, score=score_trial)
    store.add(point("a", 1, 0))
    store.add(point("a", 4, 0, out=900))
    assert store.add(point("a", 4, 0, out=950)) is None
    assert finished.ids == ["a"]
    [trial] = store.trials()
    assert len(trial.points) == 2 and trial.points[1].metrics is not None \
        and trial.points[1].metrics.output_throughput == 950


def test_finish_completes_the_trials_cut_short_with_the_points_they_have() -> None:
    """-x, Ctrl-C or a crashed worker leaves a configuration with fewer points than planned:
    the report still gets it, scored on what was measured, after every complete one."""
    finished = Finished()
    store = ResultsStore(None, on_complete=finished, score=score_trial)
    store.add(point("b", 1, 1, out=700))
    store.add(point("a", 1, 0))
    store.add(point("a", 4, 0))
    assert finished.ids == ["a"]
    trials = store.finish()
    assert finished.ids == ["a", "b"]
    assert [t.config_id for t in trials] == ["a", "b"]
    cut = trials[1]
    assert not cut.complete and len(cut.points) == 1 and cut.score == 700
    assert store.finish() == trials and finished.ids == ["a", "b"]  # once each


def test_trials_come_in_grid_order_whatever_order_their_records_arrived_in() -> None:
    """An xdist run's records arrive in whatever order the workers finish: the report lists
    configurations in grid order, as a serial run does."""
    store = ResultsStore(None)
    for rec in (point("c", 4, 2), point("a", 1, 0), point("c", 1, 2), point("b", 1, 1),
                point("a", 4, 0), point("b", 4, 1)):
        store.add(rec)
    assert [t.config_id for t in store.trials()] == ["a", "b", "c"]
    assert [t.config_id for t in store.finish()] == ["a", "b", "c"]


def test_every_record_is_journalled_as_it_arrives_and_read_back_as_trials(
    tmp_path: Path,
) -> None:
    """The journal survives a crash of the run: a record is on disk before its trial completes,
    and reading the journal gives the trials the store held."""
    journal = tmp_path / "runs" / "0001" / "records.jsonl"
    store = ResultsStore(journal)
    first = point("a", 1, 0)
    store.add(first)
    assert [json.loads(x) for x in journal.read_text().splitlines()] == [
        json.loads(json.dumps(first.to_dict(), default=str))]
    for rec in (point("b", 1, 1), point("a", 4, 0), point("b", 4, 1)):
        store.add(rec)
    assert len(journal.read_text().splitlines()) == 4
    assert [t.to_dict() for t in read_journal(journal)] == \
        [t.to_dict() for t in store.trials()]


def test_a_store_without_a_journal_writes_nothing(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """An xdist worker's store scores for its strategies; only the controller journals."""
    monkeypatch.chdir(tmp_path)
    store = ResultsStore(None)
    assert store.add(point("a", 1, 0)) is None and store.add(point("a", 4, 0)) is not None
    assert list(tmp_path.iterdir()) == []


# -- the score recorded: the one place a trial's score and interval are set ----------------------
def two_point_trial(out: float = 900.0) -> Trial:
    return group_records([record("a", c, metrics(out, 0.2, intervals={
        "output_throughput": around(out, 10)}), [], OBJECTIVE) for c in (1, 4)])[0]


def test_the_store_records_the_built_in_score_with_its_interval() -> None:
    store = ResultsStore(None, score=scoring.score)
    for p in two_point_trial().points:
        store.add(record("a", p.point.concurrency, p.metrics, [], OBJECTIVE))
    [trial] = store.trials()
    assert trial.score == 900 and trial.score_interval == around(900, 10)


def test_a_plain_number_is_recorded_without_an_interval() -> None:
    """A project's score hook returns a number: no interval, whatever the trial held before
    (a trial of a stored run, merged by --lf, carries its old one)."""
    trial = two_point_trial()
    trial.score, trial.score_interval = 1.0, Interval(0.5, 1.5)
    ResultsStore(None, score=lambda t: 7).record_score(trial)
    assert trial.score == 7 and trial.score_interval is None
    ResultsStore(None, score=lambda t: Score(3.0, Interval(2.0, 4.0))).record_score(trial)
    assert trial.score == 3.0 and trial.score_interval == Interval(2.0, 4.0)
    ResultsStore(None, score=lambda t: None).record_score(trial)
    assert trial.score is None and trial.score_interval is None


def test_without_a_scorer_the_store_leaves_scores_alone() -> None:
    trial = two_point_trial()
    ResultsStore(None).record_score(trial)
    assert trial.score is None and trial.score_interval is None
