"""The grid: every configuration of the case's space, in order, each a fixed collector."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..cases.case import Case
    from ..results.records import Trial
    from ..values import Configuration

from .base import SearchContext, admission, check_satisfiable


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
