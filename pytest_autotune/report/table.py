"""The terminal table: one per case, the winner, and its launch command (from a typed report)."""

from __future__ import annotations

import shlex
from typing import Protocol

from ..results import CaseReport, PointResult, RunReport, Trial
from ..units import format_seconds

COLUMNS = ("#", "configuration", "point", "out tok/s", "ttft p99", "tpot p50", "e2e p99", "err",
           "SLO", "score")


class Terminal(Protocol):
    """The subset of pytest's terminal reporter the renderers use."""

    def write_line(self, line: str, **markup: bool) -> None:
        ...

    def write_sep(self, sep: str, title: str, **markup: bool) -> None:
        ...


def format_score(score: float | None, unit: str) -> str:
    if score is None:
        return "-"
    if unit == "tok/s":
        return f"{score:,.0f} tok/s"
    if unit == "s":
        return format_seconds(score)
    return f"{score:,.4g}"


def point_row(point: PointResult) -> list[str]:
    m = point.metrics
    if m is None:
        return [point.id, "-", "-", "-", "-", "-", point.outcome.upper()]
    failed = point.missed
    slo = "pass" if not failed else ("FAIL " if point.outcome == "failed" else "miss ") + \
        ", ".join(failed)
    if not point.verdicts:
        slo = "-"
    return [
        point.id,
        f"{m.output_throughput:,.0f}",
        format_seconds(m.ttft.p99),
        format_seconds(m.tpot.p50),
        format_seconds(m.e2e.p99),
        f"{m.error_rate:.0%}",
        slo,
    ]


def _status_row(trial: Trial) -> str:
    reason = (trial.reason or "").splitlines()[0:1]
    status = trial.status.upper()
    if reason and reason[0].lower().startswith(trial.status):
        status += reason[0][len(trial.status):]  # "infeasible before launch: ..."
    elif reason:
        status += f": {reason[0]}"
    return status


def case_rows(case: CaseReport) -> list[tuple[int, list[str]]]:
    """Table rows, each with the 1-based number of the configuration it belongs to."""
    rows: list[tuple[int, list[str]]] = []
    for i, trial in enumerate(case.trials, start=1):
        config = " ".join(f"{k}={v}" for k, v in trial.params.items()) or "(default flags)"
        score = format_score(trial.score, case.unit)
        if trial.status != "ok":
            rows.append((i, [str(i), config, _status_row(trial)]))
            continue
        for j, point in enumerate(trial.points):
            cells = point_row(point)
            rows.append((i, [str(i) if j == 0 else "", config if j == 0 else "", *cells,
                             score if j == 0 else ""]))
    return rows


def format_table(rows: list[list[str]]) -> list[str]:
    widths = [len(c) for c in COLUMNS]
    for row in rows:
        if len(row) < len(COLUMNS):
            row = row[:2]  # a status row: its message may run long without widening the table
        for k, cell in enumerate(row):
            widths[k] = max(widths[k], len(cell))
    right = {0, 3, 4, 5, 6, 7}

    def line(cells: list[str]) -> str:
        out = []
        for k, cell in enumerate(cells):
            if k == len(cells) - 1 and len(cells) < len(COLUMNS):
                out.append(cell)
            else:
                out.append(cell.rjust(widths[k]) if k in right else cell.ljust(widths[k]))
        return "  ".join(out).rstrip()

    return [line(list(COLUMNS))] + [line(r) for r in rows]


def render_cases(tr: Terminal, report: RunReport) -> None:
    """Each case: its objective and SLOs, the table, the winner and its launch command."""
    if report.simulated and report.note:
        tr.write_line(report.note, yellow=True, bold=True)
    for case in report.cases:
        tr.write_line("")
        tr.write_line(f"{case.name}  ({case.source})", bold=True)
        tr.write_line(f"objective: {case.objective_description}")
        if case.slos:
            tr.write_line("SLOs: " + "; ".join(case.slos))
        best_index = case.best_number
        rows = case_rows(case)
        lines = format_table([cells for _, cells in rows])
        tr.write_line("  " + lines[0], bold=True)
        for (number, _), line in zip(rows, lines[1:], strict=True):
            tr.write_line("  " + line, green=number == best_index)
        best = case.best
        if best is None:
            tr.write_line("  no configuration met the SLOs at any workload point", red=True)
            continue
        score = format_score(best.score, case.unit)
        tr.write_line(f"  best: #{best_index} {best.config_id}  ({score})", green=True,
                      bold=True)
        if best.launch_command:
            tr.write_line("  launch: " + shlex.join(best.launch_command))
