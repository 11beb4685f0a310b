"""``--autotune-progress``: the pytest side of the live progress (the parts are report/live.py's).

Registered by ``pytest_configure`` as ``autotune-progress``. Where items run, a tracker follows
the running item and reads genai-bench's progress lines from the runner's output sink. Only the
controller writes to the terminal (the one pytest had before capturing, ``TERMINAL_FD``): a
live view redrawn in place when that is a TTY, else (or with ``lines``) a plain line per running
point every 30 s; xdist workers publish their status to files in the run's ``progress/`` folder,
which the controller polls.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any

import pytest

from ..report.live import (
    LINES_INTERVAL,
    LIVE_INTERVAL,
    Board,
    FolderPublisher,
    LinesView,
    LiveView,
    Ticker,
    Tracker,
    View,
    read_folder,
)
from .context import TERMINAL_FD
from .items import ITEM_KEY

if TYPE_CHECKING:
    from .context import RunContext

#: seconds between the lines of ``lines`` mode (default 30), for tests and impatient CI logs
INTERVAL_ENV = "AUTOTUNE_PROGRESS_INTERVAL"


def lines_interval() -> float:
    try:
        return max(0.0, float(os.environ.get(INTERVAL_ENV, "")))
    except ValueError:
        return LINES_INTERVAL


class TerminalScreen:
    """The terminal pytest had before capturing (a dup of its fd) and pytest's terminal writer,
    whose writes go through :meth:`guard` so that status lines are erased before pytest writes."""

    def __init__(self, fd: int, reporter: Any) -> None:
        self.fd = fd
        self.tw = reporter._tw
        self.lock = threading.RLock()
        self._fresh = False  # the cursor is at the start of a line we ended
        self._before: Any = None

    def write(self, text: str) -> None:
        data = text.encode("utf-8", "replace")
        with self.lock:
            with contextlib.suppress(OSError):
                while data:
                    data = data[os.write(self.fd, data):]

    def column(self) -> int:
        return 0 if self._fresh else int(self.tw.width_of_current_line)

    def width(self) -> int:
        """The terminal's own width (pytest's writer may have measured a captured fd)."""
        try:
            return os.get_terminal_size(self.fd).columns
        except OSError:
            return int(self.tw.fullwidth)

    def write_lines(self, lines: Sequence[str]) -> None:
        with self.lock:
            start = "" if self.column() == 0 else "\n"
            self.write(start + "".join(line + "\n" for line in lines))
            self._fresh = True

    def guard(self, before: Any) -> None:
        """Call ``before()`` under the lock ahead of every write of pytest's terminal writer."""

        def guarded(write: Callable[..., None]) -> Callable[..., None]:
            def guarded_write(msg: str, **kwargs: Any) -> None:
                with self.lock:
                    if msg:
                        before()
                        self._fresh = False
                    write(msg, **kwargs)

            return guarded_write

        self.tw.write, self.tw.write_raw = guarded(self.tw.write), guarded(self.tw.write_raw)
        self._before = before

    def unguard(self) -> None:
        if self._before is not None:
            for name in ("write", "write_raw"):
                self.tw.__dict__.pop(name, None)
            self._before = None


class ProgressPlugin:
    def __init__(self, run: RunContext) -> None:
        self.run = run
        self.mode = run.settings.progress
        self.folder = run.layout.progress
        self.worker = run.worker_id
        self.board = Board()
        self.publisher: FolderPublisher | None = None
        self.tracker: Tracker | None = None
        self.view: View | None = None
        self.screen: TerminalScreen | None = None
        self.ticker: Ticker | None = None
        if self.mode == "off":
            return
        if run.is_worker:
            self.publisher = FolderPublisher(self.folder, self.worker)
            self.tracker = Tracker(self.publisher, worker=self.worker)
        else:
            self.tracker = Tracker(lambda status: self.board.set("", status))

    @property
    def distributed(self) -> bool:
        """The controller of an xdist run (its workers run the items)."""
        return self.run.distributed

    def sink(self, verbose: Callable[[str], object] | None) -> Callable[[str], object]:
        """genai-bench's output sink: progress lines to the tracker, the others to ``verbose``
        (the ``--autotune-verbose`` stream, if on)."""

        def write(line: str) -> None:
            if not self.feed(line) and verbose is not None:
                verbose(line)

        return write

    def feed(self, line: str) -> bool:
        """The runner's output sink: whether ``line`` was a progress line (not for display)."""
        if self.tracker is None:
            from ..bench.progress import is_progress_line

            return is_progress_line(line)
        return self.tracker.feed(line)

    # -- the terminal (the controller) -------------------------------------------------------------
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if self.distributed:  # the workers collect: any of them may run autotune items
            self.start()

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """In one process: draw only in a run that has autotune items to run."""
        if not self.distributed and not session.config.option.collectonly and any(
                ITEM_KEY in item.stash for item in session.items):
            self.start()

    def start(self) -> None:
        config = self.run.config
        fd = config.stash.get(TERMINAL_FD, None)
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if (self.mode == "off" or self.run.is_worker or fd is None or reporter is None
                or self.ticker is not None):
            return
        self.screen = TerminalScreen(fd, reporter)
        live = self.mode == "auto" and os.isatty(fd) and not self.run.settings.verbose
        interval = lines_interval()
        self.view = (LiveView(self.screen) if live
                     else LinesView(self.screen, interval=interval))
        self.screen.guard(self.view.clear)
        period = LIVE_INTERVAL if live else min(LIVE_INTERVAL, max(0.05, interval / 2))
        self.ticker = Ticker(self._tick, period)
        self.ticker.start()

    def _tick(self) -> None:
        if self.distributed:
            self.board.replace(read_folder(self.folder))
        if self.view is not None:
            self.view.show(self.board.snapshot())

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> Generator[None, None, None]:
        """Erase the status lines while pytest reports an item."""
        view = self.view
        if view is not None:
            view.pause()
        try:
            return (yield)
        finally:
            if view is not None:
                view.resume()

    def stop(self) -> None:
        """Stop drawing and erase what is drawn (idempotent)."""
        if self.ticker is not None:
            self.ticker.stop()
            self.ticker = None
        if self.view is not None:
            self.view.pause()
            self.view = None
        if self.screen is not None:
            self.screen.unguard()
            self.screen = None

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Generator[None, None, None]:
        self.stop()
        try:
            return (yield)
        finally:
            self.cleanup()

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_terminal_summary(self, terminalreporter: Any) -> Generator[None, None, None]:
        self.stop()
        return (yield)

    def cleanup(self) -> None:
        """A worker's file (its items are over); on the controller, the whole folder."""
        if self.publisher is not None:
            self.publisher.close()
        if not self.run.is_worker:
            shutil.rmtree(self.folder, ignore_errors=True)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.stop()
        self.cleanup()

    # -- where items run ---------------------------------------------------------------------------
    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item,
                                nextitem: pytest.Item | None) -> Generator[None, object, object]:
        tracker = self.tracker
        if tracker is not None:
            tracker.begin(lambda: self.describe(item))
        try:
            return (yield)
        finally:
            if tracker is not None:
                tracker.end()

    def describe(self, item: pytest.Item) -> tuple[str, str]:
        """``(case · configuration, workload point)`` of a running item."""
        info = item.stash.get(ITEM_KEY, None)
        if info is None:
            return item.name, ""
        config = self.run.configuration_of(info)
        name = config.id if config is not None else info.group
        return f"{info.case.name} · {name}", info.point.id
