"""Live progress of the points being benchmarked: statuses, where they travel, how they show.

pytest-free (``plugin/progress.py`` wires it into pytest). A process that runs items turns the
progress lines of its genai-bench (``bench/progress.py``) into the :class:`Status` of its running
item with a :class:`Tracker`. In one process the tracker updates the :class:`Board` directly;
an xdist worker has no terminal, so a :class:`FolderPublisher` writes its status to
``<folder>/<worker>.json`` and the controller reads the folder (:func:`read_folder`). The
controller's :class:`Ticker` thread shows the board with a :class:`LiveView` (lines redrawn in
place below pytest's current line) or a :class:`LinesView` (plain lines for CI logs).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from ..bench.progress import BenchEnded, RunStarted, is_progress_line, parse_line
from ..cases.grammar import point_id
from ..procs import pid_alive
from ..units import format_seconds

Clock = Callable[[], float]
#: the live view redraws at most this often (seconds)
LIVE_INTERVAL = 0.5
#: the lines view prints a running point's line at most this often, and only after this long
LINES_INTERVAL = 30.0
#: a worker writes its status file at most this often
PUBLISH_INTERVAL = 1.0


@dataclass(frozen=True)
class Status:
    """What one process is benchmarking now."""

    label: str  # case · configuration
    point: str  # D(100,100)-c32
    started: float  # wall-clock time the point started
    done: int = 0
    total: int = 0
    errors: int = 0
    ttft_p50: float | None = None  # seconds
    worker: str = ""  # the xdist worker, "" in a single process
    pid: int = 0

    def text(self, now: float) -> str:
        who = f"[{self.worker}] " if self.worker else ""
        parts = [f"{self.done}/{self.total} req" if self.total else f"{self.done} req",
                 f"{max(0, int(now - self.started))} s"]
        if self.errors:
            parts.append(f"{self.errors} err")
        if self.ttft_p50 is not None:
            parts.append(f"p50 TTFT {format_seconds(self.ttft_p50)}")
        point = f" · {self.point}" if self.point else ""
        return f"autotune ▸ {who}{self.label}{point}  " + "  ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Status:
        ttft = data.get("ttft_p50")
        return cls(str(data["label"]), str(data["point"]), float(data["started"]),
                   int(data.get("done", 0)), int(data.get("total", 0)),
                   int(data.get("errors", 0)), None if ttft is None else float(ttft),
                   str(data.get("worker", "")), int(data.get("pid", 0)))


Publish = Callable[["Status | None"], None]
#: the running item's (case · configuration label, its workload point's id)
Describe = Callable[[], "tuple[str, str]"]


class Tracker:
    """One process's running item and the progress lines of its benchmark (the runner's output
    sink calls :meth:`feed` from its pump thread)."""

    def __init__(self, publish: Publish, *, worker: str = "", clock: Clock = time.time) -> None:
        self.publish = publish
        self.worker = worker
        self.clock = clock
        self._lock = threading.Lock()
        self._describe: Describe | None = None
        self._label: tuple[str, str] | None = None
        self._status: Status | None = None

    def begin(self, describe: Describe) -> None:
        with self._lock:
            self._describe, self._label, self._status = describe, None, None

    def end(self) -> None:
        with self._lock:
            self._describe, self._label, self._status = None, None, None
            self.publish(None)

    def feed(self, line: str) -> bool:
        """Whether ``line`` was a progress line (consumed: it is no output to show)."""
        if not is_progress_line(line):
            return False
        event = parse_line(line.rstrip("\r\n"))
        with self._lock:
            if event is None or self._describe is None:
                return True
            if self._label is None:
                try:
                    self._label = self._describe()
                except Exception:
                    self._label = ("?", "")
            label, point = self._label
            now = self.clock()
            if isinstance(event, BenchEnded):
                self._status = None
            elif isinstance(event, RunStarted):
                if event.concurrency is not None:
                    point = point_id(event.scenario, event.concurrency)
                self._status = Status(label, point, now, total=event.total, worker=self.worker,
                                      pid=os.getpid())
            else:
                base = self._status or Status(label, point, now, worker=self.worker,
                                              pid=os.getpid())
                self._status = replace(base, done=event.done, total=event.total or base.total,
                                       errors=event.errors, ttft_p50=event.ttft_p50)
            self.publish(self._status)
        return True


class Board:
    """The statuses the controller shows, by key (a worker id, "" in a single process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._statuses: dict[str, Status] = {}

    def set(self, key: str, status: Status | None) -> None:
        with self._lock:
            if status is None:
                self._statuses.pop(key, None)
            else:
                self._statuses[key] = status

    def replace(self, statuses: Iterable[Status]) -> None:
        with self._lock:
            self._statuses = {s.worker: s for s in statuses}

    def snapshot(self) -> list[Status]:
        with self._lock:
            return [self._statuses[k] for k in sorted(self._statuses)]


# -- across xdist workers ------------------------------------------------------------------------
class FolderPublisher:
    """A worker's status as ``<folder>/<worker>.json``: replaced atomically (a temporary file,
    then ``os.replace``), at most once per ``interval`` (a later status waits on a timer, and
    the newest one is written), removed when the item ends. Errors are ignored."""

    def __init__(self, folder: Path, worker: str, *, interval: float = PUBLISH_INTERVAL,
                 clock: Clock = time.monotonic) -> None:
        self.path = folder / f"{worker}.json"
        self.interval = interval
        self.clock = clock
        self._lock = threading.Lock()
        self._last = float("-inf")
        self._pending: Status | None = None
        self._timer: threading.Timer | None = None

    def __call__(self, status: Status | None) -> None:
        if status is None:
            self.remove()
            return
        with self._lock:
            self._pending = status
            wait = self._last + self.interval - self.clock()
            if wait <= 0:
                self._write()
            elif self._timer is None:
                self._timer = threading.Timer(wait, self.flush)
                self._timer.daemon = True
                self._timer.start()

    def flush(self) -> None:
        """Write the waiting status now (the timer calls this)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._pending is not None:
                self._write()

    def _write(self) -> None:
        status, self._pending = self._pending, None
        self._last = self.clock()
        if status is None:
            return
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(status.to_dict()), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()

    def remove(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._pending = None
            with contextlib.suppress(OSError):
                self.path.unlink()

    close = remove


def read_folder(folder: Path, alive: Callable[[int], bool] = pid_alive) -> list[Status]:
    """The statuses the workers published; a crashed worker's file is removed."""
    out = []
    try:
        paths = sorted(folder.glob("*.json"))
    except OSError:
        return []
    for path in paths:
        try:
            status = Status.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # removed meanwhile, or not ours
        if status.pid and not alive(status.pid):
            with contextlib.suppress(OSError):
                path.unlink()
            continue
        out.append(status)
    return out


# -- on the terminal -----------------------------------------------------------------------------
class Screen(Protocol):
    """The terminal: every write under ``lock``; where pytest's current line ends."""

    lock: threading.RLock

    def write(self, text: str) -> None: ...

    def column(self) -> int: ...

    def width(self) -> int: ...

    def write_lines(self, lines: Sequence[str]) -> None:
        """Whole lines, starting on a fresh line."""


def fit(text: str, width: int) -> str:
    """``text`` cut to less than ``width`` columns (a full line would wrap)."""
    if width <= 1 or len(text) < width:
        return text
    return text[: max(0, width - 2)] + "…"


def frame(lines: Sequence[str], column: int, width: int) -> str:
    """Draw ``lines`` below the current line, then return to ``column`` of the current line."""
    body = "\n".join("\x1b[K" + fit(line, width) for line in lines)
    return f"\n{body}\x1b[J\x1b[{len(lines)}A\x1b[{column + 1}G"


def clear_sequence(column: int) -> str:
    """Erase everything below the current line and return to ``column``."""
    return f"\n\x1b[J\x1b[1A\x1b[{column + 1}G"


class LiveView:
    """Status lines redrawn in place below pytest's current line, at most every ``interval``."""

    def __init__(self, screen: Screen, *, interval: float = LIVE_INTERVAL,
                 clock: Clock = time.time) -> None:
        self.screen = screen
        self.interval = interval
        self.clock = clock
        self.drawn = 0
        self.paused = False
        self._column = 0
        self._last = float("-inf")

    def show(self, statuses: Sequence[Status]) -> None:
        with self.screen.lock:
            now = self.clock()
            if self.paused or now - self._last < self.interval:
                return
            if not statuses:
                self.clear()
                return
            self._last = now
            self._column = self.screen.column()
            lines = [s.text(now) for s in statuses]
            self.screen.write(frame(lines, self._column, self.screen.width()))
            self.drawn = len(lines)

    def clear(self) -> None:
        """Erase the lines (the cursor goes back where they were drawn from)."""
        with self.screen.lock:
            if self.drawn:
                self.screen.write(clear_sequence(self._column))
                self.drawn = 0
                self._last = float("-inf")  # pytest wrote: draw again at the next tick

    def pause(self) -> None:
        with self.screen.lock:
            self.clear()
            self.paused = True

    def resume(self) -> None:
        with self.screen.lock:
            self.paused = False


class LinesView:
    """A plain line per running point once it has run ``interval`` seconds, then at most every
    ``interval`` seconds (a point that finishes sooner prints nothing)."""

    def __init__(self, screen: Screen, *, interval: float = LINES_INTERVAL,
                 clock: Clock = time.time) -> None:
        self.screen = screen
        self.interval = interval
        self.clock = clock
        self.paused = False
        self._printed: dict[tuple[str, str, str, float], float] = {}

    def show(self, statuses: Sequence[Status]) -> None:
        now = self.clock()
        due = []
        running = set()
        for status in statuses:
            key = (status.worker, status.label, status.point, status.started)
            running.add(key)
            if now - status.started < self.interval:
                continue
            last = self._printed.get(key)
            if last is not None and now - last < self.interval:
                continue
            self._printed[key] = now
            due.append(status.text(now))
        self._printed = {k: v for k, v in self._printed.items() if k in running}
        if due:
            with self.screen.lock:
                if not self.paused:
                    self.screen.write_lines(due)

    def clear(self) -> None:
        pass

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False


View = LiveView | LinesView


class Ticker:
    """A daemon thread that calls ``step`` every ``period`` seconds until stopped."""

    def __init__(self, step: Callable[[], None], period: float) -> None:
        self.step = step
        self.period = period
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="autotune-progress", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            with contextlib.suppress(Exception):
                self.step()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
