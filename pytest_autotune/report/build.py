"""End of run (controller only): score trials, pick the best, build and write the reports."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ..scoring import OBJECTIVES, objective_of, seed_aggregate
from ..trials import Trial, by_case, group_records
from .storage import git_commit, save_run, write_atomic

if TYPE_CHECKING:
    from ..session import AutotuneSession

REPORT_VERSION = 1
SIM_NOTE = (
    "SIMULATED: numbers come from the pytest-autotune simulator standing in for SGLang, "
    "not from a real server or GPU"
)


def finish(session: AutotuneSession, pytest_session: pytest.Session) -> None:
    config = session.config
    hook = config.hook
    trials = group_records(session.records)
    for trial in trials:
        if trial.config_key not in session._finished_keys:
            session._finished_keys.add(trial.config_key)
            hook.pytest_autotune_trial_finished(config=config, trial=trial)
    for trial in trials:
        trial.score = hook.pytest_autotune_score_trial(config=config, trial=trial)
    best: dict[str, Trial | None] = {}
    for case, case_trials in by_case(trials).items():
        best[case] = hook.pytest_autotune_select_best(config=config, trials=case_trials)
    report = hook.pytest_autotune_generate_report(config=config, trials=trials, best=best)
    hook.pytest_autotune_update_report(config=config, report=report)
    session.trials, session.best, session.report = trials, best, report
    write_reports(session, report, trials, best)
    for case, case_trials in by_case(trials).items():
        measured = [t for t in case_trials if t.status == "ok"]
        if best.get(case) is None and case_trials and not measured:
            session.failures.append(
                f"{case}: no configuration could run (all infeasible or errored)"
            )
    if session.failures and pytest_session.exitstatus == pytest.ExitCode.OK:
        pytest_session.exitstatus = pytest.ExitCode.TESTS_FAILED


def case_summary(case: str, trials: list[Trial], best: Trial | None) -> dict[str, Any]:
    first = trials[0]
    objective = objective_of(first)
    slos: list[str] = []
    for trial in trials:
        for point in trial.points:
            for verdict in point.verdicts:
                if verdict["slo"] not in slos:
                    slos.append(verdict["slo"])
    return {
        "name": case,
        "source": first.source,
        "objective": objective.name,
        "objective_description": objective.description,
        "direction": objective.direction,
        "unit": objective.unit,
        "slos": slos,
        "best": best.config_key if best else None,
        "best_config_id": best.config_id if best else None,
        "best_score": best.score if best else None,
        "best_params": best.params if best else None,
        "launch_command": best.launch_command if best else None,
        "trials": [t.to_dict() for t in trials],
    }


@pytest.hookimpl(trylast=True)
def pytest_autotune_generate_report(
    config: pytest.Config, trials: list[Trial], best: dict[str, Trial | None]
) -> dict[str, Any]:
    from ..session import get_session

    session = get_session(config)
    simulated = any(t.simulated for t in trials)
    return {
        "version": REPORT_VERSION,
        "run_id": session.run_id,
        "started": session.started,
        "finished": time.time(),
        "mode": session.settings.mode,
        "simulated": simulated,
        "note": SIM_NOTE if simulated else None,
        "commit": git_commit(config.rootpath),
        "cases": [case_summary(case, ts, best.get(case)) for case, ts in by_case(trials).items()],
        "objectives": {name: o.description for name, o in OBJECTIVES.items()},
    }


def seed_results(case: dict[str, Any], trials: list[Trial], best: Trial | None,
                 report: dict[str, Any]) -> dict[str, Any]:
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
            "config_id": trial.config_id,
            "outcome": trial.status,
            "launch_command": trial.launch_command,
            "deploy_seconds": trial.deploy_seconds,
            "points": [p.to_dict() for p in trial.points],
            "artifacts": trial.artifacts,
        }
        if trial.status == "ok" and trial.score is None and any(
            v.get("hard_failure") for p in trial.points for v in p.verdicts
        ):
            out["slo_violation"] = True
        return out

    entries = [entry(t) for t in trials]
    seed = trials[0].seed if trials else {}
    best_entry = next((e for e, t in zip(entries, trials, strict=True) if t is best), None)
    return {
        "task_name": seed.get("task_name", case["name"]),
        "strategy": seed.get("strategy", "grid_search"),
        "total_experiments": len(trials),
        "successful_experiments": sum(1 for e in entries if e["status"] == "success"),
        "elapsed_time": report["finished"] - report["started"],
        "best_result": best_entry,
        "all_results": entries,
        "objective": case["objective"],
        "objective_direction": case["direction"],
        "slos": case["slos"],
        "mode": report["mode"],
        "simulated": report["simulated"],
        "note": report["note"],
        "run_id": report["run_id"],
        "source": case["source"],
    }


def _no_score(trial: Trial) -> str:
    if trial.status != "ok":
        return trial.status
    return "no workload point met every SLO"


def write_reports(
    session: AutotuneSession, report: dict[str, Any], trials: list[Trial],
    best: dict[str, Trial | None],
) -> None:
    settings = session.settings
    grouped = by_case(trials)
    for case in report["cases"]:
        case_trials = grouped.get(case["name"], [])
        path = settings.results_dir / f"{case['name']}_results.json"
        write_atomic(path, seed_results(case, case_trials, best.get(case["name"]), report))
        session.written.append(path)
    run_dir = settings.results_dir / "runs" / session.run_id
    write_atomic(run_dir / "report.json", report)
    session.written.append(save_run(settings.storage, report, report.get("commit", "nocommit")))


def relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
