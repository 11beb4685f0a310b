"""The parameter space of a case: categorical axes (lists) and numeric ranges.

A list is categorical: a grid takes every value. A range ``{low, high}`` is numeric: with a
``step`` it is a grid of values every strategy can use (the grid included); without one it is
continuous (an integer flag: every whole number in it) and ``log: true`` samples it
log-uniformly; only sampling strategies (random, optuna) search those.

Every value that leaves the space is checked by the SGLang flag catalogue, as list values are
when a case is loaded (:func:`pytest_autotune.runtimes.sglang.Flag.coerce`).
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from ..values import Configuration, FlagValue

#: the most values one stepped range may enumerate
MAX_RANGE_VALUES = 10_000
#: the most configurations a grid may enumerate (without a limit such as max_configurations)
MAX_GRID = 100_000
#: significant digits a sampled float keeps (ids and launch commands stay readable)
FLOAT_DIGITS = 6


@dataclass(frozen=True, slots=True)
class Choice:
    """A categorical axis: one of the listed values."""

    name: str
    label: str
    values: tuple[FlagValue, ...]
    #: the line of the case file that gives it (None: no lines, e.g. a marker)
    line: int | None = None

    @property
    def size(self) -> int:
        return len(self.values)

    @property
    def enumerable(self) -> bool:
        return True

    @property
    def uniform(self) -> bool:
        return True

    def at(self, index: int) -> FlagValue:
        return self.values[index]

    def draw(self, rng: random.Random) -> FlagValue:
        return self.values[rng.randrange(len(self.values))]

    def describe(self) -> str:
        return "[" + ", ".join(str(v) for v in self.values) + "]"


@dataclass(frozen=True, slots=True)
class Range:
    """A numeric axis from ``low`` to ``high`` (both included): stepped (``values`` lists every
    step), continuous, or log-uniform."""

    name: str
    label: str
    kind: type  # int or float
    low: int | float
    high: int | float
    step: int | float | None = None
    log: bool = False
    #: every value of a stepped range, checked by the catalogue (empty without a step)
    values: tuple[FlagValue, ...] = ()
    line: int | None = None

    @property
    def size(self) -> int | None:
        """How many values it holds; None when continuous."""
        if self.step is not None:
            return len(self.values)
        if self.kind is int:
            return int(self.high) - int(self.low) + 1
        return None

    @property
    def enumerable(self) -> bool:
        """Whether a grid can list it: only with a step."""
        return self.step is not None

    @property
    def uniform(self) -> bool:
        """Whether every value is equally likely (so a sample may be drawn by index)."""
        return self.size is not None and not self.log

    def at(self, index: int) -> FlagValue:
        if self.step is not None:
            return self.values[index]
        return int(self.low) + index

    def snap(self, value: float) -> FlagValue:
        """The range's value nearest to a sampled number."""
        if self.step is not None:
            i = round((value - float(self.low)) / float(self.step))
            return self.values[min(max(i, 0), len(self.values) - 1)]
        if self.kind is int:
            return int(min(max(round(value), int(self.low)), int(self.high)))
        rounded = float(f"{value:.{FLOAT_DIGITS}g}")
        return min(max(rounded, float(self.low)), float(self.high))

    def draw(self, rng: random.Random) -> FlagValue:
        if self.step is not None:
            return self.values[rng.randrange(len(self.values))]
        low, high = float(self.low), float(self.high)
        if self.log:
            top = high + 1 if self.kind is int else high  # every whole number equally wide
            value = math.exp(rng.uniform(math.log(low), math.log(top)))
            return self.snap(math.floor(value) if self.kind is int else value)
        if self.kind is int:
            return rng.randint(int(low), int(high))
        return self.snap(rng.uniform(low, high))

    def describe(self) -> str:
        extra = f", step {self.step}" if self.step is not None else ", log" if self.log else ""
        return f"{{low {self.low}, high {self.high}{extra}}}"


Axis = Choice | Range
#: whether a configuration's flags (canonical name → value) may be measured: the case's
#: constraints (None: every configuration may)
Admit = Callable[[Mapping[str, FlagValue]], bool]


def every(axis: Axis) -> Sequence[FlagValue]:
    """Every value of a finite axis, in order (a list, a stepped range, an integer range)."""
    if isinstance(axis, Range) and axis.step is None:
        return range(int(axis.low), int(axis.high) + 1)
    return axis.values


def coerce(name: str, value: object) -> FlagValue:
    """One value checked by the SGLang flag catalogue (ValueError names what is allowed)."""
    from ..runtimes import sglang

    return sglang.BY_NAME[name].coerce(value)


