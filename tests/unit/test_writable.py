"""Outputs checked before a run deploys anything (writable.py) and run writers that fail."""

from __future__ import annotations

from pathlib import Path

from pytest_autotune.results.writable import check_outputs, unwritable


def test_a_directory_made_on_demand_is_writable(tmp_path: Path) -> None:
    assert unwritable(tmp_path / "results" / "runs") is None
    assert not (tmp_path / "results").exists()  # the check makes nothing


def test_a_file_in_the_way_is_named(tmp_path: Path) -> None:
    (tmp_path / "results").write_text("x")
    assert unwritable(tmp_path / "results" / "runs") == (
        f"{tmp_path / 'results'} is a file, not a directory")
    assert check_outputs([("--autotune-results-dir", tmp_path / "results"),
                          ("--autotune-storage", tmp_path / ".autotune")]) == [
        f"--autotune-results-dir ({tmp_path / 'results'}): {tmp_path / 'results'} is a file, "
        "not a directory"]
