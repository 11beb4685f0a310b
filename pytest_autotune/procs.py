"""Child processes: output pumping, log tails, and stopping a whole process group."""

from __future__ import annotations

import collections
import contextlib
import os
import re
import signal
import subprocess
import threading
from collections.abc import Callable, Sequence
from typing import Any

LineSink = Callable[[str], object]


_STAMP = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d[^ ]*")


class Tail:
    """The last ``n`` distinct lines written to it; a run of lines that differ only by their
    timestamp (genai-bench logs one warning per failed request) is kept once with a count."""

    def __init__(self, n: int = 60) -> None:
        self._lines: collections.deque[list[Any]] = collections.deque(maxlen=n)

    def add(self, line: str) -> None:
        key = _STAMP.sub("", line)
        if self._lines and self._lines[-1][0] == key:
            self._lines[-1][2] += 1
            return
        self._lines.append([key, line, 1])

    def text(self) -> str:
        out = []
        for _, line, count in self._lines:
            if count > 1:
                line = line.rstrip("\n") + f"   [repeated {count} times]\n"
            out.append(line)
        return "".join(out)


def pump_output(proc: subprocess.Popen[bytes], sinks: Sequence[LineSink]) -> threading.Thread:
    """Copy the child's stdout, line by line, to every sink, in a daemon thread."""

    def run() -> None:
        assert proc.stdout is not None
        with proc.stdout:
            for raw in iter(proc.stdout.readline, b""):
                line = raw.decode("utf-8", errors="replace")
                for sink in sinks:
                    with contextlib.suppress(Exception):
                        sink(line)

    thread = threading.Thread(target=run, name=f"pump-{proc.pid}", daemon=True)
    thread.start()
    return thread


def terminate_group(proc: subprocess.Popen[bytes], grace: float = 10.0) -> int | None:
    """SIGTERM the child's process group, then SIGKILL it after ``grace`` seconds."""
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        pgid = None
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        if proc.poll() is not None and pgid is None:
            break
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if pgid is not None and pgid != os.getpgid(0):
                os.killpg(pgid, sig)
            else:
                proc.send_signal(sig)
        try:
            proc.wait(timeout=wait)
            if pgid is not None and sig == signal.SIGTERM and group_alive(pgid):
                continue  # the leader left; make sure its children go too
            break
        except subprocess.TimeoutExpired:
            continue
    return proc.poll()


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kill_group(pgid: int) -> None:
    """SIGKILL a process group that is not ours (used when sweeping leftovers)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
