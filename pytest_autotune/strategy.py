"""Search strategies: which configuration a case measures next.

A strategy either knows its whole plan up front (a grid: every configuration becomes a fixed
collector with a readable id, ``chat.yaml::mem-fraction-static=0.8::D(100,100)-c16``), or fills
*trial slots* (``chat.yaml::trial-07::D(100,100)-c16``) whose configuration it proposes when the
slot is set up, after observing the trials that completed before. Strategies are made by the
``pytest_autotune_make_strategy`` hook, so a conftest adds one without editing this package.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
#: makes the strategy ``name`` for a case, or None when nobody knows that name (the hook)
StrategyFactory = Callable[["Case", str], "Strategy | None"]


class UnknownStrategy(LookupError):
    """No strategy answers to the case's name (the caller turns it into a case error)."""


class Strategies:
    """The strategies of one process: one per case, and which trial slot each proposed.

    A slot's configuration is asked of its strategy once, when the slot is first set up; a
    scored trial is handed back only to the strategy that proposed it, so an xdist controller
    (which proposes nothing) and a worker that ran other slots never observe it twice.
    """

    def __init__(self, make: StrategyFactory) -> None:
        self._make = make
        self._by_case: dict[tuple[str, str], Strategy] = {}
        #: slot group → the configuration its strategy proposed
        self._proposed: dict[str, Configuration] = {}
        #: configuration key → (case key, slot) of the proposal that measures it
        self._owners: dict[str, tuple[tuple[str, str], int]] = {}
        self._observed: set[str] = set()

    def for_case(self, case: Case) -> Strategy:
        key = (case.source, case.name)
        strategy = self._by_case.get(key)
        if strategy is None:
            name = DEFAULT_STRATEGY
            made = self._make(case, name)
            if made is None:
                raise UnknownStrategy(name)
            strategy = self._by_case[key] = made
        return strategy

    def configuration(self, group: str) -> Configuration | None:
        """The configuration slot ``group`` was given (None until it is set up)."""
        return self._proposed.get(group)

    def choose(self, case: Case, group: str, slot: int) -> Configuration:
        """Slot ``group``'s configuration: proposed by the case's strategy on first call."""
        config = self._proposed.get(group)
        if config is None:
            config = self.for_case(case).propose(slot)
            self._proposed[group] = config
            self._owners[config.key] = ((case.source, case.name), slot)
        return config

    def proposed(self, config_key: str) -> bool:
        """Whether a strategy of this process proposed the configuration (a trial slot)."""
        return config_key in self._owners

    def observe(self, trial: Trial) -> bool:
        """Hand a scored trial to the strategy that proposed it; False when none did."""
        owner = self._owners.get(trial.config_key)
        if owner is None or trial.config_key in self._observed:
            return False
        self._observed.add(trial.config_key)
        self._by_case[owner[0]].observe(trial)
        return True


def make_builtin(name: str, case: Case) -> Strategy | None:
    if name == "grid":
        return GridStrategy(case)
    return None


def slot_name(slot: int, budget: int) -> str:
    """``trial-07``: 1-based, zero-padded to the budget's width (at least two digits)."""
    width = max(2, len(str(budget)))
    return f"trial-{slot + 1:0{width}d}"
