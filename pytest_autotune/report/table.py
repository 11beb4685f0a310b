"""The terminal table: one per case, the winner, and its launch command (from a typed report)."""

from __future__ import annotations

import math
import shlex
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from ..bench.steady import MIN_PER_USER, MIN_STEADY_S
from ..decide.ranking import PROJECT_CHOICE
from ..decide.stats import Interval
from ..results.records import CaseReport, PointResult, RunReport, Trial
from ..units import format_seconds

COLUMNS = ("#", "configuration", "point", "out tok/s", "ttft p99", "tpot p50", "e2e p99", "err",
           "SLO", "score")
#: the latency columns of a case whose SLOs name no latency
LATENCY_COLUMNS: tuple[tuple[str, str], ...] = (("ttft", "p99"), ("tpot", "p50"), ("e2e", "p99"))


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
    if unit == "users":
        return f"{score:,.0f} users"
    if unit == "s":
        return format_seconds(score)
    return f"{score:,.4g}"


def spread(value: float | None, interval: Interval | None) -> str:
    """``±2.1%`` (half the interval, relative), ``−3%/+?`` when a side cannot be bounded."""
    if value is None or interval is None or value == 0:
        return ""

    def pct(x: float) -> str:
        return f"{x:.1%}" if x < 0.1 else f"{x:.0%}"

    low, high = interval.low, interval.high
    if math.isfinite(low) and math.isfinite(high):
        return "±" + pct(max(value - low, high - value) / abs(value))
    lo = "?" if not math.isfinite(low) else pct((value - low) / abs(value))
    hi = "?" if not math.isfinite(high) else pct((high - value) / abs(value))
    return f"−{lo}/+{hi}"


def slo_cell(point: PointResult) -> str:
    if not point.verdicts:
        return "-"
    failed = [v.slo.text for v in point.verdicts if not v.ok and v.state != "unresolved"]
    parts = []
    if failed:
        parts.append(("FAIL " if point.outcome == "failed" else "miss ") + ", ".join(failed))
    for v in point.verdicts:
        if v.state == "unresolved":  # whether the estimate meets it decides the ranking
            parts.append(("?ok " if v.ok else "?miss ") + v.slo.text)
    return "; ".join(parts) or "pass"


def latency_columns(case: CaseReport) -> tuple[tuple[str, str], ...]:
    """The latencies the table shows: for ttft, tpot and e2e the statistics the case's SLOs
    name (a ``pass`` beside ``ttft p99`` when the SLO is on the p90 would judge one number and
    show another), else the default one; then any ``output_latency`` an SLO names."""
    named: dict[str, list[str]] = {}
    for trial in case.trials:
        for point in trial.points:
            for v in point.verdicts:
                if v.slo.is_latency and v.slo.stat:
                    stats = named.setdefault(v.slo.metric, [])
                    if v.slo.stat not in stats:
                        stats.append(v.slo.stat)
    columns = [(metric, stat) for metric, default in LATENCY_COLUMNS
               for stat in named.get(metric) or [default]]
    columns += [("output_latency", stat) for stat in named.get("output_latency", [])]
    return tuple(columns)


def columns_of(latency: Sequence[tuple[str, str]] = LATENCY_COLUMNS) -> tuple[str, ...]:
    return ("#", "configuration", "point", "out tok/s", *(f"{m} {s}" for m, s in latency),
            "err", "SLO", "score")


