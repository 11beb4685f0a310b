"""``pytest-autotune``: look at stored runs without re-running anything.

    pytest-autotune list                  numbered runs under .autotune/runs
    pytest-autotune show [RUN]            the summary table of a run (default: the latest)
    pytest-autotune compare A B           best score per case, and the change from A to B
        [--fail-on-regression PCT]        exit 1 when a case's best score got worse by > PCT %
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from .report.storage import find_run, load_run, run_files
from .report.table import format_score, render_cases
from .results import RunReport


class _Writer:
    """The subset of pytest's terminal writer the table renderer uses."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write_line(self, line: str, **markup: bool) -> None:
        self.stream.write(line + "\n")

    def write_sep(self, sep: str, title: str, **markup: bool) -> None:
        self.stream.write(f" {title} ".center(96, sep) + "\n")


def show(report: RunReport, out: _Writer) -> None:
    out.write_sep("=", f"autotune run {report.run_id} ({report.mode} mode)")
    render_cases(out, report)


def compare(a: RunReport, b: RunReport, out: _Writer, threshold: float | None) -> int:
    """Print each case's best score in A and B; return 1 if B regressed past ``threshold`` %."""
    status = 0
    header = f"{'case':<28} {'A best':>16} {'B best':>16} {'change':>9}"
    out.write_line(header + "  B best configuration")
    for case in b.cases:
        old = a.case(case.name)
        new_score = case.best.score if case.best else None
        old_score = old.best.score if old and old.best else None
        change = ""
        regressed = False
        if old_score is not None and new_score is not None and old_score != 0:
            delta = (new_score - old_score) / abs(old_score)
            better = delta if case.direction == "maximize" else -delta
            change = f"{better:+.1%}"
            regressed = threshold is not None and better < -threshold / 100.0
        elif old_score is not None and new_score is None:
            change, regressed = "lost", threshold is not None
        best_id = case.best.config_id if case.best else "-"
        line = (f"{case.name:<28} {format_score(old_score, case.unit):>16} "
                f"{format_score(new_score, case.unit):>16} {change:>9}  {best_id}")
        out.write_line(line + ("   REGRESSION" if regressed else ""))
        status |= int(regressed)
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pytest-autotune", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--storage", default=".autotune",
                        help="directory of numbered run files (default: .autotune)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list stored runs")
    p_show = sub.add_parser("show", help="show a run's summary")
    p_show.add_argument("run", nargs="?", default=None, help="run number or file (default: latest)")
    p_cmp = sub.add_parser("compare", help="compare the best configurations of two runs")
    p_cmp.add_argument("a", help="baseline run number or file")
    p_cmp.add_argument("b", nargs="?", default=None, help="run to check (default: latest)")
    p_cmp.add_argument("--fail-on-regression", type=float, default=None, metavar="PCT",
                       help="exit 1 when a case's best score is worse by more than PCT %%")
    args = parser.parse_args(argv)
    storage = Path(args.storage)
    out = _Writer(sys.stdout)
    try:
        if args.command == "list":
            for path in run_files(storage):
                report = load_run(path)
                names = ", ".join(c.name for c in report.cases)
                out.write_line(f"{path.name}  {report.mode:<8} {names}")
            return 0
        if args.command == "show":
            show(load_run(find_run(storage, args.run)), out)
            return 0
        a = load_run(find_run(storage, args.a))
        b = load_run(find_run(storage, args.b))
        return compare(a, b, out, args.fail_on_regression)
    except (FileNotFoundError, ValueError) as exc:
        print(f"pytest-autotune: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
