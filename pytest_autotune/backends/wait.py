"""Readiness polling and start-up failure classification, shared by every backend."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from ..errors import DeployError, Infeasible, ReadinessTimeout
from ..runtimes.sglang import READINESS_PATHS

#: Start-up failures that mean "this configuration does not fit", not "something is broken".
INFEASIBLE_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"Not enough memory\. Please try to increase --mem-fraction-static"),
     "not enough memory for the KV cache (raise --mem-fraction-static)"),
    (re.compile(r"Capture cuda graph failed.*out of memory", re.I | re.S),
     "CUDA out of memory while capturing CUDA graphs"),
    (re.compile(r"CUDA out of memory|OutOfMemoryError|out of memory", re.I),
     "CUDA out of memory"),
    (re.compile(r"invalid device ordinal", re.I),
     "not enough GPUs (CUDA: invalid device ordinal)"),
)


def classify(log_text: str) -> str | None:
    """The infeasibility reason found in a server log, or None."""
    for pattern, reason in INFEASIBLE_PATTERNS:
        if pattern.search(log_text):
            return reason
    return None


def http_get(url: str, timeout: float = 5.0, api_key: str | None = None) -> tuple[int, bytes]:
    """GET without proxies (a corporate proxy must never see localhost health checks)."""
    request = urllib.request.Request(url)
    if api_key:
        request.add_header("Authorization", f"Bearer {api_key}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), b""


def is_healthy(url: str, api_key: str | None = None, timeout: float = 5.0) -> bool:
    try:
        status, _ = http_get(url.rstrip("/") + "/health", timeout=timeout, api_key=api_key)
    except (OSError, ValueError):
        return False
    return status == 200


def failure_from_log(message: str, log_tail: str, log_path: str | None) -> DeployError:
    reason = classify(log_tail)
    if reason is not None:
        return Infeasible(reason, log_tail=log_tail, log_path=log_path)
    return DeployError(message, log_tail=log_tail, log_path=log_path)


def wait_ready(
    url: str,
    *,
    timeout: float,
    alive: Callable[[], bool],
    log_tail: Callable[[], str],
    log_path: str | None = None,
    api_key: str | None = None,
    poll: float = 0.2,
    what: str = "server",
) -> dict[str, Any]:
    """Poll ``/health`` then ``/v1/models`` until both answer 200; fail fast if the server dies.

    Returns ``/get_server_info`` (resolved flag values) when the server offers it.
    """
    deadline = time.monotonic() + timeout
    base = url.rstrip("/")
    pending = list(READINESS_PATHS)
    while pending:
        if not alive():
            tail = log_tail()
            raise failure_from_log(f"{what} exited during start-up", tail, log_path)
        try:
            status, _ = http_get(base + pending[0], timeout=5.0, api_key=api_key)
        except (OSError, ValueError):
            status = 0
        if status == 200:
            pending.pop(0)
            continue
        if status in (401, 403):  # waiting longer will not help
            raise DeployError(
                f"{what} answered {status} to {pending[0]}: it "
                + ("refused the API key sent (the case's api_key_env)" if api_key else
                   "wants an API key (name the variable that holds it in the case's "
                   "api_key_env)"),
                log_tail=log_tail(), log_path=log_path,
            )
        if time.monotonic() > deadline:
            raise ReadinessTimeout(
                f"{what} was not ready after {timeout:.0f} s ({pending[0]} answered "
                f"{status or 'nothing'})",
                log_tail=log_tail(), log_path=log_path,
            )
        time.sleep(poll)
    try:
        status, body = http_get(base + "/get_server_info", timeout=5.0, api_key=api_key)
        info = json.loads(body) if status == 200 else {}
    except (OSError, ValueError):
        info = {}
    return info if isinstance(info, dict) else {}
