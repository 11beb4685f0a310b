"""Strategies of one process: one per case, a slot's proposal asked once, a scored trial handed
back only to the strategy that proposed it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pytest_autotune.cases import case_from_marker
from pytest_autotune.cases.case import Case
from pytest_autotune.results.records import ConfigIdentity, PointRecord, Trial
from pytest_autotune.search.base import Strategy, UnknownStrategy, slot_name
from pytest_autotune.search.grid import GridStrategy
from pytest_autotune.search.strategies import Strategies, make_builtin
from pytest_autotune.values import Configuration, WorkloadPoint


def make_case(name: str = "chat") -> Case:
    return case_from_marker(
        {"name": name, "model": {"path": "meta-llama/Llama-3.2-1B-Instruct"},
         "parameters": {"mem-fraction-static": [0.7, 0.8, 0.9]},
         "workload": {"scenarios": ["D(10,10)"], "concurrency": [1]}},
        source=f"{name}.yaml", default_name=name, base_dir=Path("."),
    )


@dataclass
class Recording:
    """A strategy that records what it was asked."""

    case: Case
    name: str = "recording"
    proposals: list[int] = field(default_factory=list)
    observed: list[str] = field(default_factory=list)

    def fixed_plan(self) -> None:
        return None

    def budget(self) -> int:
        return 2

    def propose(self, slot: int) -> Configuration:
        self.proposals.append(slot)
        return self.case.configurations[-1 - slot]

    def observe(self, trial: Trial) -> None:
        self.observed.append(trial.config_id)


def trial_of(config: Configuration, case: Case) -> Trial:
    identity = ConfigIdentity(case=case.name, source=case.source, config_id=config.id,
                              config_key=config.key, index=config.index,
                              params=config.as_dict())
    return Trial.from_record(PointRecord(config=identity, point=WorkloadPoint("D(10,10)", 1),
                                         outcome="passed"))


def test_a_slot_is_proposed_once_and_observed_once_by_its_strategy() -> None:
    made: list[Recording] = []

    def factory(case: Case, name: str) -> Strategy | None:
        made.append(Recording(case))
        return made[-1]

    strategies = Strategies(factory)
    case = make_case()
    first = strategies.choose(case, "chat.yaml::trial-01", 0)
    assert strategies.choose(case, "chat.yaml::trial-01", 0) is first  # asked once per slot
    second = strategies.choose(case, "chat.yaml::trial-02", 1)
    assert len(made) == 1 and made[0].proposals == [0, 1]
    assert strategies.configuration("chat.yaml::trial-02") == second
    assert strategies.configuration("chat.yaml::trial-03") is None

    assert strategies.proposed(first.key)
    assert strategies.observe(trial_of(first, case))
    assert not strategies.observe(trial_of(first, case))  # a trial is observed once
    assert made[0].observed == [first.id]


def test_a_trial_nobody_here_proposed_is_not_observed() -> None:
    """The xdist controller proposes nothing: trials run on workers are not handed to it."""
    recording: list[Recording] = []

    def factory(case: Case, name: str) -> Strategy | None:
        recording.append(Recording(case))
        return recording[-1]

    strategies = Strategies(factory)
    case = make_case()
    strategies.for_case(case)
    config = case.configurations[0]
    assert not strategies.proposed(config.key)
    assert not strategies.observe(trial_of(config, case))
    assert recording[0].observed == []


def test_one_strategy_per_case() -> None:
    strategies = Strategies(lambda case, name: GridStrategy(case))
    a, b = make_case("a"), make_case("b")
    assert strategies.for_case(a) is strategies.for_case(a)
    assert strategies.for_case(a) is not strategies.for_case(b)


def test_an_unknown_strategy_name_is_raised() -> None:
    strategies = Strategies(lambda case, name: None)
    with pytest.raises(UnknownStrategy, match="grid"):
        strategies.for_case(make_case())


def test_grid_in_slots_proposes_the_grid_in_order() -> None:
    case = make_case()
    grid = GridStrategy(case, slots=True)
    assert grid.fixed_plan() is None and grid.budget() == 3
    assert [grid.propose(i) for i in range(3)] == list(case.configurations)
    assert make_builtin("grid", case) is not None and make_builtin("nope", case) is None


@pytest.mark.parametrize(("slot", "budget", "name"), [
    (0, 3, "trial-01"), (6, 9, "trial-07"), (9, 120, "trial-010"), (99, 100, "trial-100"),
])
def test_slot_names_sort_in_slot_order(slot: int, budget: int, name: str) -> None:
    assert slot_name(slot, budget) == name
