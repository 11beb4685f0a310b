"""Polling for a condition, instead of sleeping and hoping (the integration harness and the
simulator tests share it)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest


def wait_for(what: str, probe: Callable[[], Any], timeout: float, poll: float = 0.1) -> Any:
    """Poll until ``probe`` returns something truthy and return it; fail the test after
    ``timeout`` seconds, naming ``what`` it waited for. ``probe`` may raise OSError (a server
    not listening yet): that counts as not yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = probe()
        except OSError:
            value = None
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(poll)
