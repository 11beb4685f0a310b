"""Report writers: one per output format, behind one interface.

The run's report is built once; every registered writer renders it. The defaults write the
earlier tool's per-case results files and the numbered run file; the terminal table is the
``terminal`` writer, rendered in pytest's terminal summary. A conftest or plugin adds a format
by returning writers from ``pytest_autotune_report_writers``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from ..results.layout import RunLayout
from ..results.records import RunReport, kind_text, measuring_kind
from ..results.runs import save_run, write_atomic
from .build import seed_results
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
    #: what a writer did that a user should know (a results file kept for its kind, ...)
    notes: list[str] = field(default_factory=list)


@runtime_checkable
class ReportWriter(Protocol):
    """Renders a run report in one format. ``stage`` says when: ``files`` at the end of the
    session (controller only), ``terminal`` in the terminal summary."""

    format: str
    stage: Literal["files", "terminal"]

    def write(self, report: RunReport, ctx: WriteContext) -> list[Path]:
        ...


#: which results file a case keeps when runs of different kinds write one: a measurement
#: outranks an estimate, a real server's the simulator's
KIND_RANK = {"estimate": 1, "simulated": 2, "real": 3}


def results_kind(path: Path) -> str | None:
    """The kind of the run a results file holds (None: no file, or one that cannot be read);
    a file written before results files recorded it gets it from its mode."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    kind = data.get("kind")
    if kind in KIND_RANK:
        return str(kind)
    mode = data.get("mode")
    if not isinstance(mode, str) or not mode:
        return None
    return measuring_kind(mode, bool(data.get("simulated")))


class SeedResultsWriter:
    """``<results>/<case>_results.json``: the earlier tool's layout, one file per case.

    A partial run (``-x``, ``-k``, interrupted, …) writes ``<case>_results.partial.json`` beside
    it instead, so a complete result is never replaced by part of one. Nor is a measurement
    replaced by an estimate, or a real server's results by the simulator's: a run of a lower
    kind than the file holds writes ``<case>_results.<kind>.json`` beside it; a higher one moves
    the file there first and takes its place."""

    format = "seed-json"
    stage: Literal["files", "terminal"] = "files"

    def write(self, report: RunReport, ctx: WriteContext) -> list[Path]:
        paths = []
        kind = report.kind or "real"
        for case in report.cases:
            data = {**seed_results(case, report), "kind": report.kind}
            if not report.complete:
                path = ctx.results_dir / f"{case.name}_results.partial.json"
            else:
                path = self._place(ctx, case.name, kind)
            write_atomic(path, data)
            paths.append(path)
        return paths

    @staticmethod
    def _place(ctx: WriteContext, case: str, kind: str) -> Path:
        main = ctx.results_dir / f"{case}_results.json"
        held = results_kind(main)
        if held is None or held == kind:
            return main
        aside = ctx.results_dir / f"{case}_results.{held}.json"
        if KIND_RANK[held] < KIND_RANK[kind]:
            os.replace(main, aside)
            ctx.notes.append(f"{relative(main, ctx.rootpath)} was {kind_text(held)}: moved to "
                             f"{relative(aside, ctx.rootpath)}; this run, "
                             f"{kind_text(kind)}, takes its place")
            return main
        mine = ctx.results_dir / f"{case}_results.{kind}.json"
        ctx.notes.append(f"{relative(main, ctx.rootpath)} is {kind_text(held)}; this run is "
                         f"{kind_text(kind)} and does not replace it: written to "
                         f"{relative(mine, ctx.rootpath)} instead (delete the former to let "
                         "this kind take its place)")
        return mine


class RunFileWriter:
    """The run's ``report.json`` beside its logs, and the numbered run file under storage."""

    format = "run-file"
    stage: Literal["files", "terminal"] = "files"

    def write(self, report: RunReport, ctx: WriteContext) -> list[Path]:
        data = report.to_dict()
        write_atomic(RunLayout(ctx.run_dir).report_json, data)
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

        return [write_html(self.path or RunLayout(ctx.run_dir).report_html, render_run(report))]


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
        for note in ctx.notes:
            tr.write_line(note)
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
