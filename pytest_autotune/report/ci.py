"""Reports for CI systems: a Markdown summary (also appended to ``$GITHUB_STEP_SUMMARY``) and
pytest-benchmark's JSON format, so ``pytest-benchmark compare``, github-action-benchmark and
Bencher's pytest adapter chart and gate the run.

In the pytest-benchmark file every item contributes one benchmark per headline metric. Latencies
are timings as pytest-benchmark knows them (seconds; lower is better): the statistics of the
point's requests. Throughput is written as its inverse, seconds per output token, so that lower
is still better and pytest-benchmark's ``ops`` column *is* the output throughput in tokens/s.
"""

from __future__ import annotations

import os
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from ..results.records import CaseReport, PointResult, RunReport, Trial
from ..results.runs import write_atomic
from ..values import Metrics, Stat
from .table import format_score, spread
from .writers import WriteContext

#: (benchmark name suffix, latency metric) written per item
LATENCIES = (("ttft", "ttft"), ("tpot", "tpot"), ("e2e", "e2e"))


def _stats(stat: Stat, rounds: int) -> dict[str, Any] | None:
    if stat.mean is None or stat.p50 is None:
        return None
    q1 = stat.p25 if stat.p25 is not None else stat.p50
    q3 = stat.p75 if stat.p75 is not None else stat.p50
    iqr = q3 - q1
    low = stat.min if stat.min is not None else q1
    high = stat.max if stat.max is not None else q3
    return {
        "min": low, "max": high, "mean": stat.mean, "stddev": stat.stddev or 0.0,
        "rounds": rounds, "median": stat.p50, "iqr": iqr, "q1": q1, "q3": q3,
        "iqr_outliers": 0, "stddev_outliers": 0, "outliers": "0;0",
        "ld15iqr": max(low, q1 - 1.5 * iqr), "hd15iqr": min(high, q3 + 1.5 * iqr),
        "ops": 1.0 / stat.mean if stat.mean else 0.0, "total": stat.mean * rounds,
        "iterations": 1,
    }


def _per_token(m: Metrics) -> dict[str, Any] | None:
    if not m.output_throughput:
        return None
    seconds = 1.0 / m.output_throughput
    iv = m.interval("output_throughput")
    low = 1.0 / iv.high if iv is not None and iv.bounded and iv.high else seconds
    high = 1.0 / iv.low if iv is not None and iv.bounded and iv.low > 0 else seconds
    return {
        "min": low, "max": high, "mean": seconds, "stddev": 0.0, "rounds": m.passes,
        "median": seconds, "iqr": 0.0, "q1": seconds, "q3": seconds, "iqr_outliers": 0,
        "stddev_outliers": 0, "outliers": "0;0", "ld15iqr": seconds, "hd15iqr": seconds,
        "ops": m.output_throughput, "total": seconds * m.passes, "iterations": 1,
    }


def benchmarks(report: RunReport) -> list[dict[str, Any]]:
    out = []
    for case in report.cases:
        for trial in case.trials:
            for point in trial.points:
                m = point.metrics
                if m is None:
                    continue
                base = point.nodeid or f"{case.source}::{trial.config_id}::{point.id}"
                entries = [(name, _stats(getattr(m, metric), m.num_completed), "s")
                           for name, metric in LATENCIES]
                entries.append(("output_token", _per_token(m), "s/token (ops = tok/s)"))
                for name, stats, unit in entries:
                    if stats is None:
                        continue
                    out.append({
                        "group": f"{case.name} {trial.config_id}",
                        "name": f"{point.id}[{name}]", "fullname": f"{base}[{name}]",
                        "params": dict(trial.params), "param": trial.config_id,
                        "extra_info": {"case": case.name, "configuration": trial.config_id,
                                       "point": point.id, "metric": name, "unit": unit,
                                       "outcome": point.outcome, "simulated": report.simulated,
                                       "mode": report.mode},
                        "options": {"timer": "genai-bench", "min_rounds": 1},
                        "stats": stats,
                    })
    return out


