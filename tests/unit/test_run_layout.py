"""The run directory's layout (results/layout.py): every path of a run, as the docs and the
tools that read run directories know them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pytest_autotune.results.layout import RunLayout


def test_a_run_directory_sits_under_runs_in_the_results_directory() -> None:
    run = RunLayout.of(Path("results"), "20261207-101500-ab12")
    assert run.dir == Path("results/runs/20261207-101500-ab12")
    assert run.run_id == "20261207-101500-ab12"
    assert run == RunLayout(Path("results/runs/20261207-101500-ab12"))


def test_every_child_of_a_run_directory() -> None:
    run = RunLayout.of(Path("/r"), "run-1")
    assert run.records == Path("/r/runs/run-1/records.jsonl")
    assert run.progress == Path("/r/runs/run-1/progress")
    assert run.shortlist == Path("/r/runs/run-1/shortlist")
    assert run.study == Path("/r/runs/run-1/study.log")
    assert run.report_json == Path("/r/runs/run-1/report.json")
    assert run.report_html == Path("/r/runs/run-1/report.html")
    assert run.deployment("chat", "000-tp=1-ab12cd") == Path("/r/runs/run-1/chat/000-tp=1-ab12cd")


def test_a_layout_is_a_value_that_creates_nothing(tmp_path: Path) -> None:
    run = RunLayout.of(tmp_path, "run-1")
    assert [run.records, run.progress, run.study, run.deployment("c", "d")]
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.dir = tmp_path  # type: ignore[misc]
