"""Run integrity: whether a run measured everything it planned (pytest-free).

A partial run — interrupted, stopped by ``-x``, narrowed by ``-k``/``-m``/``--lf``/``--deselect``,
or short of items that never reported (a crashed worker) — is recorded as such in its run file.
It never replaces a complete ``results/<case>_results.json`` and never becomes
``latest-complete``; a ``--lf`` rerun is merged into the latest complete run of the same kind
instead (what a user expects from a rerun: the old results with the failed points measured
again; an estimate never into a measurement, the simulator's numbers never into a real
server's). Points pruned
after a missed SLO (pruning.py) were planned and report a skip: they leave a run complete.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from .records import Completeness, KindMismatch, PointResult, RunReport, Trial, kind_text


@dataclass(frozen=True)
class RunFacts:
    """What the pytest layer knows about how the run went."""

    planned: int
    reported: int
    measured: int
    interrupted: bool = False
    stopped_early: str | None = None
    narrowed_by: Sequence[str] = field(default_factory=tuple)


def assess(facts: RunFacts) -> Completeness:
    reasons: list[str] = []
    if facts.interrupted:
        reasons.append("interrupted")
    if facts.stopped_early:
        reasons.append(f"stopped early ({facts.stopped_early})")
    if facts.narrowed_by:
        reasons.append("items selected with " + ", ".join(facts.narrowed_by))
    if facts.reported < facts.planned:
        missing = facts.planned - facts.reported
        if facts.stopped_early or facts.interrupted:  # what the stop explains, not a crash
            reasons.append(f"{missing} of {facts.planned} planned items were not run")
        else:
            reasons.append(f"{missing} of {facts.planned} planned items did not report (a "
                           "crashed worker?)")
    if facts.measured == 0:
        reasons.append("no workload point was measured")
    return Completeness(complete=not reasons, reasons=tuple(reasons), planned=facts.planned,
                        reported=facts.reported, measured=facts.measured)


def merge(previous: RunReport, trials: Sequence[Trial]) -> list[Trial]:
    """The previous run's trials of the cases this run touched, with every point this run
    measured again replacing the old one (other cases of the previous run are left out).
    Raises :class:`KindMismatch` when a trial's numbers are of another kind than the previous
    run's (an estimate into a measured run, the simulator's numbers into a real server's)."""
    for trial in trials:
        if trial.kind != previous.kind:
            raise KindMismatch(
                f"{trial.case} {trial.config_id} is {kind_text(trial.kind)} and the run it was "
                f"to be merged into is {kind_text(previous.kind)}: runs of different kinds "
                "never mix; merge into a run of the same kind")
    fresh = {t.config_key: t for t in trials}
    touched = {t.case for t in trials}
    merged: list[Trial] = []
    for case in previous.cases:
        if case.name not in touched:
            continue
        for old in case.trials:
            new = fresh.pop(old.config_key, None)
            if new is None:
                merged.append(replace(old, score=None, score_interval=None))
                continue
            points: dict[str, PointResult] = {p.id: p for p in old.points}
            points.update({p.id: p for p in new.points})
            merged.append(replace(new, points=sorted(points.values(), key=lambda p: p.point),
                                  expected_points=len(points), score=None,
                                  score_interval=None))
    merged.extend(fresh.values())
    return sorted(merged, key=lambda t: (t.source, t.case, t.index))


__all__ = ["Completeness", "RunFacts", "assess", "merge"]
