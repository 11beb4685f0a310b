"""Pruning inside a configuration: the higher concurrencies of a scenario are not measured once
a hard SLO is missed at a lower one (pytest-free).

Latency, throughput and errors only grow with load, so an upper bound (``ttft.p99 <= 200ms``,
``error_rate <= 1%``) that a scenario already missed at concurrency c — *missed*: beyond its
interval and its ``fail_ratio``, what fails the item — is missed again above c. Such points are
*pruned*: reported as skipped with the reason (``pruned: ttft.p99 <= 200ms already missed at
D(100,100)-c16``), never measured. A lower bound (``request_throughput >= 40 req/s``) is missed
at low load and met at higher, so it prunes nothing; neither does a soft SLO or an unresolved
verdict.

genai-bench runs an invocation scenario-major, concurrencies ascending, and writes each run's
file as that run ends. While it runs, :class:`Watch` (polled through the runner's ``abort``
callback) reads every newly finished file, prunes, and asks to stop genai-bench when the runs
still ahead of it are pruned: all of them, or enough that running them would cost more than a
new genai-bench process for the rest (:data:`RESTART_SECONDS`). The deployment then measures
the points neither measured nor pruned with a new invocation in the same pass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from ..bench.intervals import NoiseFloor, pool_passes
from ..bench.results import read_run, run_files
from ..errors import AutotuneError, BenchError
from ..results.records import PRUNED_PREFIX
from ..values import Metrics, Workload, WorkloadPoint
from . import stats
from .slo import SLO, Verdict, evaluate

#: the fixed cost of a new genai-bench process (start-up, tokenizer, plots), seconds
RESTART_SECONDS = 12.0
#: what genai-bench spends per run besides its requests (its 1 s tick, the pause between runs)
RUN_OVERHEAD_SECONDS = 2.0


class Pruned(AutotuneError):
    """``Deployment.measure`` of a pruned point: the item is skipped with :attr:`reason`."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def prunes(verdict: Verdict) -> bool:
    """Whether this verdict prunes the higher concurrencies of its scenario: a hard SLO missed
    beyond doubt (as it fails the item) that is an upper bound on something load only raises."""
    slo = verdict.slo
    return verdict.hard_failure and slo.op in ("<=", "<") and slo.metric != "num_requests"


def reason(point: WorkloadPoint, missed: Sequence[SLO]) -> str:
    return f"{PRUNED_PREFIX}{'; '.join(s.text for s in missed)} already missed at {point.id}"


def pruned_points(candidates: Sequence[WorkloadPoint], measured: Mapping[WorkloadPoint, Metrics],
                  slos: Sequence[SLO]) -> dict[WorkloadPoint, str]:
    """The candidates that are pruned, each with its reason: those above the lowest measured
    concurrency of their scenario at which a pruning SLO (:func:`prunes`) is missed."""
    first_miss: dict[str, tuple[WorkloadPoint, list[SLO]]] = {}
    for point in sorted(measured, key=lambda p: p.concurrency):
        if point.scenario in first_miss:
            continue
        missed = [v.slo for v in evaluate(slos, measured[point]) if prunes(v)]
        if missed:
            first_miss[point.scenario] = (point, missed)
    out: dict[WorkloadPoint, str] = {}
    for point in candidates:
        miss = first_miss.get(point.scenario)
        if miss is not None and point.concurrency > miss[0].concurrency:
            out[point] = reason(*miss)
    return out


def stop_reason(order: Sequence[WorkloadPoint], finished: Mapping[WorkloadPoint, Metrics],
                pruned: Mapping[WorkloadPoint, str],
                restart_seconds: float = RESTART_SECONDS) -> str | None:
    """Whether to stop a genai-bench process that runs ``order`` and has finished ``finished``:
    when every run left is pruned, or the pruned runs next in line would take longer than a
    new process for the rest (estimated from the last finished run)."""
    left = [p for p in order if p not in finished]
    if not left or left[0] not in pruned:
        return None
    if all(p in pruned for p in left):
        return "pruned: every point left is pruned"
    ahead: list[WorkloadPoint] = []
    for p in left:
        if p not in pruned:
            break
        ahead.append(p)
    last = max((p for p in finished if p in order), key=order.index, default=None)
    per_run = (finished[last].run_duration if last is not None else 0.0) + RUN_OVERHEAD_SECONDS
    if per_run * len(ahead) <= restart_seconds:
        return None  # cheaper to let it run through them than to start genai-bench again
    return (f"pruned: {', '.join(p.id for p in ahead)}; the points after them in a new "
            "genai-bench process")


class Watch:
    """Follows one genai-bench process through its experiment folder and prunes as its runs
    finish. ``known``: the configuration's points measured before (earlier invocations)."""

    def __init__(self, folder: Path, order: Sequence[WorkloadPoint], slos: Sequence[SLO],
                 workload: Workload, floor: NoiseFloor,
                 known: Mapping[WorkloadPoint, Metrics] | None = None) -> None:
        self.folder = folder
        self.order = list(order)
        if slos:  # its verdicts need scipy: not imported in a poll that races genai-bench
            stats.load()
        self.slos = [s for s in slos if s.hard]
        self.workload = workload
        self.floor = floor
        self.known = dict(known or {})
        self.finished: dict[WorkloadPoint, Metrics] = {}
        self.pruned: dict[WorkloadPoint, str] = {}
        #: why this watch stopped genai-bench (None: it did not)
        self.stopped: str | None = None
        self._read: set[str] = set()

    def update(self) -> None:
        """Read the run files finished since the last call; prune from everything measured."""
        for path in run_files(self.folder):
            if path.name in self._read:
                continue
            try:
                point, metrics, samples = read_run(path, self.workload)
            except (BenchError, ValueError, KeyError, TypeError):
                continue  # still being written: read it at the next poll
            self._read.add(path.name)
            self.finished[point] = pool_passes([(metrics, samples)], self.floor)
        if self.slos:
            measured = {**self.known, **self.finished}
            self.pruned = pruned_points(self.order, measured, self.slos)

    def poll(self) -> str | None:
        """The runner's ``abort`` callback: a reason to stop genai-bench now, or None."""
        self.update()
        why = stop_reason(self.order, self.finished, self.pruned, RESTART_SECONDS)
        if why:
            self.stopped = why
        return why


__all__ = ["Pruned", "Watch", "pruned_points", "prunes", "stop_reason"]
