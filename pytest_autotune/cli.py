"""``pytest-autotune``: look at stored runs without re-running anything.

    pytest-autotune list                  numbered runs under .autotune/runs: mode, kind
                                          (estimate, simulated, real), complete or partial,
                                          baseline gate outcome, cases
    pytest-autotune show [RUN]            the summary table of a run (default: the latest)
        [--html [PATH]]                   also write its HTML report (default: beside the run
                                          file, RUN.html)
    pytest-autotune compare A B           best score per case and every point, A to B (two
                                          runs of one kind: an estimate, the simulator or a
                                          real server)
        [--fail-on-regression PCT]        exit 1 on a significant regression beyond PCT %, an
        [--allow-missing]                 incomplete B, or what only one run has
        [--html [PATH]]                   also write both runs' charts and every change as
                                          HTML (default: compare-A-B.html under the storage)
    RUN, A, B: a run number, latest, latest-complete (the newest complete run that passed
    its baseline gate; for A, one of B's kind), or a run file's path
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TextIO

from .report.html import render_compare, render_run, write_html
from .report.table import format_score, render_cases
from .results.records import ReportFormatError, RunReport
from .results.runs import check_kind, find_run, load_run, run_files


class _Writer:
    """The subset of pytest's terminal writer the table renderer uses."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write_line(self, line: str, **markup: bool) -> None:
        self.stream.write(line + "\n")

    def write_sep(self, sep: str, title: str, **markup: bool) -> None:
        self.stream.write(f" {title} ".center(96, sep) + "\n")


def list_runs(storage: Path, out: _Writer) -> None:
    """One line per run file: its name, mode, kind, completeness, gate outcome and cases; a
    file that cannot be read says why (and a warning names it)."""
    out.write_line(f"{'run file':<40} {'mode':<9} {'kind':<10} {'state':<9} {'gate':<7} cases")
    for path in run_files(storage):
        try:
            report = load_run(path)
        except ReportFormatError as exc:
            notice(str(exc))
            out.write_line(f"{path.name:<40} unreadable (see the warning)")
            continue
        state = "complete" if report.complete else "partial"
        if report.complete and report.completeness.merged_from:
            state = "merged"
        names = ", ".join(c.name for c in report.cases)
        out.write_line(f"{path.name:<40} {report.mode:<9} {report.kind or '?':<10} {state:<9} "
                       f"{report.gate or '-':<7} {names}")


def notice(message: str) -> None:
    print(f"pytest-autotune: warning: {message}", file=sys.stderr)


def show(report: RunReport, out: _Writer) -> None:
    out.write_sep("=", f"autotune run {report.run_id} ({report.mode} mode)")
    render_cases(out, report)


def compare(a: RunReport, b: RunReport, out: _Writer, threshold: float | None, *,
            baseline_name: str = "A", allow_missing: bool = False) -> int:
    """Each case's best score in A and B with the change, its interval and verdict, then every
    finding of the gate (pytest_autotune.decide.gate). Returns 1 when a threshold is given and the
    gate fails: a significant regression beyond it, B incomplete, or cases, configurations or
    points that only one side has (unless ``allow_missing``)."""
    from .decide.gate import DEFAULT_THRESHOLD, compare_runs

    result = compare_runs(a, b, baseline_name=baseline_name,
                          threshold=DEFAULT_THRESHOLD if threshold is None else threshold / 100,
                          allow_missing=allow_missing)
    out.write_line(f"{'case':<28} {'A best':>16} {'B best':>16}  change")
    for case in b.cases:
        old = a.case(case.name)
        new_score = case.best.score if case.best else None
        old_score = old.best.score if old and old.best else None
        change = result.case_changes.get(case.name)
        text = change.text().removeprefix(change.metric + " ") if change else (
            "lost" if old_score is not None and new_score is None else "-")
        out.write_line(f"{case.name:<28} {format_score(old_score, case.unit):>16} "
                       f"{format_score(new_score, case.unit):>16}  {text}")
    for line in result.lines():
        out.write_line(line)
    if not result.lines():
        out.write_line(f"no regression: every point B shares with A is within the noise or "
                       f"the {(threshold or DEFAULT_THRESHOLD * 100):g} % threshold")
    return int(threshold is not None and result.failed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pytest-autotune", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--storage", default=".autotune",
                        help="directory of numbered run files (default: .autotune)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list stored runs")
    p_show = sub.add_parser("show", help="show a run's summary")
    p_show.add_argument("run", nargs="?", default=None, help="run number or file (default: latest)")
    p_show.add_argument("--html", nargs="?", const="", default=None, metavar="PATH",
                        help="write the run's HTML report to PATH (default: the run file's "
                        "path with .html)")
    p_cmp = sub.add_parser("compare", help="compare the best configurations of two runs")
    p_cmp.add_argument("a", help="baseline run number or file")
    p_cmp.add_argument("b", nargs="?", default=None, help="run to check (default: latest)")
    p_cmp.add_argument("--fail-on-regression", type=float, default=None, metavar="PCT",
                       help="exit 1 on a significant regression beyond PCT %% (of a point or of "
                       "a case's best score), an incomplete B, or cases, configurations or "
                       "points only one run has")
    p_cmp.add_argument("--allow-missing", action="store_true",
                       help="do not fail on what only one of the two runs has")
    p_cmp.add_argument("--html", nargs="?", const="", default=None, metavar="PATH",
                       help="write the comparison as HTML to PATH (default: "
                       "compare-A-B.html under the storage directory)")
    args = parser.parse_args(argv)
    storage = Path(args.storage)
    out = _Writer(sys.stdout)
    try:
        if args.command == "list":
            list_runs(storage, out)
            return 0
        if args.command == "show":
            path = find_run(storage, args.run, notice=notice)
            report = load_run(path)
            show(report, out)
            if args.html is not None:
                target = Path(args.html) if args.html else path.with_suffix(".html")
                out.write_line(f"wrote {write_html(target, render_run(report))}")
            return 0
        b_path = find_run(storage, args.b, notice=notice)
        b = load_run(b_path)
        a_path = find_run(storage, args.a, kind=b.kind, notice=notice)
        a = load_run(a_path)
        check_kind(a_path.name, a, b.kind, this=b_path.name,
                   fix="compare two runs of one kind (`pytest-autotune list` shows each run's "
                   "kind)")
        code = compare(a, b, out, args.fail_on_regression, baseline_name=a_path.name,
                       allow_missing=args.allow_missing)
        if args.html is not None:
            target = Path(args.html) if args.html else \
                storage / f"compare-{a_path.stem}-{b_path.stem}.html"
            threshold = None if args.fail_on_regression is None else args.fail_on_regression / 100
            page = render_compare(a, b, a_name=a_path.name, b_name=b_path.name,
                                  threshold=threshold)
            out.write_line(f"wrote {write_html(target, page)}")
        return code
    except (FileNotFoundError, ValueError) as exc:
        print(f"pytest-autotune: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `pytest-autotune show | head`: the reader has what it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
