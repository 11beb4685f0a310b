"""The capacity search: an exponential probe, then bisection to the tolerance."""

from __future__ import annotations

import pytest

from pytest_autotune.search.capacity import search
from pytest_autotune.values import Capacity


@pytest.mark.parametrize("true", [1, 5, 37, 100, 200])
def test_finds_the_highest_load_within_the_tolerance(true: int) -> None:
    seen: list[int] = []

    def holds(load: int) -> bool:
        seen.append(load)
        return load <= true

    result = search(Capacity("D(100,100)", low=1, high=256, tolerance=0.1), holds)
    assert result.capacity is not None and result.ceiling is not None
    assert result.capacity <= true < result.ceiling
    assert result.ceiling - result.capacity <= max(1, 0.1 * result.capacity)
    assert [load for load, _ in result.probes] == seen
    # doubling up to the first miss, then each probe halves the bracket
    miss = next(i for i, (_, ok) in enumerate(result.probes) if not ok)
    assert seen[: miss + 1] == [min(256, 2**k) for k in range(miss + 1)]
    assert len(seen) - miss - 1 <= 6


def test_every_load_up_to_high_holding_is_a_capacity_of_at_least_high() -> None:
    result = search(Capacity("D(1,1)", low=4, high=48), lambda load: True)
    assert [load for load, _ in result.probes] == [4, 8, 16, 32, 48]
    assert (result.capacity, result.ceiling) == (48, None)
    assert "≥ 48" in result.describe()


def test_a_miss_at_the_lowest_load_has_no_capacity() -> None:
    result = search(Capacity("D(1,1)", low=2, high=64), lambda load: False)
    assert result.capacity is None and result.probes == [(2, False)]
    assert result.describe() == "no load from 2 met every SLO"


def test_a_one_user_bracket_ends_the_search() -> None:
    result = search(Capacity("D(1,1)", low=1, high=64, tolerance=0.0), lambda load: load <= 5)
    assert (result.capacity, result.ceiling) == (5, 6)
