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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ..cases.constraints import GPUS, ConstraintError, unsatisfied
from ..errors import ConfigError

if TYPE_CHECKING:
    from ..cases.case import Case
    from ..cases.space import Admit
    from ..results.records import Trial
    from ..values import Configuration, FlagValue

DEFAULT_STRATEGY = "grid"
#: the trial budget of a sampling strategy when neither the case nor --autotune-trials sets one
DEFAULT_TRIALS = 10
#: draws per slot before the random strategy gives up finding a new configuration
MAX_DRAWS = 1000


def _no_pool() -> int | None:
    return None


@dataclass(frozen=True)
class SearchContext:
    """What a strategy may need of the run: its id, its directory (the default Optuna journal
    lives there), ``--autotune-study`` and the size of its GPU pool."""

    run_id: str = "run"
    run_dir: Path = Path("results") / "runs" / "run"
    #: an Optuna storage URL or a journal file path (None: ``run_dir / "study.log"``)
    study: str | None = None
    #: how many GPUs the run has (``gpus`` in a case's constraints): the virtual pool in sim
    #: and estimate modes, the local pool in local and docker modes; None: no pool (endpoint).
    #: Called only by a case whose constraints name ``gpus``
    pool_size: Callable[[], int | None] = _no_pool


def run_gpus(case: Case, context: SearchContext) -> int | None:
    """``gpus`` for the case's constraints (None when none names it); ConfigError when one
    does and the run has no pool."""
    named = next((c for c in case.constraints if c.needs_gpus), None)
    if named is None:
        return None
    gpus = context.pool_size()
    if gpus is None:
        raise ConfigError(f"the constraint names {GPUS}, and this run has no GPU pool to count "
                          "(sim, estimate, local and docker modes have one)",
                          source=case.source, field=named.field, line=named.line)
    return gpus


def admission(case: Case, context: SearchContext) -> Admit | None:
    """The case's constraints as a predicate on a configuration's flags, with the run's
    ``gpus``; None when the case has none. A constraint that cannot be evaluated for a
    configuration (division by zero) is a ConfigError naming it."""
    constraints = case.constraints
    if not constraints:
        return None
    gpus = run_gpus(case, context)

    def admit(params: Mapping[str, FlagValue]) -> bool:
        try:
            return constraints.broken(params, gpus) is None
        except ConstraintError as exc:
            error = exc
        index = error.index if error.index is not None else 0
        line = next((c.line for c in constraints if c.index == index), None)
        raise ConfigError(error.message, source=case.source, field=f"constraints[{index}]",
                          line=line)

    return admit


def check_satisfiable(case: Case, admit: Admit | None, context: SearchContext,
                      admitted: Sequence[int] | None = None) -> None:
    """ConfigError when no configuration of the space satisfies the constraints that name
    ``gpus`` (those that do not were checked when the case was loaded); ``admitted``: the
    indices :func:`admitted_indices` found, when it could count them."""
    if admit is None or not case.constraints.needs_gpus:
        return
    found = bool(admitted) if admitted is not None else case.space.satisfiable(admit)
    if found is True:
        return
    gpus = run_gpus(case, context)
    if found is False and case.space.not_enumerable() is None:
        message = unsatisfied(case.space, case.constraints, gpus)
    else:
        message = (f"no configuration of the space satisfies the constraints with gpus = "
                   f"{gpus}{'' if found is False else ' among 1,000 drawn from it'}")
    raise ConfigError(message, source=case.source, field="constraints",
                      line=case.constraints.line)


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
    context: SearchContext = field(default_factory=SearchContext)
    #: the grid the constraints leave (with ``gpus``), cut to the case's limit
    configurations: Sequence[Configuration] = field(default=(), init=False, repr=False)

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
        self.configurations = self.case.configurations
        if self.case.constraints.needs_gpus:  # the others were applied when it was loaded
            admit = admission(self.case, self.context)
            try:
                configs = self.case.space.grid(self.case.name, self.case.grid_limit, admit)
            except ValueError as exc:  # too many to look through
                raise ConfigError(f"{exc}: use larger steps, max_configurations, or a sampling "
                                  "strategy", source=self.case.source, field="parameters") \
                    from None
            if not configs:
                check_satisfiable(self.case, admit, self.context)
            self.configurations = tuple(configs)

    @property
    def plan(self) -> Sequence[Configuration]:
        trials = self.case.search.trials
        configs = self.configurations
        return configs[:trials] if trials is not None else configs

    @property
    def excluded(self) -> tuple[int, int] | None:
        """(configurations the constraints exclude, configurations of the grid); None without
        constraints, or for a grid too large to count."""
        admit = admission(self.case, self.context)
        size = self.case.space.size
        admitted = self.case.space.admitted(admit) if admit is not None else None
        if admitted is None or size is None:
            return None
        return size - len(admitted), size

    def fixed_plan(self) -> Sequence[Configuration] | None:
        return None if self.slots else self.plan

    def budget(self) -> int:
        return len(self.plan)

    def propose(self, slot: int) -> Configuration:
        return self.plan[slot]

    def observe(self, trial: Trial) -> None:
        self.observed.append(trial)


