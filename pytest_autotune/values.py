"""Value types shared by every part of the plugin.

Frozen, slotted dataclasses inside the process; plain dicts (``to_dict``/``from_dict``) where
values cross a process or JSON boundary (xdist reports, result files).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from .cases.grammar import point_id
from .decide.stats import Interval

FlagValue = str | int | float | bool

STAT_NAMES = ("mean", "min", "max", "stddev", "p25", "p50", "p75", "p90", "p95", "p99")


@dataclass(frozen=True, slots=True)
class Stat:
    """Distribution of one per-request latency, in seconds."""

    mean: float | None = None
    min: float | None = None
    max: float | None = None
    stddev: float | None = None
    p25: float | None = None
    p50: float | None = None
    p75: float | None = None
    p90: float | None = None
    p95: float | None = None
    p99: float | None = None

    def get(self, name: str) -> float | None:
        if name not in STAT_NAMES:
            raise KeyError(name)
        value: float | None = getattr(self, name)
        return value

    def to_dict(self) -> dict[str, float | None]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, *, scale: float = 1.0) -> Stat:
        if not data:
            return cls()
        values: dict[str, float | None] = {}
        for name in STAT_NAMES:
            raw = data.get(name)
            values[name] = None if raw is None else float(raw) * scale
        return cls(**values)


#: Latency metrics (each has a Stat) and their accepted spellings in SLOs.
LATENCY_METRICS = ("ttft", "tpot", "e2e", "output_latency")
SCALAR_METRICS = (
    "output_throughput",
    "input_throughput",
    "total_throughput",
    "request_throughput",
    "error_rate",
    "num_requests",
    "num_errors",
)
METRIC_ALIASES = {
    "e2e_latency": "e2e",
    "latency": "e2e",
    "itl": "tpot",
    "inter_token_latency": "tpot",
    "time_to_first_token": "ttft",
    "throughput": "output_throughput",
    "output_tps": "output_throughput",
    "rps": "request_throughput",
    "requests_per_second": "request_throughput",
    "errors": "error_rate",
}


def canonical_metric(name: str) -> str:
    """The canonical metric name for ``name`` (``itl`` → ``tpot``); raises KeyError."""
    key = name.strip().lower().replace("-", "_")
    key = METRIC_ALIASES.get(key, key)
    if key not in LATENCY_METRICS and key not in SCALAR_METRICS:
        raise KeyError(name)
    return key


def stat_key(metric: str, stat: str | None = None) -> str:
    """``ttft.p99`` for a latency statistic (``mean`` when none is named), else the metric."""
    name = canonical_metric(metric)
    if name in LATENCY_METRICS:
        return f"{name}.{stat or 'mean'}"
    return name


#: the prefix of genai-bench's own aggregate throughputs in a point's JSON
GENAI_BENCH = "genai_bench_"


@dataclass(frozen=True, slots=True)
class Metrics:
    """What one workload point measured. Latencies in seconds, throughputs per second."""

    ttft: Stat
    tpot: Stat
    e2e: Stat
    output_latency: Stat
    output_throughput: float
    input_throughput: float
    total_throughput: float
    request_throughput: float
    num_requests: int
    num_errors: int
    run_duration: float
    error_codes: Mapping[str, int] = field(default_factory=dict)
    #: confidence intervals by statistic (``ttft.p99``, ``output_throughput``), see stats.py
    intervals: Mapping[str, Interval] = field(default_factory=dict)
    #: how many benchmark passes over this point the numbers pool
    passes: int = 1
    #: genai-bench's own throughputs (tokens over its whole-second run duration), by metric
    #: name: kept for reference, never decided on (bench/steady.py)
    genai_bench: Mapping[str, float] = field(default_factory=dict)
    #: the steady window the throughputs come from: requests, spawn_requests, per_user,
    #: seconds, runs, requests_needed (bench/steady.py)
    steady: Mapping[str, float] = field(default_factory=dict)
    #: the steady window is too short to trust (docs/metrics.md, "Short runs")
    short_run: bool = False

    @property
    def error_rate(self) -> float:
        """errors / requests, computed here because genai-bench 0.0.5 always writes 0."""
        return self.num_errors / self.num_requests if self.num_requests else 1.0

    @property
    def num_completed(self) -> int:
        return self.num_requests - self.num_errors

    def value(self, metric: str, stat: str | None = None) -> float | None:
        """``value("ttft", "p99")``, ``value("output_throughput")``."""
        name = canonical_metric(metric)
        if name in LATENCY_METRICS:
            dist: Stat = getattr(self, name)
            return dist.get(stat or "mean")
        if stat not in (None, "", "mean", "value"):
            raise KeyError(f"{metric} has no statistic {stat!r}")
        if name == "num_errors":
            return float(self.num_errors)
        scalar: float = getattr(self, name)
        return float(scalar)

    def interval(self, metric: str, stat: str | None = None) -> Interval | None:
        """The interval of ``value(metric, stat)``, when one was computed."""
        return self.intervals.get(stat_key(metric, stat))

    def to_dict(self) -> dict[str, Any]:
        return {
            "ttft": self.ttft.to_dict(),
            "tpot": self.tpot.to_dict(),
            "e2e": self.e2e.to_dict(),
            "output_latency": self.output_latency.to_dict(),
            "output_throughput": self.output_throughput,
            "input_throughput": self.input_throughput,
            "total_throughput": self.total_throughput,
            "request_throughput": self.request_throughput,
            "error_rate": self.error_rate,
            "num_requests": self.num_requests,
            "num_errors": self.num_errors,
            "run_duration": self.run_duration,
            "error_codes": dict(self.error_codes),
            "intervals": {k: v.to_dict() for k, v in self.intervals.items()},
            "passes": self.passes,
            **{f"genai_bench_{k}": v for k, v in self.genai_bench.items()},
            "steady": dict(self.steady),
            "short_run": self.short_run,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Metrics:
        return cls(
            ttft=Stat.from_dict(data.get("ttft")),
            tpot=Stat.from_dict(data.get("tpot")),
            e2e=Stat.from_dict(data.get("e2e")),
            output_latency=Stat.from_dict(data.get("output_latency")),
            output_throughput=float(data.get("output_throughput") or 0.0),
            input_throughput=float(data.get("input_throughput") or 0.0),
            total_throughput=float(data.get("total_throughput") or 0.0),
            request_throughput=float(data.get("request_throughput") or 0.0),
            num_requests=int(data.get("num_requests") or 0),
            num_errors=int(data.get("num_errors") or 0),
            run_duration=float(data.get("run_duration") or 0.0),
            error_codes={str(k): int(v) for k, v in (data.get("error_codes") or {}).items()},
            intervals={str(k): Interval.from_dict(v)
                       for k, v in (data.get("intervals") or {}).items()},
            passes=int(data.get("passes") or 1),
            genai_bench={k[len(GENAI_BENCH):]: float(v) for k, v in data.items()
                         if k.startswith(GENAI_BENCH) and v is not None},
            steady={str(k): float(v) for k, v in (data.get("steady") or {}).items()},
            short_run=bool(data.get("short_run", False)),
        )


@dataclass(frozen=True, slots=True, order=True)
class WorkloadPoint:
    """One benchmark point: a genai-bench traffic scenario at one concurrency."""

    scenario: str
    concurrency: int

    @property
    def id(self) -> str:
        return point_id(self.scenario, self.concurrency)

    def to_dict(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "concurrency": self.concurrency}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WorkloadPoint:
        return cls(str(data["scenario"]), int(data["concurrency"]))


@dataclass(frozen=True, slots=True)
class Capacity:
    """``workload.capacity``: find the highest load of ``scenario`` at which every SLO holds,
    from ``low`` up to ``high`` (an exponential probe, then bisection until the bracket is
    within ``tolerance`` of the load found)."""

    scenario: str
    low: int = 1
    high: int = 256
    tolerance: float = 0.1
    by: str = "concurrency"

    @property
    def item_name(self) -> str:
        return f"{CAPACITY_PREFIX}{self.scenario}"


#: the name of a configuration's capacity item: ``capacity-D(1000,200)``
CAPACITY_PREFIX = "capacity-"


@dataclass(frozen=True, slots=True)
class Workload:
    """How each configuration is benchmarked (genai-bench settings)."""

    scenarios: tuple[str, ...]
    concurrency: tuple[int, ...]
    max_requests: int = 64
    max_time_s: float = 60.0
    warmup_ratio: float | None = None
    cooldown_ratio: float | None = None
    prefix_len: int | None = None
    prefix_ratio: float | None = None
    task: str = "text-to-text"
    additional_request_params: Mapping[str, Any] = field(default_factory=dict)
    dataset_path: str | None = None
    #: benchmark passes per point (None: the run's --autotune-repeats, else 1)
    repeats: int | None = None
    #: deploy the server anew before each repeated pass (cold-start variance)
    redeploy: bool = False
    #: ``capacity:``: search each configuration's highest load at which every SLO holds
    capacity: Capacity | None = None

    def points(self) -> list[WorkloadPoint]:
        return [WorkloadPoint(s, c) for s in self.scenarios for c in self.concurrency]


def _canonical_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def short_hash(value: object, length: int = 8) -> str:
    """A stable short hash of a JSON-able value (names, container labels)."""
    return hashlib.sha1(_canonical_json(value).encode()).hexdigest()[:length]


def format_value(value: FlagValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return f"{value:.1f}"
    return str(value)


@dataclass(frozen=True, slots=True)
class Configuration:
    """One point of the parameter space: SGLang flags by canonical name, in grid order.

    ``labels`` keeps the spelling the case used for each flag (``mem_frac``), for reports that
    must match the earlier tool's results files.
    """

    case: str
    params: tuple[tuple[str, FlagValue], ...]
    labels: tuple[tuple[str, str], ...] = ()
    index: int = 0

    @property
    def id(self) -> str:
        if not self.params:
            return "default"
        return "-".join(f"{name}={format_value(value)}" for name, value in self.params)

    @property
    def key(self) -> str:
        """Unique across cases: ``<case>[<id>]``."""
        return f"{self.case}[{self.id}]"

    @property
    def hash(self) -> str:
        return short_hash([self.case, list(self.params)])

    def as_dict(self) -> dict[str, FlagValue]:
        return dict(self.params)

    def labelled(self) -> dict[str, FlagValue]:
        """Parameters under the names the case wrote them with."""
        names = dict(self.labels)
        return {names.get(k, k): v for k, v in self.params}


def unique(values: Iterable[Any]) -> list[Any]:
    """Values in first-seen order without repeats."""
    seen: list[Any] = []
    for v in values:
        if v not in seen:
            seen.append(v)
    return seen
