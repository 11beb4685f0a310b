"""A case's ``search:`` block and parameter ranges: parsed, checked by the flag catalogue, and
every mistake one ConfigError naming the file, the line, the field and what is allowed."""

from __future__ import annotations

import json
import textwrap
import warnings
from pathlib import Path

import pytest

from pytest_autotune.cases import load_case_file
from pytest_autotune.cases.case import Case
from pytest_autotune.cases.space import Choice, Range
from pytest_autotune.errors import ConfigError
from pytest_autotune.search.base import Strategy, UnknownStrategy
from pytest_autotune.search.grid import GridStrategy
from pytest_autotune.search.strategies import Strategies, make_builtin

CASE = """\
name: chat
model: {path: meta-llama/Llama-3.1-8B-Instruct}
search: {strategy: random, trials: 4, seed: 7}
parameters:
  mem-fraction-static: {low: 0.7, high: 0.9, step: 0.05}
  max-running-requests: {low: 8, high: 128, log: true}
  schedule-policy: [fcfs, lpm]
workload: {scenarios: ["D(10,10)"], concurrency: [1]}
"""


def write(tmp_path: Path, text: str, name: str = "case.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def load(tmp_path: Path, text: str, name: str = "case.yaml") -> Case:
    return load_case_file(write(tmp_path, text, name))


def test_a_search_block_and_ranges_load(tmp_path: Path) -> None:
    case = load(tmp_path, CASE)
    assert (case.search.strategy, case.search.trials, case.search.seed) == ("random", 4, 7)
    assert case.search.line == 3
    mem, running, policy = case.space.axes
    assert isinstance(mem, Range) and mem.values == (0.7, 0.75, 0.8, 0.85, 0.9)  # no 0.85000…1
    assert mem.line == 5 and mem.enumerable and mem.size == 5
    assert isinstance(running, Range) and running.kind is int and running.log
    assert not running.enumerable and running.size == 121
    assert isinstance(policy, Choice) and policy.values == ("fcfs", "lpm")
    assert case.space.size == 5 * 121 * 2 and not case.space.uniform  # log: not by index
    assert case.configurations == ()  # a grid cannot list a log range


def test_stepped_ranges_and_lists_form_a_grid(tmp_path: Path) -> None:
    case = load(tmp_path, CASE.replace("{low: 8, high: 128, log: true}",
                                       "{low: 8, high: 24, step: 8}")
                .replace("search: {strategy: random, trials: 4, seed: 7}\n", ""))
    assert case.search.strategy == "grid" and case.search.line is None
    assert len(case.configurations) == 5 * 3 * 2
    assert case.configurations[0].id == \
        "mem-fraction-static=0.7-max-running-requests=8-schedule-policy=fcfs"
    assert case.configurations[-1].id == \
        "mem-fraction-static=0.9-max-running-requests=24-schedule-policy=lpm"
    assert [c.index for c in case.configurations] == list(range(30))
    plan = GridStrategy(case).fixed_plan()
    assert plan is not None and list(plan) == list(case.configurations)


def test_a_grid_names_the_range_it_cannot_list(tmp_path: Path) -> None:
    case = load(tmp_path, CASE.replace("strategy: random", "strategy: grid"))
    with pytest.raises(ConfigError) as info:
        make_builtin("grid", case)
    text = str(info.value)
    assert text.startswith(f"{tmp_path / 'case.yaml'}:6: parameters.max-running-requests: ")
    assert "give it a step" in text and "random or optuna" in text


def test_search_trials_cap_a_grid(tmp_path: Path) -> None:
    case = load(tmp_path, CASE.replace("{low: 8, high: 128, log: true}", "[8, 16]")
                .replace("strategy: random", "strategy: grid"))
    grid = make_builtin("grid", case)
    assert grid is not None and grid.budget() == 4
    plan = grid.fixed_plan()
    assert plan is not None and list(plan) == list(case.configurations[:4])


BAD = [
    # (id, replace old → new, field, line, words)
    ("range-on-a-choice-flag",
     ("schedule-policy: [fcfs, lpm]", "schedule-policy: {low: 1, high: 2}"),
     "parameters.schedule-policy", 7, ["not numeric", "list its values"]),
    ("unknown-range-key", ("step: 0.05}", "stp: 0.05}"),
     "parameters.mem-fraction-static.stp", 5, ["did you mean 'step'", "{low, high}"]),
    ("missing-high", ("{low: 0.7, high: 0.9, step: 0.05}", "{low: 0.7}"),
     "parameters.mem-fraction-static", 5, ["needs high"]),
    ("low-above-high", ("{low: 0.7, high: 0.9, step: 0.05}", "{low: 0.9, high: 0.7}"),
     "parameters.mem-fraction-static", 5, ["must be below high"]),
    ("end-outside-the-catalogue", ("high: 0.9, step", "high: 1.5, step"),
     "parameters.mem-fraction-static.high", 5, ["≤ 0.99"]),
    ("end-of-the-wrong-type", ("{low: 8, high: 128, log: true}", "{low: 8.5, high: 128}"),
     "parameters.max-running-requests.low", 6, ["integer"]),
    ("fractional-step-of-an-int",
     ("{low: 8, high: 128, log: true}", "{low: 8, high: 128, step: 2.5}"),
     "parameters.max-running-requests.step", 6, ["whole number ≥ 1"]),
    ("step-and-log", ("{low: 8, high: 128, log: true}", "{low: 8, high: 128, step: 8, log: true}"),
     "parameters.max-running-requests.step", 6, ["not both"]),
    ("log-from-zero",
     ("{low: 8, high: 128, log: true}",
      "{low: 8, high: 128}\n  schedule-conservativeness: {low: 0, high: 2, log: true}"),
     "parameters.schedule-conservativeness.low", 7, ["low > 0"]),
    ("log-not-a-bool", ("log: true}", "log: maybe}"),
     "parameters.max-running-requests.log", 6, ["true or false"]),
    ("too-many-values", ("{low: 8, high: 128, log: true}", "{low: 1, high: 1000000, step: 1}"),
     "parameters.max-running-requests.step", 6, ["1,000,000 values", "larger step"]),
    ("infinite-end", ("{low: 8, high: 128, log: true}",
                      "{low: 8, high: 128}\n  schedule-conservativeness: {low: 0, high: .inf}"),
     "parameters.schedule-conservativeness.high", 7, ["finite"]),
    ("off-value-in-a-range", ("{low: 8, high: 128, log: true}",
                              "{low: 8, high: 128}\n  chunked-prefill-size: {low: -1, high: 8192}"),
     "parameters.chunked-prefill-size.low", 7, ["turns --chunked-prefill-size off"]),
    ("bad-strategy-name", ("strategy: random", "strategy: 'Opt una!'"),
     "search.strategy", 3, ["a search strategy is a name", "optuna"]),
    ("zero-trials", ("trials: 4", "trials: 0"), "search.trials", 3, ["whole number ≥ 1"]),
    ("fractional-seed", ("seed: 7", "seed: 1.5"), "search.seed", 3, ["whole number"]),
    ("unknown-search-key", ("trials: 4", "trails: 4"),
     "search.trails", 3, ["did you mean 'trials'"]),
]


@pytest.mark.parametrize(("old_new", "field", "line", "words"),
                         [pytest.param(b[1], b[2], b[3], b[4], id=b[0]) for b in BAD])
def test_a_bad_range_or_search_block_is_one_clear_error(
    tmp_path: Path, old_new: tuple[str, str], field: str, line: int, words: list[str]
) -> None:
    old, new = old_new
    assert old in CASE
    with pytest.raises(ConfigError) as info:
        load(tmp_path, CASE.replace(old, new, 1))
    text = str(info.value)
    assert str(tmp_path / "case.yaml") in text and field in text, text
    assert info.value.line == line, text
    for word in words:
        assert word in text, text
    assert "Traceback" not in text and "pydantic" not in text.lower()


def test_an_unknown_strategy_is_named_with_the_built_in_ones() -> None:
    message = UnknownStrategy("optuan").message()
    assert "no search strategy named 'optuan'; did you mean 'optuna'?" in message
    assert "grid, random, optuna" in message and "pytest_autotune_make_strategy" in message
    assert "--autotune-search" in UnknownStrategy("x", option=True).message()


def test_the_options_override_the_cases_search(tmp_path: Path) -> None:
    asked: list[tuple[str, int | None, str]] = []

    def factory(case: Case, name: str) -> Strategy | None:
        asked.append((case.search.strategy, case.search.trials, name))
        return make_builtin(name, case)

    case = load(tmp_path, CASE)
    strategy = Strategies(factory, search="random", trials=2).for_case(case)
    assert asked == [("random", 2, "random")] and strategy.budget() == 2
    Strategies(factory).for_case(case)
    assert asked[-1] == ("random", 4, "random")  # the case's own
    with pytest.raises(UnknownStrategy) as info:
        Strategies(factory, search="annealing").for_case(case)
    assert info.value.option


SEED = json.loads((Path(__file__).resolve().parents[2] / "fixtures" / "seed" /
                   "docker-simple-tune.json").read_text())


@pytest.mark.parametrize(("seed_strategy", "strategy"), [("random", "random"),
                                                         ("bayesian", "optuna")])
def test_seed_random_and_bayesian_become_random_and_optuna_without_a_warning(
    tmp_path: Path, seed_strategy: str, strategy: str,
) -> None:
    task = json.loads(json.dumps(SEED))
    task["optimization"].update(strategy=seed_strategy, max_iterations=3, seed=5,
                                n_initial_random=1)
    task["parameters"]["mem-fraction-static"] = {"type": "continuous", "low": 0.7, "high": 0.9}
    task["parameters"]["max-running-requests"] = {"type": "integer", "low": 4, "high": 64,
                                                  "log": True}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        case = load(tmp_path, json.dumps(task), "task.json")
    assert (case.search.strategy, case.search.trials, case.search.seed) == (strategy, 3, 5)
    assert case.search.startup_trials == 1
    made = make_builtin(strategy, case)
    assert made is not None and made.fixed_plan() is None and made.budget() == 3


def test_a_seed_range_under_grid_search_names_the_parameter(tmp_path: Path) -> None:
    task = json.loads(json.dumps(SEED))
    task["parameters"]["mem-fraction-static"] = {"type": "continuous", "low": 0.7, "high": 0.9}
    case = load(tmp_path, json.dumps(task, indent=2), "task.json")
    with pytest.raises(ConfigError) as info:
        make_builtin("grid", case)
    assert "parameters.mem-fraction-static" in str(info.value)
    assert "optimization.strategy random or bayesian" in str(info.value)
    assert info.value.line is not None


def test_a_seed_range_with_an_unknown_type_is_an_error(tmp_path: Path) -> None:
    task = json.loads(json.dumps(SEED))
    task["parameters"]["mem-fraction-static"] = {"type": "uniform", "low": 0.7, "high": 0.9}
    with pytest.raises(ConfigError, match="unknown parameter type 'uniform'"):
        load(tmp_path, json.dumps(task), "task.json")
