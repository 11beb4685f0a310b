"""Search strategies: which configuration a case measures next.

A strategy either knows its whole plan up front (a grid: every configuration becomes a fixed
collector with a readable id, ``chat.yaml::mem-fraction-static=0.8::D(100,100)-c16``), or fills
*trial slots* (``chat.yaml::trial-07::D(100,100)-c16``) whose configuration it proposes when the
slot is set up, after observing the trials that completed before. Strategies are made by the
``pytest_autotune_make_strategy`` hook, so a conftest adds one without editing this package.
This module holds the protocol and what every strategy shares: the search context, the GPUs
a run has, the admission of configurations, budgets and slot names. The built-in strategies
are one module each beside it (grid.py, randomized.py, optuna.py); strategies.py makes them.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ..cases.constraints import GPUS, ConstraintError, unsatisfied
from ..errors import ConfigError
from ..results.layout import RunLayout

if TYPE_CHECKING:
    from ..cases.case import Case
    from ..cases.space import Admit
    from ..results.records import Trial
    from ..values import Configuration, FlagValue

DEFAULT_STRATEGY = "grid"
#: the trial budget of a sampling strategy when neither the case nor --autotune-trials sets one
DEFAULT_TRIALS = 10


def _no_pool() -> int | None:
    return None


@dataclass(frozen=True)
class SearchContext:
    """What a strategy may need of the run: its id, its directory (the default Optuna journal
    lives there), ``--autotune-study`` and the size of its GPU pool."""

    run_id: str = "run"
    run_dir: Path = RunLayout.of(Path("results"), "run").dir
    #: an Optuna storage URL or a journal file path (None: the run directory's ``study.log``)
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


def slot_name(slot: int, budget: int) -> str:
    """``trial-07``: 1-based, zero-padded to the budget's width (at least two digits)."""
    width = max(2, len(str(budget)))
    return f"trial-{slot + 1:0{width}d}"
