"""Grouping workload points into as few genai-bench processes as possible.

genai-bench runs the cross product of its ``--traffic-scenario`` and ``--num-concurrency``
lists, and each process costs ~10–15 s of fixed time, so the points a configuration must
measure are packed into rectangles: scenarios that need the same concurrency set share a process.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..values import WorkloadPoint, unique


@dataclass(frozen=True, slots=True)
class Invocation:
    scenarios: tuple[str, ...]
    concurrency: tuple[int, ...]

    @property
    def points(self) -> list[WorkloadPoint]:
        return [WorkloadPoint(s, c) for s in self.scenarios for c in self.concurrency]


def plan(points: Iterable[WorkloadPoint]) -> list[Invocation]:
    """Minimal-ish cover: one invocation per distinct concurrency set, in first-seen order."""
    ordered = unique(points)
    by_scenario: dict[str, list[int]] = {}
    for p in ordered:
        by_scenario.setdefault(p.scenario, []).append(p.concurrency)
    for levels in by_scenario.values():
        levels.sort()
    groups: dict[tuple[int, ...], list[str]] = {}
    for scenario, levels in by_scenario.items():
        groups.setdefault(tuple(levels), []).append(scenario)
    return [Invocation(tuple(scenarios), levels) for levels, scenarios in groups.items()]
