"""Report writers: one per output format, behind one interface.

The run's report is built once; every registered writer renders it. The defaults write the
earlier tool's per-case results files and the numbered run file; the terminal table is the
``terminal`` writer, rendered in pytest's terminal summary. A conftest or plugin adds a format
by returning writers from ``pytest_autotune_report_writers``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from ..results import RunReport
from .build import seed_results
from .storage import save_run, write_atomic
from .table import Terminal, render_cases


@dataclass
class WriteContext:
    """Where a writer puts things. ``written`` collects every file written, for the summary."""

    results_dir: Path
    storage: Path
    run_dir: Path
    rootpath: Path
    terminal: Terminal | None = None
    written: list[Path] = field(default_factory=list)


@runtime_checkable
class ReportWriter(Protocol):
    """Renders a run report in one format. ``stage`` says when: ``files`` at the end of the
    session (controller only), ``terminal`` in the terminal summary."""

    format: str
    stage: Literal["files", "terminal"]

    def write(self, report: RunReport, ctx: WriteContext) -> list[Path]:
        ...


class SeedResultsWriter:
    """``<results>/<case>_results.json``: the earlier tool's layout, one file per case.

    A partial run (``-x``, ``-k``, interrupted, …) writes ``<case>_results.partial.json`` beside
    it instead, so a complete result is never replaced by part of one."""

    format = "seed-json"
    stage: Literal["files", "terminal"] = "files"

    def write(self, report: RunReport, ctx: WriteContext) -> list[Path]:
        paths = []
        suffix = "_results.json" if report.complete else "_results.partial.json"
        for case in report.cases:
            path = ctx.results_dir / f"{case.name}{suffix}"
            write_atomic(path, seed_results(case, report))
            paths.append(path)
        return paths


class RunFileWriter:
    """The run's ``report.json`` beside its logs, and the numbered run file under storage."""

    format = "run-file"
    stage: Literal["files", "terminal"] = "files"

    def write(self, report: RunReport, ctx: WriteContext) -> list[Path]:
        data = report.to_dict()
        write_atomic(ctx.run_dir / "report.json", data)
        return [save_run(ctx.storage, data, report.commit or "nocommit")]


class HtmlWriter:
    """The self-contained HTML report (charts and tables, :mod:`.html`): the run's
    ``report.html`` beside its logs, or ``--autotune-html PATH``."""

    format = "html"
    stage: Literal["files", "terminal"] = "files"

    def __init__(self, path: Path | None = None) -> None:
        self.path = path

    def write(self, report: RunReport, ctx: WriteContext) -> list[Path]:
        from .html import render_run, write_html

        return [write_html(self.path or ctx.run_dir / "report.html", render_run(report))]


class TerminalWriter:
    """The table of every configuration, the winner and its launch command."""

    format = "terminal"
    stage: Literal["files", "terminal"] = "terminal"

    def write(self, report: RunReport, ctx: WriteContext) -> list[Path]:
        tr = ctx.terminal
        if tr is None:
            return []
        tr.write_sep("=", "autotune: configurations and best choice")
        render_cases(tr, report)
        tr.write_line("")
        for path in ctx.written:
            tr.write_line(f"wrote {relative(path, ctx.rootpath)}")
        return []


def default_writers(*, html: Path | Literal[False] | None = None) -> list[ReportWriter]:
    """The results files, the run file, the HTML report (at ``html``, beside the run's logs
    when None, not written when False) and the terminal table."""
    writers: list[ReportWriter] = [SeedResultsWriter(), RunFileWriter()]
    if html is not False:
        writers.append(HtmlWriter(html))
    return [*writers, TerminalWriter()]


def run_writers(writers: Sequence[ReportWriter], stage: str, report: RunReport,
                ctx: WriteContext) -> list[str]:
    """Every writer of ``stage``; one that cannot write (OSError) does not stop the others:
    what it could not write is returned, one line each."""
    failed = []
    for writer in writers:
        if writer.stage == stage:
            try:
                ctx.written.extend(writer.write(report, ctx))
            except OSError as exc:
                target = exc.filename2 or exc.filename  # os.replace: the destination
                where = f" {target}" if target else ""
                failed.append(f"the {writer.format} writer could not write{where}: "
                              f"{exc.strerror or exc}")
    return failed


def relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


__all__ = ["HtmlWriter", "ReportWriter", "RunFileWriter", "SeedResultsWriter", "TerminalWriter",
           "WriteContext", "default_writers", "run_writers"]
