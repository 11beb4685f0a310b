"""SGLang-shaped log lines on stderr: ``[2025-01-01 12:00:00 TP0] message``."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Log"]

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}


class Log:
    def __init__(self, level: str = "info", stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.level = LEVELS.get(level.lower(), 20)

    def _ts(self) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S")

    def write(self, text: str) -> None:
        try:
            self.stream.write(text if text.endswith("\n") else text + "\n")
            self.stream.flush()
        except (OSError, ValueError):  # closed pipe at shutdown
            pass

    def info(self, msg: str, prefix: str = "") -> None:
        if self.level <= 20:
            self.write(f"[{self._ts()}{' ' + prefix if prefix else ''}] {msg}")

    def warning(self, msg: str, prefix: str = "") -> None:
        if self.level <= 30:
            self.write(f"[{self._ts()}{' ' + prefix if prefix else ''}] WARNING: {msg}")

    def error(self, msg: str, prefix: str = "") -> None:
        self.write(f"[{self._ts()}{' ' + prefix if prefix else ''}] ERROR: {msg}")

    def uvicorn(self, msg: str) -> None:
        if self.level <= 20:
            self.write(f"[{self._ts()}] INFO:     {msg}")

    def raw(self, msg: str) -> None:
        self.write(msg)