def point_row(point: PointResult,
              latency: Sequence[tuple[str, str]] = LATENCY_COLUMNS) -> list[str]:
    m = point.metrics
    if m is None:
        # a pruned point: its reason ("pruned: ttft.p99 <= 200ms already missed at ...")
        status = (point.reason or "pruned") if point.pruned else point.outcome.upper()
        return [point.id, *["-"] * (len(latency) + 2), status]
    out = f"{m.output_throughput:,.0f}"
    out_spread = spread(m.output_throughput, m.interval("output_throughput"))
    if m.short_run:
        out_spread = f"{out_spread} {SHORT_MARK}".lstrip()
    cells = []
    for k, (metric, stat) in enumerate(latency):
        value = m.value(metric, stat)
        # the first latency column carries its interval, as the ttft column always has
        width = spread(value, m.interval(metric, stat)) if k == 0 else ""
        cells.append(f"{format_seconds(value)} {width}".rstrip())
    return [
        point.id,
        f"{out} {out_spread}".rstrip(),
        *cells,
        f"{m.error_rate:.0%}",
        slo_cell(point),
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
    latency = latency_columns(case)
    rows: list[tuple[int, list[str]]] = []
    for i, trial in enumerate(case.trials, start=1):
        config = " ".join(f"{k}={v}" for k, v in trial.params.items()) or "(default flags)"
        score = format_score(trial.score, case.unit)
        if trial.status != "ok":
            rows.append((i, [str(i), config, _status_row(trial)]))
            continue
        for j, point in enumerate(trial.points):
            cells = point_row(point, latency)
            rows.append((i, [str(i) if j == 0 else "", config if j == 0 else "", *cells,
                             score if j == 0 else ""]))
    return rows


#: marks a point whose steady window is too short to trust (bench/steady.py)
SHORT_MARK = "†"


def short_points(case: CaseReport) -> list[tuple[int, PointResult]]:
    """The measured points flagged as short runs, with their configuration's number."""
    return [(number, point) for number, trial in enumerate(case.trials, 1)
            for point in trial.points if point.metrics is not None and point.metrics.short_run]


def short_run_lines(case: CaseReport) -> list[str]:
    """What the short-run mark means and how to size the workload so no point carries it."""
    flagged = short_points(case)
    if not flagged:
        return []
    by_point: dict[str, list[int]] = {}
    needed = 0
    for number, point in flagged:
        by_point.setdefault(point.id, []).append(number)
        assert point.metrics is not None
        needed = max(needed, int(point.metrics.steady.get("requests_needed", 0)))
    where = "; ".join(f"{pid} (#{', #'.join(map(str, numbers))})"
                      for pid, numbers in by_point.items())
    lines = [f"{SHORT_MARK} short run: too little steady load to trust the throughput at "
             f"{where} (fewer than {MIN_PER_USER} requests per user or {MIN_STEADY_S:g} s after "
             "the users' spawn)"]
    if needed:
        lines.append(f"  size it: raise workload.max_requests to {needed} or more "
                     "(docs/metrics.md, \"Short runs\")")
    return lines


def decision_lines(case: CaseReport) -> list[str]:
    """The ties of the best in words, with each difference and its interval (and a warning
    when the scores rest on short runs)."""
    lines = _decision_lines(case)
    if lines and any(p.slo_ok for _, p in short_points(case)):
        lines.append(f"caution: the ranking rests on short runs ({SHORT_MARK}): their "
                     "throughputs are too short to trust; size the workload as the "
                     f"{SHORT_MARK} line says")
    return lines


def _decision_lines(case: CaseReport) -> list[str]:
    best = case.best
    if best is None or best.score is None:
        return []
    if not case.tied:
        if case.decision == "the only configuration with a score":
            return ["the only configuration that met every SLO at some workload point"]
        if case.decision == PROJECT_CHOICE:  # not the ranking's winner: no "clear winner"
            known = "" if case.confidence is None else f" (confidence {case.confidence:.0%})"
            return [f"{case.decision}{known}"]
        if case.confidence is None:
            return ["(no interval on the scores: ties cannot be judged)"]
        return [f"clear winner: ahead of every other configuration beyond the noise "
                f"(confidence {case.confidence:.0%})"]
    parts = []
    for tie in case.tied:
        number = case.number_of(tie.config_key)
        rel = tie.difference / abs(best.score) if best.score else 0.0
        iv = tie.interval
        lo, hi = (iv.low / abs(best.score), iv.high / abs(best.score)) if best.score else (0, 0)
        parts.append(f"#{number} {tie.config_id} ({rel:+.1%}, 95 % CI {lo:+.1%} … {hi:+.1%})")
    lines = [f"tied with {len(case.tied)}: the differences are within the noise"]
    lines += ["  " + p for p in parts]
    if case.decision:
        lines.append(case.decision)
    return lines


def capacity_lines(case: CaseReport) -> list[str]:
    """``workload.capacity``: the load each configuration's search found."""
    from ..decide.scoring import capacity_bracket

    scenario = next((t.config.capacity for t in case.trials if t.config.capacity), None)
    if scenario is None:
        return []
    parts = []
    for number, trial in enumerate(case.trials, 1):
        capacity, ceiling = capacity_bracket(trial)
        found: str
        if capacity is None:
            found = "none" if trial.status == "ok" else str(trial.status)
        elif ceiling is None:
            found = f"≥ {capacity}"
        else:
            found = f"{capacity} (missed at {ceiling})"
        parts.append(f"#{number} {found}")
    return [f"capacity of {scenario} (users at which every SLO holds): " + "; ".join(parts)]


def shortlist_of(report: RunReport, case: CaseReport) -> dict[str, Any] | None:
    """The ``--autotune-shortlist`` estimate of ``case`` kept in the report, if any."""
    for entry in report.extra.get("shortlist") or ():
        if entry.get("case") == case.name and entry.get("source") == case.source:
            return dict(entry)
    return None


def shortlist_rows(case: CaseReport, entry: Mapping[str, Any]) -> list[list[str]]:
    """Every estimated configuration, best estimate first: its estimate and, when it was
    shortlisted, what it measured."""
    measured = {t.config_key: t for t in case.trials}
    chosen = list(entry.get("chosen") or ())
    sign = 1.0 if entry.get("direction", "maximize") == "maximize" else -1.0
    estimates = sorted(entry.get("estimates") or (),
                       key=lambda e: (e["score"] is None, -sign * (e["score"] or 0.0),
                                      e["index"]))
    rows = []
    for rank, e in enumerate(estimates, 1):
        iv = None if e.get("low") is None else Interval(e["low"], e["high"])
        estimate = (f"{format_score(e['score'], case.unit)} {spread(e['score'], iv)}".rstrip()
                    if e["score"] is not None else f"{e['outcome']}")
        trial = measured.get(e["config_key"])
        if e["config_key"] in chosen and trial is not None:
            note = "shortlisted"
            result = format_score(trial.score, case.unit)
        else:
            note = "" if e["score"] is None else "not shortlisted"
            result = ""
        if e["score"] is None and e.get("reason"):
            note = str(e["reason"])[:70]
        rows.append([str(rank), e["config_id"], estimate, result, note])
    return rows


def shortlist_lines(case: CaseReport, entry: Mapping[str, Any]) -> list[str]:
    estimates = entry.get("estimates") or ()
    chosen = entry.get("chosen") or ()
    head = (f"shortlist: {len(estimates)} configurations estimated in "
            f"{float(entry.get('seconds', 0.0)):.1f} s (ESTIMATED), the {len(chosen)} best "
            f"measured (K = {entry.get('k')})")
    return [head, *("  " + line for line in aligned(
        SHORTLIST_COLUMNS, shortlist_rows(case, entry), right={0, 2, 3}))]


SHORTLIST_COLUMNS = ("rank", "configuration", "estimate", "measured", "")


def aligned(columns: Sequence[str], rows: list[list[str]], right: set[int]) -> list[str]:
    """A plain table: a header and rows padded to the widest cell, the last column free."""
    widths = [max([len(c)] + [len(r[k]) for r in rows]) for k, c in enumerate(columns)]

    def line(cells: Sequence[str]) -> str:
        out = [cell if k == len(cells) - 1 else
               cell.rjust(widths[k]) if k in right else cell.ljust(widths[k])
               for k, cell in enumerate(cells)]
        return "  ".join(out).rstrip()

    return [line(columns)] + [line(r) for r in rows]


def format_table(rows: list[list[str]], columns: Sequence[str] = COLUMNS) -> list[str]:
    widths = [len(c) for c in columns]
    for row in rows:
        if len(row) < len(columns):
            row = row[:2]  # a status row: its message may run long without widening the table
        for k, cell in enumerate(row):
            widths[k] = max(widths[k], len(cell))
    right = {0, *range(3, len(columns) - 2)}  # the numbers: out tok/s, the latencies, err

    def line(cells: list[str]) -> str:
        out = []
        for k, cell in enumerate(cells):
            if k == len(cells) - 1 and len(cells) < len(columns):
                out.append(cell)
            else:
                out.append(cell.rjust(widths[k]) if k in right else cell.ljust(widths[k]))
        return "  ".join(out).rstrip()

    return [line(list(columns))] + [line(r) for r in rows]


def render_cases(tr: Terminal, report: RunReport) -> None:
    """Each case: its objective and SLOs, the table, the winner and its launch command."""
    if report.simulated and report.note:
        tr.write_line(report.note, yellow=True, bold=True)
    if not report.complete:
        tr.write_line("PARTIAL RUN: " + "; ".join(report.completeness.reasons) + " (its results "
                      "are written beside the complete ones, not over them)", yellow=True)
    elif report.completeness.merged_from:
        tr.write_line(f"this --lf rerun is merged into {report.completeness.merged_from}: the "
                      "points measured again replace theirs")
    for case in report.cases:
        tr.write_line("")
        tr.write_line(f"{case.name}  ({case.source})", bold=True)
        tr.write_line(f"objective: {case.objective_description}")
        if case.slos:
            tr.write_line("SLOs: " + "; ".join(case.slos))
        best_index = case.best_number
        rows = case_rows(case)
        lines = format_table([cells for _, cells in rows], columns_of(latency_columns(case)))
        tr.write_line("  " + lines[0], bold=True)
        for (number, _), line in zip(rows, lines[1:], strict=True):
            tr.write_line("  " + line, green=number == best_index)
        for line in capacity_lines(case):
            tr.write_line("  " + line)
        for line in short_run_lines(case):
            tr.write_line("  " + line, yellow=True)
        best = case.best
        entry = shortlist_of(report, case)
        if best is None:
            tr.write_line("  no configuration met the SLOs at any workload point", red=True)
            for line in shortlist_lines(case, entry) if entry is not None else ():
                tr.write_line("  " + line)
            continue
        score = format_score(best.score, case.unit)
        score += f" {spread(best.score, best.score_interval)}".rstrip()
        tr.write_line(f"  best: #{best_index} {best.config_id}  ({score})", green=True,
                      bold=True)
        for line in decision_lines(case):
            tr.write_line("  " + line)
        spent, fixed = case.passes_spent()
        if fixed > spent:
            tr.write_line(f"  racing: {spent} benchmark passes where fixed repeats take {fixed} "
                          f"(saved {fixed - spent}, {(fixed - spent) / fixed:.0%})")
        if best.launch_command:
            tr.write_line("  launch: " + shlex.join(best.launch_command))
        if entry is not None:
            for line in shortlist_lines(case, entry):
                tr.write_line("  " + line)
