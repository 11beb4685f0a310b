"""Capacity under SLO: the highest load of one scenario at which every SLO holds.

From ``low``, the load doubles while every SLO holds (an exponential probe), up to ``high``;
then the bracket between the last load that held and the first that did not is halved until it
is within ``tolerance`` of the load found (or one user wide). Every probe is a measured workload
point (the report lists them); the configuration's capacity is the last load that held, and the
bracket is its uncertainty: two configurations whose brackets overlap are not told apart.

Loads are concurrencies, genai-bench's closed-loop users: genai-bench 0.0.5 has no open-loop
request rate to search over.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..values import Capacity


@dataclass
class CapacityResult:
    """What a capacity search found: ``capacity`` is None when even ``low`` missed an SLO;
    ``ceiling`` is the first load that missed (None: every load up to ``high`` held)."""

    spec: Capacity
    capacity: int | None = None
    ceiling: int | None = None
    probes: list[tuple[int, bool]] = field(default_factory=list)

    def describe(self) -> str:
        s = self.spec
        if self.capacity is None:
            return f"no load from {s.low} met every SLO"
        if self.ceiling is None:
            return f"capacity ≥ {self.capacity} (every SLO held up to high: {s.high})"
        return f"capacity {self.capacity} (every SLO held; missed at {self.ceiling})"


def search(spec: Capacity, holds: Callable[[int], bool]) -> CapacityResult:
    """Probe ``holds(load)`` as above; ``holds`` measures the point (and may raise)."""
    result = CapacityResult(spec)

    def probe(load: int) -> bool:
        ok = holds(load)
        result.probes.append((load, ok))
        return ok

    load = spec.low
    while True:
        if not probe(load):
            result.ceiling = load
            break
        result.capacity = load
        if load >= spec.high:
            return result
        load = min(spec.high, load * 2)
    if result.capacity is None:
        return result
    while result.ceiling - result.capacity > max(1.0, spec.tolerance * result.capacity):
        mid = (result.capacity + result.ceiling) // 2
        if probe(mid):
            result.capacity = mid
        else:
            result.ceiling = mid
    return result
