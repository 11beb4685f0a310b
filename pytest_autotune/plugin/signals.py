"""SIGTERM and SIGHUP unwind like Ctrl-C while a session runs, so servers are torn down, not
orphaned: a cancelled CI job sends SIGTERM to pytest alone, and a closed terminal (a lost SSH
connection, a killed tmux session) sends SIGHUP to its process group."""

from __future__ import annotations

import signal
import threading
from typing import Any

import pytest

#: the signals that end a run the way Ctrl-C does (SIGHUP does not exist on Windows)
SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))

_HANDLERS = pytest.StashKey[dict[signal.Signals, Any]]()


def sigterm_as_interrupt(config: pytest.Config) -> None:
    """Install the handler for each of :data:`SIGNALS` that nobody else handles or ignores
    (``nohup`` ignores SIGHUP: that stays so), from the main thread only."""
    if threading.current_thread() is not threading.main_thread():
        return
    installed: dict[signal.Signals, Any] = {}
    for signum in SIGNALS:
        if signal.getsignal(signum) is not signal.SIG_DFL:
            continue

        def on_signal(received: int, frame: Any) -> None:
            signal.signal(received, signal.SIG_DFL)  # a second one ends the process at once
            raise KeyboardInterrupt(signal.Signals(received).name)

        signal.signal(signum, on_signal)
        installed[signum] = on_signal
    if installed:
        config.stash[_HANDLERS] = installed


def restore(config: pytest.Config) -> None:
    """Put back the default disposition where our handler is still the one installed."""
    installed = config.stash.get(_HANDLERS, None)
    if installed is None:
        return
    for signum, handler in installed.items():
        if signal.getsignal(signum) is handler:
            signal.signal(signum, signal.SIG_DFL)
    del config.stash[_HANDLERS]
