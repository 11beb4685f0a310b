"""Container output: a redacted, thread-safe server log, and clean-ups that Ctrl-C cannot cut
short."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from .base import LineSink
from .secrets import Redactor

TAIL_LINES = 60


class LogFile:
    """Server output → redacted lines in ``server.log`` (and the live sink), thread-safe."""

    def __init__(self, path: Path, redact: Redactor, sink: LineSink | None) -> None:
        self.path = path
        self.redact = redact
        self.sink = sink
        self.lock = threading.Lock()
        self.handle = open(path, "w", encoding="utf-8")

    def write(self, line: str) -> None:
        clean = self.redact(line)
        with self.lock:
            if not self.handle.closed:
                self.handle.write(clean)
                self.handle.flush()
        if self.sink is not None:
            with contextlib.suppress(Exception):
                self.sink(clean)

    def replace_all(self, text: str) -> None:
        """Rewrite the file with the engine's complete log (the stream may have lagged)."""
        with self.lock:
            self.handle.seek(0)
            self.handle.truncate()
            self.handle.write(self.redact(text))
            self.handle.flush()

    def tail(self, lines: int = TAIL_LINES) -> str:
        with self.lock, open(self.path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:])

    def close(self) -> None:
        with self.lock:
            self.handle.close()


def pump_lines(stream: Iterator[bytes], log: LogFile) -> None:
    """Split the engine's byte stream into lines for ``log`` until the container stops."""
    buffer = b""
    with contextlib.suppress(Exception):  # the engine closes the stream when the container stops
        for chunk in stream:
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                log.write(line.decode("utf-8", errors="replace") + "\n")
    if buffer:
        log.write(buffer.decode("utf-8", errors="replace") + "\n")


@contextmanager
def deferred_signals() -> Iterator[None]:
    """Let a clean-up finish when Ctrl-C (or SIGTERM) arrives again; re-raise afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous = {sig: signal.signal(sig, hold) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if received:
            raise KeyboardInterrupt(signal.Signals(received[0]).name)


def note(sink: LineSink | None, message: str) -> None:
    """A line of the plugin's own among the server's output (the live sink, when there is one)."""
    if sink is not None:
        with contextlib.suppress(Exception):
            sink(f"[pytest-autotune] {message}\n")


def write_json(path: Path, data: dict[str, Any]) -> None:
    """A deployment's record (``deploy.json``, ...); a full disk must not mask the real error."""
    with contextlib.suppress(OSError):
        path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