@dataclass(frozen=True, slots=True)
class Space:
    """Every axis of a case, in the order the case lists them (the first varies slowest)."""

    axes: tuple[Axis, ...] = ()

    @property
    def size(self) -> int | None:
        """How many configurations; None when an axis is continuous."""
        total = 1
        for axis in self.axes:
            size = axis.size
            if size is None:
                return None
            total *= size
        return total

    def not_enumerable(self) -> Axis | None:
        """The first axis a grid cannot list (a range without a step), if any."""
        return next((a for a in self.axes if not a.enumerable), None)

    @property
    def uniform(self) -> bool:
        """Whether every configuration is equally likely under :meth:`draw` (then a sample
        without repeats can be drawn by index)."""
        return all(a.uniform for a in self.axes)

    def configuration(self, case: str, values: Sequence[FlagValue], index: int) -> \
            Configuration:
        """The configuration of one value per axis; each value checked by the catalogue."""
        params = tuple((axis.name, coerce(axis.name, value))
                       for axis, value in zip(self.axes, values, strict=True))
        return Configuration(case, params, self.labels, index=index)

    @property
    def labels(self) -> tuple[tuple[str, str], ...]:
        return tuple((a.name, a.label) for a in self.axes)

    def flags(self, values: Sequence[FlagValue]) -> dict[str, FlagValue]:
        """One value per axis, by flag name (what a constraint reads)."""
        return {axis.name: value for axis, value in zip(self.axes, values, strict=True)}

    def grid(self, case: str, limit: int | None = None, admit: Admit | None = None) -> \
            list[Configuration]:
        """Every combination in grid order (the first N with a limit), those ``admit`` rejects
        left out and the rest numbered in order; raises ValueError when an axis cannot be
        listed or the grid is too large to list."""
        axis = self.not_enumerable()
        if axis is not None:
            raise ValueError(f"{axis.label} is a range without a step")
        size = self.size or 0
        if size > MAX_GRID and (limit is None or limit > MAX_GRID):
            raise ValueError(f"the grid has {size:,} configurations (at most {MAX_GRID:,})")
        values: list[Sequence[FlagValue]] = [
            a.values for a in self.axes  # every axis is a choice or a stepped range here
        ]
        combos: Iterator[tuple[FlagValue, ...]] = itertools.product(*values)
        if admit is not None:
            examined = itertools.islice(combos, MAX_GRID)
            combos = (c for c in examined if admit(self.flags(c)))
        configs = [self.configuration(case, combo, i)
                   for i, combo in enumerate(itertools.islice(combos, limit))]
        if admit is not None and size > MAX_GRID and (limit is None or len(configs) < limit):
            raise ValueError(f"the grid has {size:,} configurations, too many to look through "
                             f"for those that satisfy the constraints (at most {MAX_GRID:,})")
        return configs

    def admitted(self, admit: Admit) -> list[int] | None:
        """The grid indices (as :meth:`at` reads them) of the configurations ``admit``
        accepts, when every axis is finite and the space holds at most MAX_GRID of them; None
        otherwise."""
        size = self.size
        if size is None or size > MAX_GRID:
            return None
        combos = itertools.product(*(every(a) for a in self.axes))
        return [i for i, combo in enumerate(combos) if admit(self.flags(combo))]

    def at(self, case: str, index: int, *, slot: int) -> Configuration:
        """The ``index``-th configuration in grid order (a uniform space only)."""
        picked: list[FlagValue] = []
        for axis in reversed(self.axes):
            size = axis.size
            assert size is not None, "at() needs a space of finite axes"
            index, rest = divmod(index, size)
            picked.append(axis.at(rest))
        return self.configuration(case, picked[::-1], slot)

    def draw(self, case: str, rng: random.Random, *, slot: int) -> Configuration:
        """A random configuration: each axis drawn independently (log ranges log-uniformly)."""
        return self.configuration(case, [a.draw(rng) for a in self.axes], slot)

    def satisfiable(self, admit: Admit, *, draws: int = 1000) -> bool | None:
        """Whether any configuration passes ``admit``: counted in a finite space of at most
        MAX_GRID configurations, else looked for among ``draws`` seeded draws (None: none of
        them passed, which proves nothing of a continuous space)."""
        admitted = self.admitted(admit)
        if admitted is not None:
            return bool(admitted)
        rng = random.Random(0)
        for _ in range(draws):
            if admit(self.flags([a.draw(rng) for a in self.axes])):
                return True
        return None
