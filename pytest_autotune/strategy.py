"""Search strategies: which configuration a case measures next.

A strategy either knows its whole plan up front (a grid: every configuration becomes a fixed
collector with a readable id, ``chat.yaml::mem-fraction-static=0.8::D(100,100)-c16``), or fills
*trial slots* (``chat.yaml::trial-07::D(100,100)-c16``) whose configuration it proposes when the
slot is set up, after observing the trials that completed before. Strategies are made by the
``pytest_autotune_make_strategy`` hook, so a conftest adds one without editing this package.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .cases.case import Case
    from .model import Configuration
    from .results import Trial

DEFAULT_STRATEGY = "grid"


@runtime_checkable
class Strategy(Protocol):
    """Proposes configurations of one case and observes how they did."""

    name: str

    def fixed_plan(self) -> Sequence[Configuration] | None:
        """Every configuration, when known before anything runs (collected with fixed ids);
        None to collect :meth:`budget` trial slots instead."""
        ...

    def budget(self) -> int:
        """How many trial slots to collect when there is no fixed plan."""
        ...

    def propose(self, slot: int) -> Configuration:
        """The configuration trial slot ``slot`` (0-based) measures; called at its setup."""
        ...

    def observe(self, trial: Trial) -> None:
        """A trial this process ran has completed and been scored."""
        ...


@dataclass
class GridStrategy:
    """Every configuration of the case's grid, in grid order."""

    case: Case
    #: collect trial slots instead of fixed configuration ids (same configurations, same order)
    slots: bool = False
    name: str = "grid"
    observed: list[Trial] = field(default_factory=list)

    def fixed_plan(self) -> Sequence[Configuration] | None:
        return None if self.slots else self.case.configurations

    def budget(self) -> int:
        return len(self.case.configurations)

    def propose(self, slot: int) -> Configuration:
        return self.case.configurations[slot]

    def observe(self, trial: Trial) -> None:
        self.observed.append(trial)


BUILTIN_STRATEGIES = ("grid",)


def make_builtin(name: str, case: Case) -> Strategy | None:
    if name == "grid":
        return GridStrategy(case)
    return None


def slot_name(slot: int, budget: int) -> str:
    """``trial-07``: 1-based, zero-padded to the budget's width (at least two digits)."""
    width = max(2, len(str(budget)))
    return f"trial-{slot + 1:0{width}d}"
