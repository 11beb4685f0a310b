"""Search strategies: which configuration a case measures next.

A strategy either knows its whole plan up front (a grid: every configuration becomes a fixed
collector with a readable id, ``chat.yaml::mem-fraction-static=0.8::D(100,100)-c16``), or fills
*trial slots* (``chat.yaml::trial-07::D(100,100)-c16``) whose configuration it proposes when the
slot is set up, after observing the trials that completed before. Strategies are made by the
``pytest_autotune_make_strategy`` hook, so a conftest adds one without editing this package.
"""

from __future__ import annotations

import dataclasses
import difflib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from .errors import ConfigError

if TYPE_CHECKING:
    from .cases.case import Case
    from .model import Configuration
    from .results import Trial

DEFAULT_STRATEGY = "grid"
#: the trial budget of a sampling strategy when neither the case nor --autotune-trials sets one
DEFAULT_TRIALS = 10


@dataclass(frozen=True)
class SearchContext:
    """What a strategy may need of the run: its id, its directory (the default Optuna journal
    lives there) and ``--autotune-study``."""

    run_id: str = "run"
    run_dir: Path = Path("results") / "runs" / "run"
    #: an Optuna storage URL or a journal file path (None: ``run_dir / "study.log"``)
    study: str | None = None


class SearchExhausted(LookupError):
    """A strategy has no configuration left to propose for a slot (the slot is skipped)."""


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
    """Every configuration of the case's grid, in grid order (the first ``search.trials``)."""

    case: Case
    #: collect trial slots instead of fixed configuration ids (same configurations, same order)
    slots: bool = False
    name: str = "grid"
    observed: list[Trial] = field(default_factory=list)

    def __post_init__(self) -> None:
        axis = self.case.space.not_enumerable()
        if axis is not None:
            other = ("optimization.strategy random or bayesian" if self.case.kind == "seed"
                     else "search.strategy random or optuna")
            raise ConfigError(
                f"grid search cannot list the range {axis.describe()}: give it a step, list its "
                f"values, or sample it with {other} (--autotune-search for one run)",
                source=self.case.source, field=f"parameters.{axis.label}", line=axis.line)
        if self.case.space.axes and not self.case.configurations:
            raise ConfigError(
                f"the grid has {self.case.space.size:,} configurations, too many to list: use "
                "larger steps, max_configurations, or a sampling strategy (search.strategy "
                "random or optuna)", source=self.case.source, field="parameters")

    @property
    def plan(self) -> Sequence[Configuration]:
        trials = self.case.search.trials
        configs = self.case.configurations
        return configs[:trials] if trials is not None else configs

    def fixed_plan(self) -> Sequence[Configuration] | None:
        return None if self.slots else self.plan

    def budget(self) -> int:
        return len(self.plan)

    def propose(self, slot: int) -> Configuration:
        return self.plan[slot]

    def observe(self, trial: Trial) -> None:
        self.observed.append(trial)


def sampling_budget(case: Case) -> int:
    """The trial slots of a sampling strategy: ``search.trials`` (default 10), at most the
    number of configurations of a space with no continuous range."""
    trials = case.search.trials or DEFAULT_TRIALS
    size = case.space.size
    return trials if size is None else min(trials, size)


@dataclass
class RandomStrategy:
    """A seeded sample of the space: ``search.trials`` distinct configurations.

    Slot *k* measures the *k*-th configuration of one seeded sequence, whichever process sets
    it up and whichever slots run (``-k``, ``--lf``, xdist), so a seed always proposes the
    same configurations. A space without continuous ranges is sampled without repeats (every
    configuration equally likely); one with them draws each range (log ranges log-uniformly)
    and skips any repeat.
    """

    case: Case
    name: str = "random"
    observed: list[Trial] = field(default_factory=list)
    _drawn: list[Configuration] = field(default_factory=list, repr=False)
    _order: list[int] | None = field(default=None, repr=False)
    _rng: random.Random | None = field(default=None, repr=False)

    def fixed_plan(self) -> Sequence[Configuration] | None:
        return None

    def budget(self) -> int:
        return sampling_budget(self.case)

    def propose(self, slot: int) -> Configuration:
        space, name = self.case.space, self.case.name
        if space.uniform:
            if self._order is None:  # a sample of indices: no repeats, any space size
                size = space.size or 1
                self._order = random.Random(self.case.search.seed).sample(
                    range(size), min(self.budget(), size))
            if slot >= len(self._order):
                raise SearchExhausted(f"every configuration of {name} is measured")
            return space.at(name, self._order[slot], slot=slot)
        if self._rng is None:
            self._rng = random.Random(self.case.search.seed)
        seen = {c.key for c in self._drawn}
        attempts = 0
        while len(self._drawn) <= slot:
            config = space.draw(name, self._rng, slot=len(self._drawn))
            attempts += 1
            if config.key not in seen:
                seen.add(config.key)
                self._drawn.append(config)
            elif attempts > 1000 * (slot + 1):
                raise SearchExhausted(f"no configuration of {name} is left unmeasured")
        return self._drawn[slot]

    def observe(self, trial: Trial) -> None:
        self.observed.append(trial)


BUILTIN_STRATEGIES = ("grid", "random", "optuna")
#: makes the strategy ``name`` for a case, or None when nobody knows that name (the hook)
StrategyFactory = Callable[["Case", str], "Strategy | None"]


class UnknownStrategy(LookupError):
    """No strategy answers to the case's name (the caller turns it into a case error)."""

    def __init__(self, name: str, option: bool = False) -> None:
        super().__init__(name)
        self.name = name
        #: whether the name came from ``--autotune-search`` rather than the case
        self.option = option

    def message(self) -> str:
        close = difflib.get_close_matches(self.name, BUILTIN_STRATEGIES, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        where = " (from --autotune-search)" if self.option else ""
        return (f"no search strategy named {self.name!r}{where}{hint} (built in: "
                f"{', '.join(BUILTIN_STRATEGIES)}; a plugin adds others through "
                "pytest_autotune_make_strategy)")


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
    if name == "grid":
        return GridStrategy(case)
    if name == "random":
        return RandomStrategy(case)
    if name == "optuna":
        from .strategy_optuna import OptunaStrategy

        return OptunaStrategy(case, context or SearchContext())
    return None


def slot_name(slot: int, budget: int) -> str:
    """``trial-07``: 1-based, zero-padded to the budget's width (at least two digits)."""
    width = max(2, len(str(budget)))
    return f"trial-{slot + 1:0{width}d}"
