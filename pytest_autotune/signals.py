"""SIGTERM unwinds like Ctrl-C while a session runs, so servers are torn down, not orphaned
(a cancelled CI job sends SIGTERM to pytest alone)."""

from __future__ import annotations

import signal
import threading
from typing import Any

import pytest

_HANDLER = pytest.StashKey[Any]()


def sigterm_as_interrupt(config: pytest.Config) -> None:
    """Install the handler unless someone else handles SIGTERM (or we are not the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return

    def on_sigterm(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise KeyboardInterrupt("SIGTERM")

    signal.signal(signal.SIGTERM, on_sigterm)
    config.stash[_HANDLER] = on_sigterm


def restore(config: pytest.Config) -> None:
    """Put back the default disposition if our handler is still the one installed."""
    handler = config.stash.get(_HANDLER, None)
    if handler is not None and signal.getsignal(signal.SIGTERM) is handler:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if handler is not None:
        del config.stash[_HANDLER]
