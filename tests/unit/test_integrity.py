"""Run integrity (integrity.py): the reasons a run is partial, in words that say what happened."""

from __future__ import annotations

from pytest_autotune.results.integrity import RunFacts, assess


def test_a_run_stopped_by_x_says_so_and_does_not_suggest_a_crash() -> None:
    partial = assess(RunFacts(planned=6, reported=1, measured=1,
                              stopped_early="-x, at the first failure"))
    assert not partial.complete
    assert partial.reasons == ("stopped early (-x, at the first failure)",
                               "5 of 6 planned items were not run")
    assert "crash" not in "; ".join(partial.reasons)


def test_an_interrupted_run_does_not_suggest_a_crash_either() -> None:
    partial = assess(RunFacts(planned=6, reported=2, measured=2, interrupted=True))
    assert partial.reasons == ("interrupted", "4 of 6 planned items were not run")


def test_items_missing_without_a_stop_may_be_a_crashed_worker() -> None:
    partial = assess(RunFacts(planned=6, reported=4, measured=4))
    assert partial.reasons == ("2 of 6 planned items did not report (a crashed worker?)",)
