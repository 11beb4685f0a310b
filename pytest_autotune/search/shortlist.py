"""``--autotune-shortlist=K``: estimate a case's whole space, then measure only the K best.

Stage one runs at collection, in this process: every configuration of the case's grid is
"deployed" and measured in estimate mode (the simulator's scheduler in virtual time, seconds for
the lot), judged by the case's SLOs and scored by the same hooks as a measured trial. Stage two is
the ordinary run: only the K best configurations by estimate are collected, and are deployed and
measured in the chosen mode. Configurations that cannot start in the estimate (out of memory, not
enough GPUs) are never shortlisted; the report lists every estimate beside the measured results.

The estimate is deterministic for a run (seeded by the run id, or the case's ``sim.seed``), and
it is kept in ``shortlist/<case>.json`` in the run's directory: xdist workers, which each collect
the case, compute it once and read it from there, so they collect the same items.
"""

from __future__ import annotations

import fcntl
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..backends.estimate import EstimateBackend
from ..cases.case import Case
from ..decide.slo import evaluate, fails
from ..errors import BenchError, DeployError, Infeasible
from ..results.layout import RunLayout
from ..results.records import ConfigIdentity, DeploymentFacts, Outcome, PointRecord, Trial
from ..settings import Settings
from ..values import Configuration, Metrics, WorkloadPoint

if TYPE_CHECKING:
    from ..decide.scoring import Score

#: a score hook: a number, a Score (a number and its interval), or None (not eligible)
Scorer = Callable[[Trial], "Score | float | None"]


@dataclass
class Estimate:
    """One configuration's estimate: its score (None: no point met the SLOs, or it cannot
    start) and why it has none."""

    config_id: str
    config_key: str
    index: int
    score: float | None
    low: float | None = None
    high: float | None = None
    outcome: str = "passed"
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Shortlist:
    """The estimate of a case's space and the configurations chosen to measure."""

    case: str
    source: str
    k: int
    direction: str
    estimates: list[Estimate] = field(default_factory=list)
    chosen: list[str] = field(default_factory=list)  # configuration keys, best first
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"case": self.case, "source": self.source, "k": self.k,
                "direction": self.direction, "seconds": self.seconds, "chosen": self.chosen,
                "estimates": [e.to_dict() for e in self.estimates]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Shortlist:
        return cls(case=data["case"], source=data["source"], k=int(data["k"]),
                   direction=data["direction"], seconds=float(data.get("seconds", 0.0)),
                   chosen=list(data["chosen"]),
                   estimates=[Estimate(**e) for e in data["estimates"]])

    def rank_of(self, key: str) -> int | None:
        return self.chosen.index(key) + 1 if key in self.chosen else None


def estimate_trial(service: Any, case: Case, config: Configuration) -> Trial:
    """Deploy ``config`` in estimate mode and measure every point of the case's workload."""
    points: list[WorkloadPoint] = case.workload.points()
    identity = ConfigIdentity.of(case, config, mode="estimate", simulated=True,
                                 launch_command=service.launch_command(case, config))
    records: list[PointRecord] = []

    def record(point: WorkloadPoint, outcome: Outcome, reason: str | None = None,
               metrics: Metrics | None = None, facts: DeploymentFacts | None = None) -> None:
        verdicts = tuple(evaluate(case.slos, metrics)) if metrics is not None else ()
        if metrics is not None and fails(verdicts):
            outcome = "failed"
        records.append(PointRecord(config=identity, point=point, outcome=outcome, reason=reason,
                                   metrics=metrics, verdicts=verdicts,
                                   deployment=facts or DeploymentFacts(),
                                   expected_points=len(points)))

    try:
        with service.open(case, config, points) as deployment:
            for point in points:
                try:
                    metrics = deployment.measure(point)
                except BenchError as exc:
                    record(point, "error", exc.message)
                    continue
                record(point, "passed", None, metrics, deployment.facts())
    except Infeasible as exc:
        for point in points:
            record(point, "infeasible", exc.reason)
    except DeployError as exc:
        for point in points:
            record(point, "error", exc.message)
    trial = Trial.from_record(records[0])
    for rec in records[1:]:
        trial.add(rec)
    return trial


def build(case: Case, configs: Sequence[Configuration], k: int, settings: Settings,
          run_id: str, score: Scorer, pool_size: int) -> Shortlist:
    """Estimate every configuration and choose the ``k`` best by score."""
    from ..decide.scoring import Score, objective_of
    from ..engine.deploy import DeploymentService

    started = time.monotonic()
    backend = EstimateBackend(pool_size=pool_size)
    quiet = replace(settings, mode="estimate", repeats=1, max_repeats=1, race=False,
                    baseline=None)
    service = DeploymentService(quiet, backend, f"{run_id}/shortlist", None,
                                bench=backend.runner)
    estimates: list[Estimate] = []
    direction = "maximize"
    for config in configs:
        trial = estimate_trial(service, case, config)
        direction = objective_of(trial).direction
        value, interval = Score.parts(score(trial))
        outcome, reason = ("passed", None) if value is not None else _why_not(trial)
        estimates.append(Estimate(
            config.id, config.key, config.index, value,
            interval.low if interval else None, interval.high if interval else None,
            outcome, reason))
    scored = [e for e in estimates if e.score is not None]
    sign = 1.0 if direction == "maximize" else -1.0
    scored.sort(key=lambda e: (-sign * (e.score or 0.0), e.index))
    return Shortlist(case.name, case.source, k, direction, estimates,
                     [e.config_key for e in scored[:k]], time.monotonic() - started)


def _why_not(trial: Trial) -> tuple[str, str | None]:
    for outcome in ("infeasible", "error"):
        reasons = [p.reason for p in trial.points if p.outcome == outcome]
        if reasons:
            return outcome, reasons[0] or outcome
    return "failed", "no workload point met every SLO"


def path_for(run: RunLayout, case: Case) -> Path:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{case.name}-{case.source}")[:120]
    return run.shortlist / f"{slug}.json"


def cached(path: Path, make: Callable[[], Shortlist]) -> Shortlist:
    """The shortlist stored at ``path``, made (once, under a lock) when absent."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            return Shortlist.from_dict(json.loads(path.read_text(encoding="utf-8")))
        made = make()
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(made.to_dict(), indent=1), encoding="utf-8")
        tmp.replace(path)
        return made


def stored(run: RunLayout) -> list[Shortlist]:
    """Every shortlist made for a run (for its report)."""
    folder = run.shortlist
    if not folder.is_dir():
        return []
    return [Shortlist.from_dict(json.loads(p.read_text(encoding="utf-8")))
            for p in sorted(folder.glob("*.json"))]