def benchmark_json(report: RunReport) -> dict[str, Any]:
    """The whole run as a pytest-benchmark JSON document."""
    return {
        "machine_info": {"node": platform.node(), "processor": platform.processor(),
                         "machine": platform.machine(), "python_implementation":
                         platform.python_implementation(), "python_version":
                         platform.python_version(), "system": platform.system(),
                         "release": platform.release(), "cpu": {},
                         "autotune_mode": report.mode, "simulated": report.simulated},
        "commit_info": {"id": report.commit, "dirty": False, "project": "pytest-autotune run"},
        "benchmarks": benchmarks(report),
        "datetime": datetime.fromtimestamp(report.finished or report.started,
                                           tz=timezone.utc).isoformat(),
        "version": "5.1.0",
    }


class BenchmarkJsonWriter:
    """``--autotune-benchmark-json PATH``."""

    format = "pytest-benchmark-json"
    stage: Literal["files", "terminal"] = "files"

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, report: RunReport, ctx: WriteContext) -> list[Path]:
        write_atomic(self.path, benchmark_json(report))
        return [self.path]


# -- Markdown ------------------------------------------------------------------------------------


def _cell(point: PointResult) -> str:
    m = point.metrics
    if m is None:
        return "pruned" if point.pruned else point.outcome
    tput = f"{m.output_throughput:,.0f} "
    tput += spread(m.output_throughput, m.interval("output_throughput"))
    states = {v.state for v in point.verdicts}
    slo = "✅ met" if states == {"met"} else ("❌ missed" if "missed" in states else
                                              ("❔ unresolved" if states else "-"))
    return f"{tput.strip()} tok/s, {slo}"


def _best_line(case: CaseReport) -> str:
    best = case.best
    if best is None:
        return "**No configuration met the SLOs at any workload point.**"
    score = format_score(best.score, case.unit) + f" {spread(best.score, best.score_interval)}"
    line = f"**Best: `{best.config_id}`** ({score.strip()})"
    if case.tied:
        ties = ", ".join(f"`{t.config_id}` ({t.difference / abs(best.score or 1):+.1%})"
                         for t in case.tied)
        line += f" — **tied** with {ties}: the differences are within the noise."
    elif case.confidence is not None:
        line += f" — clear winner (confidence {case.confidence:.0%})."
    return line


def markdown(report: RunReport) -> str:
    lines = [f"## pytest-autotune: {report.mode} mode, run {report.run_id}", ""]
    if report.simulated and report.note:
        lines += [f"> **{report.note}**", ""]
    if not report.complete:
        lines += [f"> ⚠️ partial run: {'; '.join(report.completeness.reasons)}", ""]
    gate = report.extra.get("baseline_gate")
    if isinstance(gate, dict):
        verdict = "❌ failed" if gate.get("failed") else "✅ passed"
        lines += [f"**Baseline gate vs {gate.get('baseline')}: {verdict}**", ""]
        lines += [f"- {finding}" for finding in gate.get("findings") or []] + [""]
    for case in report.cases:
        points = sorted({p.id for t in case.trials for p in t.points})
        lines += [f"### {case.name}", "", f"Objective: {case.objective_description}.  ",
                  "SLOs: " + ("; ".join(f"`{s}`" for s in case.slos) or "none"), "",
                  _best_line(case), ""]
        lines.append("| # | configuration | " + " | ".join(points) + " | score |")
        lines.append("|---|---|" + "---|" * len(points) + "---|")
        for i, trial in enumerate(case.trials, 1):
            by_id = {p.id: p for p in trial.points}
            cells = [_cell(by_id[p]) if p in by_id else "" for p in points]
            mark = " 🏆" if trial is case.best else ""
            lines.append(f"| {i} | `{trial.config_id}`{mark} | " + " | ".join(cells) +
                         f" | {_score(trial, case)} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def _score(trial: Trial, case: CaseReport) -> str:
    if trial.status != "ok":
        return trial.status
    return format_score(trial.score, case.unit)


class MarkdownWriter:
    """``--autotune-markdown PATH``; also appended to ``$GITHUB_STEP_SUMMARY`` when set."""

    format = "markdown"
    stage: Literal["files", "terminal"] = "files"

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def write(self, report: RunReport, ctx: WriteContext) -> list[Path]:
        text = markdown(report)
        written = []
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(text, encoding="utf-8")
            written.append(self.path)
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary:
            with open(summary, "a", encoding="utf-8") as f:
                f.write(text)
            written.append(Path(summary))
        return written


__all__ = ["BenchmarkJsonWriter", "MarkdownWriter", "benchmark_json", "markdown"]
