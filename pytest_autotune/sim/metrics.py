"""Prometheus text exposition with SGLang's metric names (``srt/metrics/collector.py``)."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

__all__ = ["Histogram", "Metrics"]

TTFT_BUCKETS = (0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 2.0, 4.0, 6.0, 8.0, 10.0, 20.0, 40.0, 60.0, 80.0,
                100.0, 200.0, 400.0)
ITL_BUCKETS = (0.002, 0.004, 0.006, 0.008, 0.01, 0.015, 0.02, 0.025, 0.03, 0.035, 0.04, 0.06,
               0.08, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 2.0, 4.0, 6.0, 8.0)
E2E_BUCKETS = (0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 2.0, 4.0, 6.0, 8.0, 10.0, 20.0, 40.0, 60.0, 80.0,
               100.0, 200.0, 400.0, 800.0)
QUEUE_BUCKETS = (0.0, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0,
                 50.0, 100.0, 200.0, 500.0)


@dataclass(slots=True)
class Histogram:
    name: str
    help: str
    buckets: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    n: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.buckets) + 1)

    def observe(self, value: float, weight: int = 1) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += weight
        self.total += value * weight
        self.n += weight

    def render(self, labels: str) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        acc = 0
        for bound, count in zip(self.buckets, self.counts, strict=False):
            acc += count
            out.append(f'{self.name}_bucket{{{labels},le="{bound}"}} {float(acc)}')
        out.append(f'{self.name}_bucket{{{labels},le="+Inf"}} {float(self.n)}')
        out.append(f"{self.name}_count{{{labels}}} {float(self.n)}")
        out.append(f"{self.name}_sum{{{labels}}} {self.total}")
        return out


class Metrics:
    def __init__(self, model_name: str) -> None:
        self.labels = f'model_name="{model_name}",engine_type="unified",tp_rank="0",pp_rank="0"'
        self.prompt_tokens = 0
        self.generation_tokens = 0
        self.cached_tokens = 0
        self.requests = 0
        self.aborted = 0
        self.ttft = Histogram("sglang:time_to_first_token_seconds",
                              "Histogram of time to first token in seconds.", TTFT_BUCKETS)
        self.itl = Histogram("sglang:inter_token_latency_seconds",
                             "Histogram of inter-token latency in seconds.", ITL_BUCKETS)
        self.e2e = Histogram("sglang:e2e_request_latency_seconds",
                             "Histogram of End-to-end request latency in seconds", E2E_BUCKETS)
        self.queue = Histogram("sglang:queue_time_seconds",
                               "Histogram of queueing time in seconds.", QUEUE_BUCKETS)

    def finish(self, prompt: int, output: int, cached: int, ttft: float, e2e: float,
               queue: float) -> None:
        self.requests += 1
        self.prompt_tokens += prompt
        self.generation_tokens += output
        self.cached_tokens += cached
        self.ttft.observe(ttft)
        self.e2e.observe(e2e)
        self.queue.observe(max(queue, 0.0))
        if output > 1:
            self.itl.observe((e2e - ttft) / (output - 1), output - 1)

    def render(self, gauges: dict[str, float]) -> str:
        lb = self.labels
        lines: list[str] = []

        def metric(name: str, kind: str, help_: str, value: float) -> None:
            lines.extend([f"# HELP {name} {help_}", f"# TYPE {name} {kind}",
                          f"{name}{{{lb}}} {float(value)}"])

        metric("sglang:num_running_reqs", "gauge", "The number of running requests.",
               gauges["num_running_reqs"])
        metric("sglang:num_used_tokens", "gauge", "The number of used tokens.",
               gauges["num_used_tokens"])
        metric("sglang:token_usage", "gauge", "The token usage.", gauges["token_usage"])
        metric("sglang:gen_throughput", "gauge", "The generation throughput (token/s).",
               gauges["gen_throughput"])
        metric("sglang:num_queue_reqs", "gauge", "The number of requests in the waiting queue.",
               gauges["num_queue_reqs"])
        metric("sglang:cache_hit_rate", "gauge", "The prefix cache hit rate.",
               gauges["cache_hit_rate"])
        metric("sglang:num_retracted_reqs", "gauge", "The number of retracted requests.",
               gauges["num_retracted_reqs"])
        metric("sglang:prompt_tokens_total", "counter", "Number of prefill tokens processed.",
               self.prompt_tokens)
        metric("sglang:generation_tokens_total", "counter",
               "Number of generation tokens processed.", self.generation_tokens)
        metric("sglang:cached_tokens_total", "counter",
               "Number of cached prompt tokens.", self.cached_tokens)
        metric("sglang:num_requests_total", "counter", "Number of requests processed.",
               self.requests)
        metric("sglang:num_aborted_requests_total", "counter", "Number of requests aborted.",
               self.aborted)
        for hist in (self.ttft, self.itl, self.e2e, self.queue):
            lines.extend(hist.render(lb))
        return "\n".join(lines) + "\n"
