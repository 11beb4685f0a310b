"""Building the run report (pure data) from scored trials, and the earlier tool's results
layout derived from it."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from ..decide.ranking import Decision, same_configuration
from ..decide.scoring import OBJECTIVES, objective_of, seed_aggregate
from ..decide.slo import SLO
from ..results.records import CaseReport, RunReport, TiedConfig, Trial, by_case
from ..sim.tokens import tokenizer_note

SIM_NOTE = (
    "SIMULATED: numbers come from the pytest-autotune simulator standing in for SGLang, "
    "not from a real server or GPU"
)
ESTIMATE_NOTE = (
    "ESTIMATED: numbers come from the simulator's model in virtual time (estimate mode: no "
    "server, no HTTP, no genai-bench); use them to plan, then measure the shortlist"
)


def token_note(trials: Sequence[Trial]) -> str:
    """How the simulator counted tokens, per tokenizer it used (``/get_server_info``)."""
    names: dict[str, None] = {}
    for trial in trials:
        sim = trial.server_info.get("sim")
        if isinstance(sim, dict) and sim.get("tokenizer"):
            names.setdefault(str(sim["tokenizer"]), None)
    notes = [f"{name}: {tokenizer_note(name)}" for name in names]
    return "; " + "; ".join(notes) if notes else ""


def case_slos(trials: Sequence[Trial]) -> list[SLO]:
    """The SLOs the trials' points were judged by, each once, in the order first met."""
    seen: dict[str, SLO] = {}
    for trial in trials:
        for point in trial.points:
            for verdict in point.verdicts:
                seen.setdefault(verdict.slo.text, verdict.slo)
    return list(seen.values())


def case_report(name: str, trials: list[Trial], decision: Decision | None) -> CaseReport:
    objective = objective_of(trials[0])
    slos = [slo.text for slo in case_slos(trials)]
    best = None
    if decision is not None and decision.best is not None:
        # the case's own trial of that configuration (the decision may hold an equal copy)
        best = next((t for t in trials if same_configuration(t, decision.best)), decision.best)
    report = CaseReport(
        name=name, source=trials[0].source, objective=objective.name,
        objective_description=objective.description, direction=objective.direction,
        unit=objective.unit, slos=slos, trials=trials, best=best,
    )
    if decision is not None and best is not None:
        _judge_best(report, best, decision)
    return report


def _judge_best(report: CaseReport, best: Trial, decision: Decision) -> None:
    """The configurations tied with the best, the confidence in it, and why it won, as the
    decision says (the ranking's, or a project's ``pytest_autotune_select_best``)."""
    reason = decision.reason
    if not decision.chosen_by_project and decision.leader is not None and decision.tied:
        reason = _tie_break(report, best, decision.leader)
    report.tied = [TiedConfig(t.trial.config_key, t.trial.config_id, t.difference, t.interval)
                   for t in decision.tied]
    report.confidence = decision.confidence
    report.decision = reason


def _tie_break(report: CaseReport, best: Trial, leader: Trial) -> str:
    """Which configuration won a tie, and why, in plain words: ``#3 … is reported as best: it
    ties the leader #2 … and needs fewer non-default flags (1 against 2)``."""
    from ..decide.ranking import preference

    def named(trial: Trial) -> str:
        return f"#{report.number_of(trial.config_key)} {trial.config_id}"

    if best is leader:
        return (f"{named(best)} is reported as best: it leads by score, and none of the "
                "configurations tied with it is preferred (fewer GPUs, then fewer non-default "
                "flags, then grid order)")
    (gpus, flags, _), (lead_gpus, lead_flags, _) = preference(best), preference(leader)
    if gpus != lead_gpus:
        why = f"needs fewer GPUs ({gpus} against {lead_gpus})"
    elif flags != lead_flags:
        why = f"needs fewer non-default flags ({flags} against {lead_flags})"
    else:
        why = "needs as many GPUs and non-default flags, and comes first in grid order"
    return f"{named(best)} is reported as best: it ties the leader {named(leader)} and {why}"


def build_report(
    trials: Sequence[Trial], decisions: Mapping[str, Decision], *, run_id: str, started: float,
    mode: str, commit: str,
) -> RunReport:
    """The run report: each case's trials and its decision (``decisions``, by case name: what
    ``pytest_autotune_select_best`` decided; a case without one has no best)."""
    simulated = any(t.simulated for t in trials)
    note = ESTIMATE_NOTE if mode == "estimate" else SIM_NOTE if simulated else None
    if note == SIM_NOTE:
        note += token_note(trials)
    return RunReport(
        run_id=run_id, started=started, finished=time.time(), mode=mode, simulated=simulated,
        note=note, commit=commit,
        cases=[case_report(case, ts, decisions.get(case))
               for case, ts in by_case(trials).items()],
        objectives={name: o.description for name, o in OBJECTIVES.items()},
    )


def seed_results(case: CaseReport, report: RunReport) -> dict[str, Any]:
    """The earlier tool's ``<task_name>_results.json`` layout, plus this tool's fields."""

    def entry(trial: Trial) -> dict[str, Any]:
        aggregate = seed_aggregate(trial.points)
        metrics = None
        if aggregate is not None:
            metrics = dict(aggregate)
            metrics["raw_results"] = [
                {**p.point.to_dict(), **(p.metrics.to_dict() if p.metrics else {})}
                for p in trial.points if p.metrics is not None
            ]
        success = trial.status == "ok" and trial.score is not None
        out: dict[str, Any] = {
            "experiment_id": trial.index + 1,
            "parameters": trial.labelled_params,
            "status": "success" if success else "failed",
            "metrics": metrics,
            "container_logs": None,
            "error_message": None if success else (trial.reason or _no_score(trial)),
            "objective_score": trial.score,
            "score_interval": trial.score_interval.to_dict() if trial.score_interval else None,
            "config_id": trial.config_id,
            "outcome": trial.status,
            "launch_command": trial.launch_command,
            "deploy_seconds": trial.deploy_seconds,
            "points": [p.to_dict() for p in trial.points],
            "artifacts": trial.artifacts,
        }
        if trial.status == "ok" and trial.score is None and any(
            v.estimate_hard_miss for p in trial.points for v in p.verdicts
        ):
            out["slo_violation"] = True
        return out

    trials = case.trials
    entries = [entry(t) for t in trials]
    seed = trials[0].seed if trials else {}
    best_entry = next((e for e, t in zip(entries, trials, strict=True) if t is case.best), None)
    if best_entry is not None:
        best_entry = {**best_entry, "tied_with": [t.config_id for t in case.tied],
                      "ties": [t.to_dict() for t in case.tied],
                      "confidence": case.confidence, "decision": case.decision}
    return {
        "task_name": seed.get("task_name", case.name),
        "strategy": seed.get("strategy", "grid_search"),
        "total_experiments": len(trials),
        "successful_experiments": sum(1 for e in entries if e["status"] == "success"),
        "elapsed_time": report.finished - report.started,
        "best_result": best_entry,
        "all_results": entries,
        "objective": case.objective,
        "objective_direction": case.direction,
        "slos": case.slos,
        "mode": report.mode,
        "simulated": report.simulated,
        "note": report.note,
        "run_id": report.run_id,
        "source": case.source,
        "complete": report.complete,
        "incomplete_reasons": list(report.completeness.reasons),
        "merged_from": report.completeness.merged_from,
    }


def _no_score(trial: Trial) -> str:
    if trial.status != "ok":
        return trial.status
    return "no workload point met every SLO"
