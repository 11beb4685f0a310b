"""The results model: point record → trial → case report → run report.

One typed shape per level, each with a JSON round trip. A :class:`PointRecord` is what one test
item measured (it crosses xdist workers as a plain dict and is journaled as one JSON line); a
:class:`Trial` is one configuration with all of its points; a :class:`RunReport` is the whole
run, written as the run file and read back by ``pytest-autotune show|compare``. Files carry
:data:`REPORT_VERSION`; loading a file written by a newer format fails with a clear message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from ..decide.change import Change
from ..decide.slo import Verdict
from ..decide.stats import Interval
from ..values import FlagValue, Metrics, WorkloadPoint

if TYPE_CHECKING:
    from ..cases.case import Case
    from ..values import Configuration

#: 1: the first layout (no checks on load); 2: the same layout, checked on load; 3: intervals
#: on metrics and verdict states (met, missed, unresolved)
REPORT_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)

Outcome = Literal["passed", "failed", "infeasible", "error", "skipped"]
OUTCOMES: tuple[Outcome, ...] = ("passed", "failed", "infeasible", "error", "skipped")
#: how the reason of a pruned point begins (a ``skipped`` point, see pruning.py)
PRUNED_PREFIX = "pruned: "


class ReportFormatError(ValueError):
    """A stored report this version cannot read."""


def check_version(data: Mapping[str, Any], what: str) -> None:
    version = data.get("version")
    if version not in READABLE_VERSIONS:
        newest = READABLE_VERSIONS[-1]
        raise ReportFormatError(
            f"{what}: report format {version!r} is not one this pytest-autotune reads "
            f"(1–{newest}); " + ("upgrade pytest-autotune to read it" if isinstance(version, int)
                                and version > newest else "is it a pytest-autotune run file?")
        )


def served_by_simulator(server_info: Mapping[str, Any]) -> bool:
    """Whether the server is this package's simulator, whatever deployed it (an image or an
    InferenceService that runs it): its ``/get_server_info`` version ends in ``-sim``."""
    return str(server_info.get("version", "")).endswith("-sim")


#: What a run's numbers are: ``estimate`` (estimate mode: a model in virtual time, nothing
#: measured), ``simulated`` (measured against this package's simulator, whatever deployed it) or
#: ``real`` (measured on a real server). Runs of different kinds are never paired: not as a
#: baseline, a ``--lf`` merge target, a results file or the two sides of ``compare``.
Kind = Literal["estimate", "simulated", "real"]
KINDS: tuple[Kind, ...] = ("estimate", "simulated", "real")
#: how a kind is named in messages ("0003_… is <this>")
KIND_TEXT: dict[str, str] = {
    "estimate": "an estimate (estimate mode: a model, nothing measured)",
    "simulated": "measured on the simulator",
    "real": "measured on a real server",
}


def kind_text(kind: str | None) -> str:
    return KIND_TEXT.get(kind or "", "of no known kind (a run file without a mode)")


def measuring_kind(mode: str, simulated: bool) -> Kind:
    """The kind of numbers measured in ``mode``: the simulator counts as such whatever
    deployed it (``simulated``: the server said so, or the backend is the simulator)."""
    if mode == "estimate":
        return "estimate"
    if simulated or mode == "sim":
        return "simulated"
    return "real"


class KindMismatch(ValueError):
    """Two runs of different measuring kinds were to be paired (the message says what to do)."""


@dataclass(frozen=True)
class DeploymentFacts:
    """What a deployment reported about itself (the same for every point it measured)."""

    deploy_seconds: float | None = None
    gpus: tuple[str, ...] = ()
    server_info: Mapping[str, Any] = field(default_factory=dict)
    artifacts: str | None = None
    #: why the deployment measured its points more than once (racing, unresolved SLOs)
    extra_passes: tuple[str, ...] = ()
    #: the most passes a point of this deployment could get (the repeats allowed)
    pass_cap: int = 1

    @property
    def simulator(self) -> bool:
        return served_by_simulator(self.server_info)


@dataclass(frozen=True)
class ConfigIdentity:
    """Which configuration of which case a record belongs to, and how to score it."""

    case: str
    source: str
    config_id: str
    config_key: str
    index: int
    params: Mapping[str, FlagValue]
    labels: Mapping[str, str] = field(default_factory=dict)
    mode: str = "sim"
    simulated: bool = False
    objective: str = "max_output_throughput"
    steepness: float = 0.1
    seed: Mapping[str, Any] = field(default_factory=dict)
    launch_command: tuple[str, ...] = ()
    #: the scenario of the case's capacity search (``workload.capacity``), if it has one
    capacity: str | None = None

    @property
    def labelled_params(self) -> dict[str, FlagValue]:
        return {self.labels.get(k, k): v for k, v in self.params.items()}

    @classmethod
    def of(cls, case: Case, config: Configuration, *, mode: str = "sim",
           simulated: bool = False, launch_command: Sequence[str] = ()) -> ConfigIdentity:
        """The identity of ``config`` of ``case``, measured in ``mode``."""
        capacity = case.workload.capacity
        return cls(
            case=case.name, source=case.source, config_id=config.id, config_key=config.key,
            index=config.index, params=config.as_dict(), labels=dict(config.labels), mode=mode,
            simulated=simulated, objective=case.objective, steepness=case.penalty_steepness,
            seed=dict(case.seed), launch_command=tuple(launch_command),
            capacity=capacity.scenario if capacity is not None else None,
        )


@dataclass(frozen=True)
class PointRecord:
    """What one test item reports about one workload point of one configuration."""

    config: ConfigIdentity
    point: WorkloadPoint
    outcome: Outcome
    nodeid: str = ""
    reason: str | None = None
    metrics: Metrics | None = None
    verdicts: tuple[Verdict, ...] = ()
    bench_seconds: float | None = None
    deployment: DeploymentFacts = DeploymentFacts()
    #: points this configuration measures in this run (the trial is complete when all report)
    expected_points: int = 1
    #: the point against the baseline run (``--autotune-baseline``), metric by metric
    baseline: tuple[Change, ...] = ()

    @property
    def config_key(self) -> str:
        return self.config.config_key

    def to_dict(self) -> dict[str, Any]:
        c, d = self.config, self.deployment
        return {
            "case": c.case, "source": c.source, "config_id": c.config_id,
            "config_key": c.config_key, "config_index": c.index, "params": dict(c.params),
            "labels": dict(c.labels), "point": self.point.to_dict(), "nodeid": self.nodeid,
            "mode": c.mode, "simulated": c.simulated, "objective": c.objective,
            "steepness": c.steepness, "seed": dict(c.seed),
            "expected_points": self.expected_points, "launch_command": list(c.launch_command),
            "capacity": c.capacity,
            "verdicts": [v.to_dict() for v in self.verdicts],
            "metrics": self.metrics.to_dict() if self.metrics else None,
            "reason": self.reason, "outcome": self.outcome,
            "bench_seconds": self.bench_seconds, "deploy_seconds": d.deploy_seconds,
            "gpus": list(d.gpus), "server_info": dict(d.server_info), "artifacts": d.artifacts,
            "extra_passes": list(d.extra_passes), "pass_cap": d.pass_cap,
            "baseline": [c.to_dict() for c in self.baseline],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PointRecord:
        config = ConfigIdentity(
            case=str(data["case"]), source=str(data.get("source", "")),
            config_id=str(data["config_id"]), config_key=str(data["config_key"]),
            index=int(data.get("config_index", 0)), params=dict(data.get("params") or {}),
            labels=dict(data.get("labels") or {}), mode=str(data.get("mode", "sim")),
            simulated=bool(data.get("simulated", False)),
            objective=str(data.get("objective", "max_output_throughput")),
            steepness=float(data.get("steepness") or 0.1), seed=dict(data.get("seed") or {}),
            launch_command=tuple(data.get("launch_command") or ()),
            capacity=data.get("capacity"),
        )
        metrics = data.get("metrics")
        outcome = data.get("outcome", "error")
        return cls(
            config=config,
            point=WorkloadPoint.from_dict(data["point"]),
            outcome=outcome if outcome in OUTCOMES else "error",
            nodeid=str(data.get("nodeid", "")),
            reason=data.get("reason"),
            metrics=Metrics.from_dict(metrics) if metrics else None,
            verdicts=tuple(Verdict.from_dict(v) for v in data.get("verdicts") or ()),
            bench_seconds=data.get("bench_seconds"),
            deployment=DeploymentFacts(
                deploy_seconds=data.get("deploy_seconds"), gpus=tuple(data.get("gpus") or ()),
                server_info=dict(data.get("server_info") or {}), artifacts=data.get("artifacts"),
                extra_passes=tuple(data.get("extra_passes") or ()),
                pass_cap=int(data.get("pass_cap") or 1),
            ),
            expected_points=int(data.get("expected_points", 1)),
            baseline=tuple(Change.from_dict(c) for c in data.get("baseline") or ()),
        )


@dataclass(frozen=True)
class PointResult:
    """One workload point of one configuration, as a trial holds it."""

    point: WorkloadPoint
    outcome: Outcome
    metrics: Metrics | None
    verdicts: tuple[Verdict, ...] = ()
    reason: str | None = None
    nodeid: str = ""
    bench_seconds: float | None = None
    baseline: tuple[Change, ...] = ()

    @property
    def id(self) -> str:
        return self.point.id

    @property
    def pruned(self) -> bool:
        """Not measured: a hard SLO was already missed at a lower concurrency (pruning.py)."""
        return self.outcome == "skipped" and (self.reason or "").startswith(PRUNED_PREFIX)

    @property
    def slo_ok(self) -> bool:
        """Measured, and every SLO (hard or soft) held."""
        return self.metrics is not None and all(v.ok for v in self.verdicts)

    @property
    def hard_ok(self) -> bool:
        return self.metrics is not None and not any(v.estimate_hard_miss for v in self.verdicts)

    @property
    def missed(self) -> list[str]:
        """The SLOs whose estimate this point missed (hard or soft), unresolved ones included."""
        return [v.slo.text for v in self.verdicts if not v.ok]

    @property
    def unresolved(self) -> list[str]:
        """The SLOs whose interval straddles the threshold at this point."""
        return [v.slo.text for v in self.verdicts if v.state == "unresolved"]

    @classmethod
    def from_record(cls, record: PointRecord) -> PointResult:
        return cls(record.point, record.outcome, record.metrics, record.verdicts, record.reason,
                   record.nodeid, record.bench_seconds, record.baseline)

    def to_dict(self) -> dict[str, Any]:
        return {
            "point": self.point.to_dict(), "id": self.point.id, "outcome": self.outcome,
            "reason": self.reason, "nodeid": self.nodeid, "slo_ok": self.slo_ok,
            "metrics": self.metrics.to_dict() if self.metrics else None,
            "verdicts": [v.to_dict() for v in self.verdicts], "bench_seconds": self.bench_seconds,
            "baseline": [c.to_dict() for c in self.baseline],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PointResult:
        metrics = data.get("metrics")
        outcome = data.get("outcome", "error")
        return cls(
            point=WorkloadPoint.from_dict(data["point"]),
            outcome=outcome if outcome in OUTCOMES else "error",
            metrics=Metrics.from_dict(metrics) if metrics else None,
            verdicts=tuple(Verdict.from_dict(v) for v in data.get("verdicts") or ()),
            reason=data.get("reason"), nodeid=str(data.get("nodeid", "")),
            bench_seconds=data.get("bench_seconds"),
            baseline=tuple(Change.from_dict(c) for c in data.get("baseline") or ()),
        )


Status = Literal["ok", "infeasible", "error", "skipped"]


@dataclass
class Trial:
    """One configuration of one case and what each of its workload points measured.

    ``score`` is set when the trial completes (every planned point reported), by the
    ``pytest_autotune_score_trial`` hook; None means not eligible (no point met the SLOs).
    """

    config: ConfigIdentity
    expected_points: int = 1
    points: list[PointResult] = field(default_factory=list)
    deployment: DeploymentFacts = DeploymentFacts()
    score: float | None = None
    #: the score's confidence interval (built-in objectives; None for a custom score hook)
    score_interval: Interval | None = None

    # -- identity (read-through, so hooks and templates read trial.case, trial.params, ...) ----
    @property
    def case(self) -> str:
        return self.config.case

    @property
    def source(self) -> str:
        return self.config.source

    @property
    def config_id(self) -> str:
        return self.config.config_id

    @property
    def config_key(self) -> str:
        return self.config.config_key

    @property
    def index(self) -> int:
        return self.config.index

    @property
    def params(self) -> dict[str, FlagValue]:
        return dict(self.config.params)

    @property
    def labelled_params(self) -> dict[str, FlagValue]:
        return self.config.labelled_params

    @property
    def mode(self) -> str:
        return self.config.mode

    @property
    def simulated(self) -> bool:
        return self.config.simulated

    @property
    def kind(self) -> Kind:
        """What this trial's numbers are (:data:`Kind`)."""
        return measuring_kind(self.mode, self.simulated or self.deployment.simulator)

    @property
    def objective(self) -> str:
        return self.config.objective

    @property
    def steepness(self) -> float:
        return self.config.steepness

    @property
    def seed(self) -> dict[str, Any]:
        return dict(self.config.seed)

    @property
    def launch_command(self) -> list[str]:
        return list(self.config.launch_command)

    @property
    def gpus(self) -> list[str]:
        return list(self.deployment.gpus)

    @property
    def deploy_seconds(self) -> float | None:
        return self.deployment.deploy_seconds

    @property
    def server_info(self) -> dict[str, Any]:
        return dict(self.deployment.server_info)

    @property
    def artifacts(self) -> str | None:
        return self.deployment.artifacts

    # -- state ---------------------------------------------------------------------------------
    @property
    def status(self) -> Status:
        """``ok`` (measured), ``infeasible``, ``error`` or ``skipped``."""
        if any(p.metrics is not None for p in self.points):
            return "ok"
        outcomes = {p.outcome for p in self.points}
        if "infeasible" in outcomes:
            return "infeasible"
        if "error" in outcomes:
            return "error"
        return "skipped"

    @property
    def complete(self) -> bool:
        return len(self.points) >= self.expected_points

    @property
    def passes(self) -> int:
        """The most benchmark passes any point of this configuration pooled."""
        return max((p.metrics.passes for p in self.points if p.metrics), default=0)

    @property
    def reason(self) -> str | None:
        return next((p.reason for p in self.points if p.reason), None)

    def point(self, scenario: str, concurrency: int) -> PointResult | None:
        wanted = WorkloadPoint(scenario, concurrency)
        return next((p for p in self.points if p.point == wanted), None)

    def add(self, record: PointRecord) -> None:
        """Take one point's record (a repeated point replaces the earlier one)."""
        result = PointResult.from_record(record)
        # a capacity search reports more points than the items planned: its records say so
        self.expected_points = max(self.expected_points, record.expected_points)
        self.points = sorted([p for p in self.points if p.point != record.point] + [result],
                             key=lambda p: p.point)
        d, new = self.deployment, record.deployment
        self.deployment = DeploymentFacts(
            deploy_seconds=new.deploy_seconds if new.deploy_seconds is not None
            else d.deploy_seconds,
            gpus=new.gpus or d.gpus,
            server_info=new.server_info or d.server_info,
            artifacts=new.artifacts or d.artifacts,
            extra_passes=new.extra_passes or d.extra_passes,
            pass_cap=max(new.pass_cap, d.pass_cap),
        )
        if record.config.launch_command and not self.config.launch_command:
            self.config = replace(self.config, launch_command=record.config.launch_command)

    @classmethod
    def from_record(cls, record: PointRecord) -> Trial:
        trial = cls(config=record.config, expected_points=record.expected_points)
        trial.add(record)
        return trial

    def to_dict(self) -> dict[str, Any]:
        c = self.config
        return {
            "case": c.case, "source": c.source, "config_id": c.config_id,
            "config_key": c.config_key, "index": c.index, "params": dict(c.params),
            "labelled_params": c.labelled_params, "mode": c.mode, "simulated": c.simulated,
            "objective": c.objective, "capacity": c.capacity, "score": self.score,
            "score_interval": self.score_interval.to_dict() if self.score_interval else None,
            "status": self.status,
            "reason": self.reason, "launch_command": list(c.launch_command),
            "deploy_seconds": self.deploy_seconds, "gpus": self.gpus,
            "server_info": self.server_info, "artifacts": self.artifacts,
            "points": [p.to_dict() for p in self.points],
            "passes": self.passes, "extra_passes": list(self.deployment.extra_passes),
            "pass_cap": self.deployment.pass_cap,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Trial:
        params = dict(data.get("params") or {})
        labelled = list((data.get("labelled_params") or params).keys())
        labels = {k: v for k, v in zip(params, labelled, strict=False) if k != v}
        points = [PointResult.from_dict(p) for p in data.get("points") or ()]
        config = ConfigIdentity(
            case=str(data["case"]), source=str(data.get("source", "")),
            config_id=str(data["config_id"]), config_key=str(data["config_key"]),
            index=int(data.get("index", 0)), params=params, labels=labels,
            mode=str(data.get("mode", "sim")), simulated=bool(data.get("simulated", False)),
            objective=str(data.get("objective", "max_output_throughput")),
            launch_command=tuple(data.get("launch_command") or ()),
            capacity=data.get("capacity"),
        )
        return cls(
            config=config, expected_points=len(points), points=points,
            deployment=DeploymentFacts(
                deploy_seconds=data.get("deploy_seconds"), gpus=tuple(data.get("gpus") or ()),
                server_info=dict(data.get("server_info") or {}), artifacts=data.get("artifacts"),
                extra_passes=tuple(data.get("extra_passes") or ()),
                pass_cap=int(data.get("pass_cap") or 1),
            ),
            score=data.get("score"),
            score_interval=Interval.from_dict(data["score_interval"])
            if data.get("score_interval") else None,
        )


def group_records(records: Iterable[PointRecord]) -> list[Trial]:
    """Trials in case order, then grid order."""
    trials: dict[str, Trial] = {}
    for record in records:
        if record.config_key in trials:
            trials[record.config_key].add(record)
        else:
            trials[record.config_key] = Trial.from_record(record)
    return sorted(trials.values(), key=lambda t: (t.source, t.case, t.index))


def by_case(trials: Sequence[Trial]) -> dict[str, list[Trial]]:
    out: dict[str, list[Trial]] = {}
    for trial in trials:
        out.setdefault(trial.case, []).append(trial)
    return out


@dataclass(frozen=True)
class TiedConfig:
    """A configuration the data cannot tell from the best: its score minus the best's, with the
    interval of that difference."""

    config_key: str
    config_id: str
    difference: float
    interval: Interval

    def to_dict(self) -> dict[str, Any]:
        return {"config_key": self.config_key, "config_id": self.config_id,
                "difference": self.difference, "interval": self.interval.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TiedConfig:
        return cls(str(data["config_key"]), str(data["config_id"]), float(data["difference"]),
                   Interval.from_dict(data["interval"]))


@dataclass
class CaseReport:
    """One case of a run: its objective, SLOs, every trial, the best configuration and the ones
    statistically tied with it."""

    name: str
    source: str
    objective: str
    objective_description: str
    direction: str
    unit: str
    slos: list[str]
    trials: list[Trial]
    best: Trial | None = None
    tied: list[TiedConfig] = field(default_factory=list)
    #: P(no other configuration is truly better than the best); None when unknown
    confidence: float | None = None
    #: why the best is the best ("clear winner", "tied with …; chosen by fewer GPUs, …")
    decision: str = ""

    def passes_spent(self) -> tuple[int, int]:
        """(passes measured, passes that fixed repeats would have measured) over every point."""
        spent = fixed = 0
        for trial in self.trials:
            for point in trial.points:
                if point.metrics is not None:
                    spent += point.metrics.passes
                    fixed += trial.deployment.pass_cap
        return spent, fixed

    def number_of(self, config_key: str) -> int | None:
        return next((i for i, t in enumerate(self.trials, 1) if t.config_key == config_key),
                    None)

    @property
    def best_number(self) -> int | None:
        """The 1-based row of the best configuration in :attr:`trials`."""
        if self.best is None:
            return None
        key = self.best.config_key
        return next((i for i, t in enumerate(self.trials, 1) if t.config_key == key), None)

    def to_dict(self) -> dict[str, Any]:
        best = self.best
        return {
            "name": self.name, "source": self.source, "objective": self.objective,
            "objective_description": self.objective_description, "direction": self.direction,
            "unit": self.unit, "slos": list(self.slos),
            "best": best.config_id if best else None,  # as in item ids (before: case[id])
            "best_config_id": best.config_id if best else None,
            "best_score": best.score if best else None,
            "best_params": best.params if best else None,
            "launch_command": best.launch_command if best else None,
            "tied": [t.to_dict() for t in self.tied], "confidence": self.confidence,
            "decision": self.decision,
            "trials": [t.to_dict() for t in self.trials],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CaseReport:
        trials = [Trial.from_dict(t) for t in data.get("trials") or ()]
        named = data.get("best")  # a configuration id; a key (case[id]) in older run files
        best = next((t for t in trials if named in (t.config_id, t.config_key)), None)
        return cls(
            name=str(data["name"]), source=str(data.get("source", "")),
            objective=str(data.get("objective", "")),
            objective_description=str(data.get("objective_description", "")),
            direction=str(data.get("direction", "maximize")), unit=str(data.get("unit", "")),
            slos=list(data.get("slos") or ()), trials=trials, best=best,
            tied=[TiedConfig.from_dict(t) for t in data.get("tied") or ()],
            confidence=data.get("confidence"), decision=str(data.get("decision") or ""),
        )


@dataclass(frozen=True)
class Completeness:
    """``complete`` when every planned item reported and nothing narrowed or cut the run."""

    complete: bool = True
    reasons: tuple[str, ...] = ()
    planned: int = 0
    reported: int = 0
    measured: int = 0
    #: the run file this run's results were merged into (a ``--lf`` rerun)
    merged_from: str | None = None

    @property
    def measured_nothing(self) -> bool:
        return self.measured == 0

    def to_dict(self) -> dict[str, Any]:
        return {"complete": self.complete, "incomplete_reasons": list(self.reasons),
                "planned_items": self.planned, "reported_items": self.reported,
                "measured_points": self.measured, "merged_from": self.merged_from}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Completeness:
        # run files older than this field carry no record of it: treat them as complete
        return cls(complete=bool(data.get("complete", True)),
                   reasons=tuple(data.get("incomplete_reasons") or ()),
                   planned=int(data.get("planned_items") or 0),
                   reported=int(data.get("reported_items") or 0),
                   measured=int(data.get("measured_points") or 0),
                   merged_from=data.get("merged_from"))



@dataclass
class RunReport:
    """The whole run. ``extra`` holds keys added by ``pytest_autotune_update_report``
    implementations (CI metadata, ...); they are written at the top level of the file."""

    run_id: str
    started: float
    finished: float
    mode: str
    simulated: bool
    note: str | None
    commit: str
    cases: list[CaseReport]
    objectives: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    version: int = REPORT_VERSION
    completeness: Completeness = field(default_factory=Completeness)
    #: the kind the file recorded (None: derive it, see :attr:`kind`)
    recorded_kind: Kind | None = None

    @property
    def complete(self) -> bool:
        return self.completeness.complete

    @property
    def kind(self) -> Kind | None:
        """What its numbers are (:data:`Kind`). A file that recorded none (written before
        pytest-autotune recorded it) gets it from its mode and whether any of its servers said
        it was the simulator; a file without even a mode has no kind (None) and is never paired
        with another run."""
        if self.recorded_kind is not None:
            return self.recorded_kind
        if self.mode in ("", "?"):
            return None
        simulated = self.simulated or any(served_by_simulator(t.server_info)
                                          for t in self.trials)
        return measuring_kind(self.mode, simulated)

    @property
    def gate(self) -> str | None:
        """The outcome of this run's baseline gate: ``passed``, ``failed``, or None (not
        gated)."""
        gate = self.extra.get("baseline_gate")
        if not isinstance(gate, Mapping):
            return None
        outcome = gate.get("outcome")
        if outcome in ("passed", "failed"):
            return str(outcome)
        return "failed" if gate.get("failed") else "passed"

    @property
    def trials(self) -> list[Trial]:
        return [t for c in self.cases for t in c.trials]

    def case(self, name: str) -> CaseReport | None:
        return next((c for c in self.cases if c.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "version": self.version, "run_id": self.run_id, "started": self.started,
            "finished": self.finished, "mode": self.mode, "simulated": self.simulated,
            "kind": self.kind, "note": self.note, "commit": self.commit,
            "cases": [c.to_dict() for c in self.cases], "objectives": dict(self.objectives),
            **self.completeness.to_dict(),
        }
        for key, value in self.extra.items():
            out.setdefault(key, value)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, what: str = "run report") -> RunReport:
        check_version(data, what)
        known = {"version", "run_id", "started", "finished", "mode", "simulated", "kind",
                 "note", "commit", "cases", "objectives", *Completeness().to_dict()}
        kind = data.get("kind")
        try:
            return cls(
                run_id=str(data.get("run_id", "")), started=float(data.get("started") or 0.0),
                finished=float(data.get("finished") or 0.0), mode=str(data.get("mode", "?")),
                simulated=bool(data.get("simulated", False)), note=data.get("note"),
                commit=str(data.get("commit", "nocommit")),
                cases=[CaseReport.from_dict(c) for c in data.get("cases") or ()],
                objectives=dict(data.get("objectives") or {}),
                extra={k: v for k, v in data.items() if k not in known},
                version=REPORT_VERSION, completeness=Completeness.from_dict(data),
                recorded_kind=kind if kind in KINDS else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ReportFormatError(f"{what}: malformed run report ({exc!r})") from None
