"""AIConfigurator's static-batch estimates for benchmarks/aiconfigurator_vs_sim.py, as JSON.

Runs in AIConfigurator's own environment (``scripts/ensure-aiconfigurator-venv``), not in the
project's: it imports only the standard library and ``aiconfigurator``.

    "$(scripts/ensure-aiconfigurator-venv)" benchmarks/aiconfigurator_side.py < request.json

The request (stdin) is ``{"backend": "sglang", "version": null | "0.5.14", "cases": [{"system":
"h100_sxm", "model": "meta-llama/Meta-Llama-3.1-8B", "tp": 1}, ...], "shapes": [[isl, osl], ...],
"batch_sizes": [...]}``. Each point is ``cli_estimate(mode="static", stride=1)``: one static
batch of ``batch_size`` requests, TTFT = the context (prefill) latency of the whole batch, TPOT =
the generation latency divided by ``osl - 1`` (the mean decode step as the context grows from
``isl`` to ``isl + osl``), ``tokens/s`` = ``batch_size × osl / (TTFT + (osl - 1) × TPOT)``.
Without a version, each system's current queryable SGLang data is used (one look-up per system,
the slow part of a call). Logs go to stderr; stdout is one JSON document.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import sys
import time
from typing import Any


def estimate(request: dict[str, Any]) -> dict[str, Any]:
    # installed in AIConfigurator's own venv (scripts/ensure-aiconfigurator-venv), not this one
    from aiconfigurator.cli.api import cli_estimate  # type: ignore[import-not-found]
    from aiconfigurator.sdk.perf_database import (  # type: ignore[import-not-found]
        get_latest_database_version,
    )

    backend = request.get("backend", "sglang")
    versions: dict[str, str] = {}
    points: list[dict[str, Any]] = []
    started = time.monotonic()
    for case in request["cases"]:
        system = case["system"]
        if system not in versions:
            versions[system] = request.get("version") or get_latest_database_version(
                system=system, backend=backend)
        for isl, osl in request["shapes"]:
            for bs in request["batch_sizes"]:
                result = cli_estimate(
                    case["model"], system, mode="static", backend_name=backend,
                    backend_version=versions[system], isl=isl, osl=osl, batch_size=bs,
                    tp_size=case["tp"], stride=1)
                raw = result.raw
                points.append({
                    "system": system, "model": case["model"], "tp": case["tp"],
                    "isl": isl, "osl": osl, "batch_size": bs,
                    "ttft_ms": result.ttft, "tpot_ms": result.tpot,
                    "tokens_s": raw.get("tokens/s"), "memory_gb": raw.get("memory"),
                    "oom": result.kv_cache_warning is not None,
                    "gemm": raw.get("gemm"), "kvcache": raw.get("kvcache"),
                    "fmha": raw.get("fmha"), "version": result.backend_version,
                })
    return {
        "aiconfigurator": importlib.metadata.version("aiconfigurator"),
        "aiconfigurator_core": importlib.metadata.version("aiconfigurator-core"),
        "backend": backend,
        "versions": versions,
        "seconds": round(time.monotonic() - started, 2),
        "points": points,
    }


def main() -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    request = json.load(sys.stdin)
    json.dump(estimate(request), sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
