"""Trials: every configuration's results, assembled on the controller from item records."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .model import FlagValue, Metrics, PointRecord, WorkloadPoint


@dataclass
class PointResult:
    """One workload point of one configuration."""

    point: WorkloadPoint
    outcome: str
    metrics: Metrics | None
    verdicts: list[dict[str, Any]]
    reason: str | None = None
    nodeid: str = ""
    bench_seconds: float | None = None

    @property
    def slo_ok(self) -> bool:
        """Measured, and every SLO (hard or soft) held."""
        return self.metrics is not None and all(v.get("ok") for v in self.verdicts)

    @property
    def hard_ok(self) -> bool:
        return self.metrics is not None and not any(v.get("hard_failure") for v in self.verdicts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "point": self.point.to_dict(), "id": self.point.id, "outcome": self.outcome,
            "reason": self.reason, "nodeid": self.nodeid, "slo_ok": self.slo_ok,
            "metrics": self.metrics.to_dict() if self.metrics else None,
            "verdicts": self.verdicts, "bench_seconds": self.bench_seconds,
        }


@dataclass
class Trial:
    """One configuration of one case and what each of its workload points measured."""

    case: str
    source: str
    config_id: str
    config_key: str
    index: int
    params: dict[str, FlagValue]
    labels: dict[str, str]
    mode: str
    simulated: bool
    objective: str
    launch_command: list[str]
    expected_points: int
    points: list[PointResult] = field(default_factory=list)
    deploy_seconds: float | None = None
    gpus: list[str] = field(default_factory=list)
    server_info: dict[str, Any] = field(default_factory=dict)
    steepness: float = 0.1
    artifacts: str | None = None
    score: float | None = None
    seed: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """``ok`` (measured), ``infeasible``, ``error`` or ``skipped``."""
        outcomes = {p.outcome for p in self.points}
        if any(p.metrics is not None for p in self.points):
            return "ok"
        for status in ("infeasible", "error"):
            if status in outcomes:
                return status
        return "skipped"

    @property
    def complete(self) -> bool:
        return len(self.points) >= self.expected_points

    @property
    def labelled_params(self) -> dict[str, FlagValue]:
        return {self.labels.get(k, k): v for k, v in self.params.items()}

    @property
    def reason(self) -> str | None:
        return next((p.reason for p in self.points if p.reason), None)

    def point(self, scenario: str, concurrency: int) -> PointResult | None:
        for p in self.points:
            if p.point == WorkloadPoint(scenario, concurrency):
                return p
        return None

    def add(self, record: PointRecord) -> None:
        point = WorkloadPoint.from_dict(record["point"])
        metrics = record.get("metrics")
        result = PointResult(
            point=point,
            outcome=record.get("outcome", "error"),
            metrics=Metrics.from_dict(metrics) if metrics else None,
            verdicts=list(record.get("verdicts") or []),
            reason=record.get("reason"),
            nodeid=record.get("nodeid", ""),
            bench_seconds=record.get("bench_seconds"),
        )
        self.points = [p for p in self.points if p.point != point] + [result]
        self.points.sort(key=lambda p: p.point)
        if record.get("deploy_seconds") is not None:
            self.deploy_seconds = record.get("deploy_seconds")
        if record.get("server_info"):
            self.server_info = dict(record.get("server_info") or {})
        if record.get("launch_command"):
            self.launch_command = list(record.get("launch_command") or [])
        if record.get("gpus"):
            self.gpus = list(record.get("gpus") or [])
        if record.get("artifacts"):
            self.artifacts = record.get("artifacts")

    @classmethod
    def from_record(cls, record: PointRecord) -> Trial:
        trial = cls(
            case=record["case"],
            source=record.get("source", ""),
            config_id=record["config_id"],
            config_key=record["config_key"],
            index=int(record.get("config_index", 0)),
            params=dict(record.get("params") or {}),
            labels=dict(record.get("labels") or {}),
            mode=record.get("mode", "sim"),
            simulated=bool(record.get("simulated", False)),
            objective=record.get("objective", "max_output_throughput"),
            launch_command=list(record.get("launch_command") or []),
            expected_points=int(record.get("expected_points", 1)),
            steepness=float(record.get("steepness", 0.1) or 0.1),
            seed=dict(record.get("seed") or {}),
        )
        trial.add(record)
        return trial

    def to_dict(self) -> dict[str, Any]:
        return {
            "case": self.case, "source": self.source, "config_id": self.config_id,
            "config_key": self.config_key, "index": self.index, "params": self.params,
            "labelled_params": self.labelled_params, "mode": self.mode,
            "simulated": self.simulated, "objective": self.objective, "score": self.score,
            "status": self.status, "reason": self.reason, "launch_command": self.launch_command,
            "deploy_seconds": self.deploy_seconds, "gpus": self.gpus,
            "server_info": self.server_info, "artifacts": self.artifacts,
            "points": [p.to_dict() for p in self.points],
        }


def group_records(records: Iterable[PointRecord]) -> list[Trial]:
    """Trials in case order, then grid order."""
    trials: dict[str, Trial] = {}
    for record in records:
        key = record["config_key"]
        if key in trials:
            trials[key].add(record)
        else:
            trials[key] = Trial.from_record(record)
    return sorted(trials.values(), key=lambda t: (t.source, t.case, t.index))


def by_case(trials: Sequence[Trial]) -> dict[str, list[Trial]]:
    out: dict[str, list[Trial]] = {}
    for trial in trials:
        out.setdefault(trial.case, []).append(trial)
    return out
