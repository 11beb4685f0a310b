"""genai-bench 0.0.5 output files → :class:`~pytest_autotune.values.Metrics`.

One JSON file per (scenario, concurrency) run: ``aggregated_metrics`` holds the stats. Latency
stats are scaled to seconds from ``_time_unit``; ``error_rate`` is recomputed from the counts
(genai-bench 0.0.5 always writes 0).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..cases.grammar import canonical_scenario
from ..errors import BenchError
from ..values import Metrics, Stat, Workload, WorkloadPoint
from .samples import RequestSamples
from .steady import apply

RUN_FILE = re.compile(r"^.+_.+_(?:concurrency|batch_size)_\d+_time_\d+s\.json$")
DEBUG_FILE = re.compile(r"^debug_for_run_.+\.json$")


def metrics_from_aggregated(agg: dict[str, Any], time_unit: str = "s") -> Metrics:
    scale = 1e-3 if time_unit == "ms" else 1.0
    stats = agg.get("stats") or {}
    num_requests = int(agg.get("num_requests") or 0)
    num_errors = int(agg.get("num_error_requests") or 0)
    return Metrics(
        ttft=Stat.from_dict(stats.get("ttft"), scale=scale),
        tpot=Stat.from_dict(stats.get("tpot"), scale=scale),
        e2e=Stat.from_dict(stats.get("e2e_latency"), scale=scale),
        output_latency=Stat.from_dict(stats.get("output_latency"), scale=scale),
        output_throughput=float(agg.get("mean_output_throughput_tokens_per_s") or 0.0),
        input_throughput=float(agg.get("mean_input_throughput_tokens_per_s") or 0.0),
        total_throughput=float(agg.get("mean_total_tokens_throughput_tokens_per_s") or 0.0),
        request_throughput=float(agg.get("requests_per_second") or 0.0),
        num_requests=num_requests,
        num_errors=num_errors,
        run_duration=float(agg.get("run_duration") or 0.0),
        error_codes={str(k): int(v) for k, v in (agg.get("error_codes_frequency") or {}).items()},
    )


def _load(path: Path) -> tuple[WorkloadPoint, dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        agg = data["aggregated_metrics"]
        point = WorkloadPoint(
            canonical_scenario(str(agg["scenario"])), int(agg["num_concurrency"])
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BenchError(f"unreadable genai-bench result {path}: {exc}") from None
    return point, data


def read_run_file(path: Path) -> tuple[WorkloadPoint, Metrics]:
    """Parse one run file; the point comes from the JSON, not the file name."""
    point, metrics, _ = read_run(path)
    return point, metrics


def read_experiment(folder: Path) -> dict[WorkloadPoint, Metrics]:
    """Every run file of one experiment folder."""
    return {point: metrics for point, (metrics, _) in read_runs(folder).items()}


def read_runs(folder: Path, workload: Workload | None = None) -> \
        dict[WorkloadPoint, tuple[Metrics, RequestSamples]]:
    """Every run file of one experiment folder: genai-bench's aggregate and its requests (cut
    by the workload's warm-up and cool-down ratios, as genai-bench cuts its statistics)."""
    results: dict[WorkloadPoint, tuple[Metrics, RequestSamples]] = {}
    for path in run_files(folder):
        point, metrics, samples = read_run(path, workload)
        results[point] = (metrics, samples)
    return results


def run_files(folder: Path) -> list[Path]:
    """The run files genai-bench has written so far (one as each run ends), by name."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if RUN_FILE.match(p.name))


def read_run(path: Path, workload: Workload | None = None) -> \
        tuple[WorkloadPoint, Metrics, RequestSamples]:
    """One run file: its point, its metrics and its requests (cut by the workload's warm-up and
    cool-down ratios). Throughputs come from the steady window of the requests (steady.py);
    genai-bench's aggregate ones are kept in ``Metrics.genai_bench``."""
    point, data = _load(path)
    metrics = metrics_from_aggregated(data["aggregated_metrics"], str(data.get("_time_unit", "s")))
    samples = RequestSamples.from_run(
        data, warmup_ratio=workload.warmup_ratio if workload else None,
        cooldown_ratio=workload.cooldown_ratio if workload else None)
    return point, apply(metrics, samples.steady), samples


def debug_runs(folder: Path) -> list[Path]:
    """Runs genai-bench could not aggregate (it writes ``debug_for_run_*.json`` and exits 1)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if DEBUG_FILE.match(p.name))