def sampling_budget(case: Case, size: int | None = None) -> int:
    """The trial slots of a sampling strategy: ``search.trials`` (default 10), at most the
    number of configurations (``size``; default: the space's, when no range is continuous)."""
    trials = case.search.trials or DEFAULT_TRIALS
    size = case.space.size if size is None else size
    return trials if size is None else min(trials, size)


def admitted_indices(case: Case, admit: Admit | None) -> list[int] | None:
    """The grid indices of the configurations the constraints admit, where they can be
    counted (a finite space of at most MAX_GRID configurations); None otherwise."""
    return case.space.admitted(admit) if admit is not None else None


@dataclass
class RandomStrategy:
    """A seeded sample of the space: ``search.trials`` distinct configurations.

    Slot *k* measures the *k*-th configuration of one seeded sequence, whichever process sets
    it up and whichever slots run (``-k``, ``--lf``, xdist), so a seed always proposes the
    same configurations. A space without continuous ranges is sampled without repeats (every
    configuration equally likely); one with them draws each range (log ranges log-uniformly)
    and skips any repeat. With constraints, only configurations that satisfy them are sampled
    (a sample of those a countable space admits; otherwise a draw that breaks one is drawn
    again).
    """

    case: Case
    name: str = "random"
    observed: list[Trial] = field(default_factory=list)
    context: SearchContext = field(default_factory=SearchContext)
    _drawn: list[Configuration] = field(default_factory=list, repr=False)
    _order: list[int] | None = field(default=None, repr=False)
    _rng: random.Random | None = field(default=None, repr=False)
    _admit: Admit | None = field(default=None, repr=False)
    #: the grid indices the constraints admit (None: no constraints, or not countable)
    _admitted: list[int] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._admit = admission(self.case, self.context)
        self._admitted = admitted_indices(self.case, self._admit)
        check_satisfiable(self.case, self._admit, self.context, self._admitted)

    def fixed_plan(self) -> Sequence[Configuration] | None:
        return None

    def budget(self) -> int:
        count = len(self._admitted) if self._admitted is not None else None
        return sampling_budget(self.case, count)

    def propose(self, slot: int) -> Configuration:
        space, name = self.case.space, self.case.name
        if space.uniform and (self._admit is None or self._admitted is not None):
            if self._order is None:  # a sample of indices: no repeats, any space size
                pool: Sequence[int] = (self._admitted if self._admitted is not None
                                       else range(space.size or 1))
                self._order = random.Random(self.case.search.seed).sample(
                    pool, min(self.budget(), len(pool)))
            if slot >= len(self._order):
                raise SearchExhausted(f"every configuration of {name} is measured")
            return space.at(name, self._order[slot], slot=slot)
        if self._rng is None:
            self._rng = random.Random(self.case.search.seed)
        seen = {c.key for c in self._drawn}
        attempts = 0
        limit = MAX_DRAWS * (slot + 1)
        while len(self._drawn) <= slot:
            config = space.draw(name, self._rng, slot=len(self._drawn))
            attempts += 1
            if self._admit is not None and not self._admit(dict(config.params)):
                if attempts > limit:
                    raise SearchExhausted(
                        f"no configuration of {name} that satisfies the constraints and is not "
                        f"measured yet in {attempts:,} draws (loosen the constraints or widen "
                        "the space)")
                continue
            if config.key not in seen:
                seen.add(config.key)
                self._drawn.append(config)
            elif attempts > limit:
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
    context = context or SearchContext()
    if name == "grid":
        return GridStrategy(case, context=context)
    if name == "random":
        return RandomStrategy(case, context=context)
    if name == "optuna":
        from .optuna import OptunaStrategy

        return OptunaStrategy(case, context)
    return None


def slot_name(slot: int, budget: int) -> str:
    """``trial-07``: 1-based, zero-padded to the budget's width (at least two digits)."""
    width = max(2, len(str(budget)))
    return f"trial-{slot + 1:0{width}d}"
