"""One strategy per case (with ``--autotune-search``/``--autotune-trials`` applied), which slot
each proposed, and the built-in strategies by name."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..cases.case import Case
    from ..results.records import Trial
    from ..values import Configuration

from .base import DEFAULT_STRATEGY, SearchContext, Strategy, StrategyFactory, UnknownStrategy
from .grid import GridStrategy
from .randomized import RandomStrategy


class Strategies:
    """The strategies of one process: one per case, and which trial slot each proposed.

    A slot's configuration is asked of its strategy once, when the slot is first set up; a
    scored trial is handed back only to the strategy that proposed it, so an xdist controller
    (which proposes nothing) and a worker that ran other slots never observe it twice.
    """

    def __init__(self, make: StrategyFactory, *, search: str | None = None,
                 trials: int | None = None) -> None:
        self._make = make
        #: ``--autotune-search`` and ``--autotune-trials``: override every case's
        self._search = search
        self._trials = trials
        self._by_case: dict[tuple[str, str], Strategy] = {}
        #: slot group → the configuration its strategy proposed
        self._proposed: dict[str, Configuration] = {}
        #: configuration key → (case key, slot) of the proposal that measures it
        self._owners: dict[str, tuple[tuple[str, str], int]] = {}
        self._observed: set[str] = set()

    def effective(self, case: Case) -> Case:
        """The case with its search settings as the options override them."""
        if self._search is None and self._trials is None:
            return case
        search = dataclasses.replace(
            case.search, strategy=self._search or case.search.strategy,
            trials=self._trials or case.search.trials)
        return dataclasses.replace(case, search=search)

    def for_case(self, case: Case) -> Strategy:
        """The case's strategy, made on first use: the one ``--autotune-search`` names, else
        the case's ``search.strategy`` (grid by default)."""
        key = (case.source, case.name)
        strategy = self._by_case.get(key)
        if strategy is None:
            effective = self.effective(case)
            name = effective.search.strategy or DEFAULT_STRATEGY
            made = self._make(effective, name)
            if made is None:
                raise UnknownStrategy(name, option=self._search is not None)
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

    def close(self) -> None:
        """The run ends: strategies with a ``close()`` (optuna) settle what is left open."""
        for strategy in self._by_case.values():
            close = getattr(strategy, "close", None)
            if callable(close):
                close()


def make_builtin(name: str, case: Case, context: SearchContext | None = None) -> \
        Strategy | None:
    """The built-in strategy ``name`` for ``case`` (None: not a built-in name); raises
    ConfigError when the case cannot be searched that way."""
    context = context or SearchContext()
    if name == "grid":
        return GridStrategy(case, context=context)
    if name == "random":
        return RandomStrategy(case, context=context)
    if name == "optuna":
        from .optuna import OptunaStrategy

        return OptunaStrategy(case, context)
    return None
