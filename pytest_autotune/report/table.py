"""The terminal summary: one table per case, the winner, and its launch command."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from ..units import format_seconds
from .build import relative

if TYPE_CHECKING:
    from ..session import AutotuneSession

COLUMNS = ("#", "configuration", "point", "out tok/s", "ttft p99", "tpot p50", "e2e p99", "err",
           "SLO", "score")


def format_score(score: float | None, unit: str) -> str:
    if score is None:
        return "-"
    if unit == "tok/s":
        return f"{score:,.0f} tok/s"
    if unit == "s":
        return format_seconds(score)
    return f"{score:,.4g}"


def point_row(point: dict[str, Any]) -> list[str]:
    m = point.get("metrics")
    failed = [v["slo"] for v in point.get("verdicts", []) if not v.get("ok")]
    if m is None:
        outcome = point.get("outcome", "error")
        return [point["id"], "-", "-", "-", "-", "-", outcome.upper()]
    slo = "pass" if not failed else ("FAIL " if point["outcome"] == "failed" else "miss ") + \
        ", ".join(failed)
    if not point.get("verdicts"):
        slo = "-"
    return [
        point["id"],
        f"{m['output_throughput']:,.0f}",
        format_seconds(m["ttft"].get("p99")),
        format_seconds(m["tpot"].get("p50")),
        format_seconds(m["e2e"].get("p99")),
        f"{m['error_rate']:.0%}",
        slo,
    ]


def case_rows(case: dict[str, Any]) -> list[tuple[int, list[str]]]:
    """Table rows, each with the 1-based number of the configuration it belongs to."""
    rows: list[tuple[int, list[str]]] = []
    for i, trial in enumerate(case["trials"], start=1):
        config = " ".join(f"{k}={v}" for k, v in trial["params"].items()) or "(default flags)"
        score = format_score(trial["score"], case["unit"])
        if trial["status"] in ("infeasible", "error", "skipped") and not any(
            p.get("metrics") for p in trial["points"]
        ):
            reason = (trial.get("reason") or "").splitlines()[0:1]
            status = trial["status"].upper()
            if reason and reason[0].lower().startswith(trial["status"]):
                status += reason[0][len(trial["status"]):]  # "infeasible before launch: ..."
            elif reason:
                status += f": {reason[0]}"
            rows.append((i, [str(i), config, status]))
            continue
        for j, point in enumerate(trial["points"]):
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


def render_cases(tr: Any, report: dict[str, Any]) -> None:
    """Each case: its objective and SLOs, the table, the winner and its launch command.
    ``tr`` is pytest's terminal reporter or anything with its ``write_line``."""
    if report.get("simulated"):
        tr.write_line(report["note"], yellow=True, bold=True)
    for case in report["cases"]:
        tr.write_line("")
        tr.write_line(f"{case['name']}  ({case['source']})", bold=True)
        tr.write_line(f"objective: {case['objective_description']}")
        if case["slos"]:
            tr.write_line("SLOs: " + "; ".join(case["slos"]))
        best_index = next(
            (i for i, t in enumerate(case["trials"], start=1) if t["config_key"] == case["best"]),
            None,
        )
        rows = case_rows(case)
        lines = format_table([cells for _, cells in rows])
        tr.write_line("  " + lines[0], bold=True)
        for (number, _), line in zip(rows, lines[1:], strict=True):
            tr.write_line("  " + line, green=number == best_index)
        if case["best"] is None:
            tr.write_line("  no configuration met the SLOs at any workload point", red=True)
            continue
        score = format_score(case["best_score"], case["unit"])
        tr.write_line(f"  best: #{best_index} {case['best_config_id']}  ({score})", green=True,
                      bold=True)
        if case["launch_command"]:
            tr.write_line("  launch: " + shlex.join(case["launch_command"]))


def render_summary(tr: Any, session: AutotuneSession) -> None:
    report = session.report
    assert report is not None
    tr.write_sep("=", "autotune: configurations and best choice")
    render_cases(tr, report)
    tr.write_line("")
    root = session.config.rootpath
    for path in session.written:
        tr.write_line(f"wrote {relative(path, root)}")
    for failure in session.failures:
        tr.write_line(f"autotune: {failure}", red=True)
