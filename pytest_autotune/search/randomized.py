"""The seeded random sample: ``trials`` distinct configurations drawn from the space."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..cases.case import Case
    from ..cases.space import Admit
    from ..results.records import Trial
    from ..values import Configuration

from .base import (
    SearchContext,
    SearchExhausted,
    admission,
    admitted_indices,
    check_satisfiable,
    sampling_budget,
)

#: draws per slot before the random strategy gives up finding a new configuration
MAX_DRAWS = 1000


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
