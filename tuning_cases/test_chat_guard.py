"""A Python-declared tuning case: a chat guard for Llama-3.2-1B; the assertions are ours (80
requests, so that the p95 SLO can be bounded: it needs at least 72).

Run it alone with ``pytest tuning_cases/test_chat_guard.py``.
"""

from __future__ import annotations

import pytest

from pytest_autotune import Metrics
from pytest_autotune.plugin.fixtures import SLOChecker

CHAT = {
    "model": {"path": "meta-llama/Llama-3.2-1B-Instruct"},
    "parameters": {"stream-interval": [1, 4]},
    "workload": {"scenarios": ["D(200,64)"], "concurrency": [4], "max_requests": 80},
    "slo": ["ttft.p95 <= 150ms", "error_rate <= 1%"],
    "sim": {"gpu": "h100", "startup_scale": 0.05},
}


@pytest.mark.autotune(name="chat-guard", **CHAT)
def test_chat_guard(autotune_metrics: Metrics, autotune_slo: SLOChecker) -> None:
    autotune_slo.check(autotune_metrics)
    # beyond the SLOs: every request completed, and each produced its 64 tokens
    assert autotune_metrics.num_errors == 0
    assert autotune_metrics.output_latency.mean is not None
