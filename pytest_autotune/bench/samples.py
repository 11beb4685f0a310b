"""Per-request values of one genai-bench run (``individual_request_metrics``), the raw material of
every interval pytest-autotune reports, and of statistics pooled over repeated runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .steady import SteadyWindow, window

LATENCY_KEYS = {"ttft": "ttft", "tpot": "tpot", "e2e": "e2e_latency",
                "output_latency": "output_latency"}


@dataclass(frozen=True, slots=True)
class RequestSamples:
    """The successful requests of a run (after genai-bench's warm-up/cool-down cut), in the order
    genai-bench lists them. Latencies in seconds; ``e2e``, ``input_tokens`` and
    ``output_tokens`` pair up request by request; ``tpot`` omits requests genai-bench gave none
    (one output token, or an output latency under 1 ms)."""

    ttft: tuple[float, ...] = ()
    tpot: tuple[float, ...] = ()
    e2e: tuple[float, ...] = ()
    output_latency: tuple[float, ...] = ()
    input_tokens: tuple[int, ...] = ()
    output_tokens: tuple[int, ...] = ()
    errors: int = 0
    duration: float = 0.0
    #: the requests of the closed loop's steady state, which throughputs come from (steady.py)
    steady: SteadyWindow | None = None

    def __len__(self) -> int:
        return len(self.e2e)

    def latency(self, metric: str) -> tuple[float, ...]:
        values: tuple[float, ...] = getattr(self, metric)
        return values

    @classmethod
    def from_run(cls, data: Mapping[str, Any], *, warmup_ratio: float | None = None,
                 cooldown_ratio: float | None = None) -> RequestSamples:
        """From one run file's JSON (``individual_request_metrics``, ``_time_unit``)."""
        entries: Sequence[Mapping[str, Any]] = data.get("individual_request_metrics") or ()
        scale = 1e-3 if data.get("_time_unit") == "ms" else 1.0
        total = len(entries)
        first = int(total * warmup_ratio) if warmup_ratio else 0
        last = total - (int(total * cooldown_ratio) if cooldown_ratio else 0)
        kept: dict[str, list[float]] = {k: [] for k in LATENCY_KEYS}
        tokens_in: list[int] = []
        tokens_out: list[int] = []
        e2e: list[float] = []
        errors = 0
        skipped = 0  # successful requests the warm-up ratio cut from the front
        for i, entry in enumerate(entries):
            if entry.get("error_code") is not None:
                errors += 1
                continue
            if i < first:
                skipped += 1
            if not first <= i < last:
                continue
            for name, key in LATENCY_KEYS.items():
                value = entry.get(key)
                if value is not None and name != "e2e":
                    kept[name].append(float(value) * scale)
            if entry.get("e2e_latency") is not None:
                e2e.append(float(entry["e2e_latency"]) * scale)
                tokens_in.append(int(entry.get("num_input_tokens") or 0))
                tokens_out.append(int(entry.get("num_output_tokens") or 0))
        agg = data.get("aggregated_metrics") or {}
        concurrency = int(agg.get("num_concurrency") or agg.get("batch_size") or 1)
        return cls(
            ttft=tuple(kept["ttft"]), tpot=tuple(kept["tpot"]), e2e=tuple(e2e),
            output_latency=tuple(kept["output_latency"]), input_tokens=tuple(tokens_in),
            output_tokens=tuple(tokens_out), errors=errors,
            duration=float(agg.get("run_duration") or 0.0),
            steady=window(e2e, tokens_in, tokens_out, concurrency, skipped=skipped),
        )

    @classmethod
    def pooled(cls, runs: Sequence[RequestSamples]) -> RequestSamples:
        """Every request of several runs of one point (their durations add up)."""
        return cls(
            ttft=tuple(v for r in runs for v in r.ttft),
            tpot=tuple(v for r in runs for v in r.tpot),
            e2e=tuple(v for r in runs for v in r.e2e),
            output_latency=tuple(v for r in runs for v in r.output_latency),
            input_tokens=tuple(v for r in runs for v in r.input_tokens),
            output_tokens=tuple(v for r in runs for v in r.output_tokens),
            errors=sum(r.errors for r in runs),
            duration=sum(r.duration for r in runs),
            steady=SteadyWindow.pooled([r.steady for r in runs if r.steady is not None])
            if any(r.steady is not None for r in runs) else None,
        )
