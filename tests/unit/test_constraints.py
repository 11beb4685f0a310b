"""Constraints between flags: the expression evaluator (an AST walk over a short list of node
types, never eval), a case's ``constraints:`` checked when it is loaded (every mistake named by
file, line and ``constraints[i]``), and the strategies measuring only configurations that
satisfy them (the grid excludes, random draws again, optuna tells the study and asks again)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from optuna.trial import TrialState

from pytest_autotune.cases import case_from_marker, load_case_file
from pytest_autotune.cases.case import Case
from pytest_autotune.cases.constraints import (
    GPUS,
    ConstraintError,
    Kind,
    compile_constraint,
    did_you_mean,
)
from pytest_autotune.errors import ConfigError
from pytest_autotune.search.base import SearchContext, SearchExhausted
from pytest_autotune.search.grid import GridStrategy
from pytest_autotune.search.optuna import OptunaStrategy
from pytest_autotune.search.randomized import RandomStrategy
from pytest_autotune.search.strategies import make_builtin

# -- the evaluator ----------------------------------------------------------------------------

NAMES: dict[str, tuple[str, Kind]] = {
    "tp-size": ("tp-size", "number"), "tp_size": ("tp-size", "number"),
    "dp-size": ("dp-size", "number"), "gpus": (GPUS, "number"),
    "chunked-prefill-size": ("chunked-prefill-size", "number"),
    "mem-fraction-static": ("mem-fraction-static", "number"),
    "schedule-policy": ("schedule-policy", "str"),
    "enable-torch-compile": ("enable-torch-compile", "bool"),
}
ENV: dict[str, Any] = {"tp-size": 2, "dp-size": 4, GPUS: 8, "chunked-prefill-size": -1,
                       "mem-fraction-static": 0.85, "schedule-policy": "lpm",
                       "enable-torch-compile": False}


def resolve(name: str) -> tuple[str, Kind]:
    if name in NAMES:
        return NAMES[name]
    raise ConstraintError(f"unknown name {name!r}{did_you_mean(name, list(NAMES))}")


def holds(text: str, **env: Any) -> bool:
    return compile_constraint(text, resolve).holds({**ENV, **env})


def error(text: str) -> ConstraintError:
    with pytest.raises(ConstraintError) as info:
        compile_constraint(text, resolve)
    return info.value


@pytest.mark.parametrize(("text", "expected"), [
    ("tp-size * dp-size <= gpus", True),
    ("tp-size * dp-size < gpus", False),
    ("tp_size * dp-size == gpus", True),  # underscores name the same flag
    ("gpus // tp-size == 4 and gpus % tp-size == 0", True),
    ("gpus / dp-size == 2.0", True),
    ("gpus - tp-size * dp-size >= 0", True),  # spaces around '-': a subtraction
    ("-tp-size < 0 < +tp-size", True),
    ("1 <= tp-size <= dp-size <= gpus", True),  # chained
    ("1 <= tp-size <= 1", False),
    ("chunked-prefill-size >= 2048 or chunked-prefill-size == -1", True),
    ("(tp-size == 1 or dp-size == 1) and not enable-torch-compile", False),
    ("enable-torch-compile == false", True),
    ("enable-torch-compile != True", True),
    ("schedule-policy in ['lpm', 'dfs-weight']", True),
    ("schedule-policy not in ('lpm',)", False),
    ("tp-size in [1, 2, 4] and dp-size not in [3]", True),
    ("schedule-policy == 'lpm'", True),
    ("schedule-policy < 'm'", True),  # strings order as strings
    ("mem-fraction-static >= 8.5e-1", True),  # the '-' of a number's exponent is no name
    ("'a-b' != schedule-policy", True),  # nor one inside a string
    ("true", True),
    ("tp-size\n  * dp-size <= gpus", True),  # a folded YAML string
])
def test_expressions_evaluate(text: str, expected: bool) -> None:
    assert holds(text) is expected


def test_a_constraint_knows_the_names_it_reads() -> None:
    constraint = compile_constraint("tp_size * dp-size <= gpus", resolve, index=2, line=9)
    assert constraint.names == {"tp-size", "dp-size", GPUS} and constraint.needs_gpus
    assert (constraint.field, constraint.line) == ("constraints[2]", 9)
    assert not compile_constraint("tp-size > 1", resolve).needs_gpus


@pytest.mark.parametrize(("text", "words"), [
    ("tp-sise <= 2", ["unknown name 'tp-sise'", "did you mean 'tp-size'?"]),
    ("gpus-tp-size >= 0", ["unknown name 'gpus-tp-size'",
                           "to subtract, put spaces around '-': gpus - tp-size"]),
    ("tp-size * * dp-size", ["cannot parse 'tp-size * * dp-size' at column 11",
                             "(at '* dp-size')"]),
    ("tp-size ≤ gpus", ["column 9", "write '<=' for '≤'"]),
    ("tp-size && dp-size", ["write 'and' for '&&'"]),
    ("(tp-size", ["was never closed"]),
    ("tp-size", ["is a number, not a condition"]),
    ("tp-size * dp-size", ["not a condition", "tp-size * dp-size <= gpus"]),
    ("tp-size == 'one'", ["== compares a number (tp-size) with a string ('one')"]),
    ("tp-size + schedule-policy > 1", ["+ takes numbers, and schedule-policy is a string"]),
    ("not tp-size", ["'not' takes a condition, and tp-size is a number (column 5)"]),
    ("tp-size and dp-size", ["'and' joins conditions"]),
    ("enable-torch-compile < true", ["does not order true and false"]),
    ("tp-size in dp-size", ["'in' takes a list literal"]),
    ("tp-size in [1, 'two']", ["'two' is a string"]),
    ("tp-size in [1] in [[1]]", ["'in' compares one value with one list"]),
    ("[1] == [1]", ["a list may only follow 'in'"]),
    ("tp-size ** 2 <= gpus", ["** is not allowed", "+ - * / // %"]),
    ("tp-size & dp-size", ["& is not allowed", "write and/or"]),
    ("tp-size is 1", ["'is' is not allowed"]),
    ("tp-size if true else false", ["'x if c else y' is not allowed"]),
    ("", ["a constraint is a condition"]),
    ("   ", ["a constraint is a condition"]),
    ("1 " + "+ 1 " * 600 + "> 0", ["at most 1000 characters"]),
    ("None == None", ["None is not a number, a string or a boolean"]),
    ("1j == 1j", ["1j is not a number"]),
])
def test_mistakes_say_what_and_where(text: str, words: list[str]) -> None:
    message = str(error(text))
    for word in words:
        assert word in message, message


@pytest.mark.parametrize(("text", "what"), [
    ("__import__('os').system('true') == 0", "function calls are not allowed"),
    ("__import__('os')", "function calls are not allowed"),
    ("().__class__.__bases__ == 1", "attribute access (.) is not allowed"),
    ("tp-size.real > 1", "attribute access (.) is not allowed"),
    ("gpus.bit_length() > 1", "function calls are not allowed"),
    ("'abc'[0] == 'a'", "indexing ([...]) is not allowed"),
    ("(lambda: 1) == 1", "lambda is not allowed"),
    ("f'{tp-size}' == '2'", "f-strings are not allowed"),
    ("(x := 1) == 1", "':=' is not allowed"),
    ("{'a': 1} == 1", "a mapping ({...}) is not allowed"),
    ("[x for x in [1]] == 1", "ListComp is not allowed"),
    ("open == 1", "unknown name 'open'"),
    ("__builtins__ == 1", "unknown name '__builtins__'"),
    ("b'x' == b'x'", "is not a number, a string or a boolean"),
])
def test_code_is_rejected_before_anything_runs(text: str, what: str) -> None:
    assert what in str(error(text))


def test_an_arithmetic_error_names_the_expression() -> None:
    constraint = compile_constraint("gpus // (tp-size - 2) > 1", resolve)
    with pytest.raises(ConstraintError, match=r"gpus // \(tp-size - 2\): integer division"):
        constraint.holds(ENV)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(list("tp-sizegu_ *+/%<=>!()[]'\"0123456789.,")
                                + [" and ", " or ", "not ", " in ", " tp-size", " gpus"]),
                max_size=40).map("".join) | st.text(max_size=40))
def test_any_text_compiles_or_says_why(text: str) -> None:
    """Whatever a case writes, compiling it gives a constraint or a ConstraintError, and a
    compiled one evaluates to a boolean or a ConstraintError (never another exception)."""
    try:
        constraint = compile_constraint(text, resolve)
    except ConstraintError:
        return
    try:
        assert isinstance(constraint.holds(ENV), bool)
    except ConstraintError:
        pass


# -- a case's constraints, loaded -------------------------------------------------------------

CASE = """\
name: par
model: {path: meta-llama/Llama-3.1-70B-Instruct}
flags:
  dp-size: 2
parameters:
  tp-size: [1, 2, 4, 8]
  chunked-prefill-size: [-1, 1024, 4096]
  schedule-policy: [fcfs, lpm]
constraints:
  - tp-size * dp-size <= 8
  - chunked-prefill-size >= 2048 or chunked-prefill-size == -1
workload: {scenarios: ["D(10,10)"], concurrency: [1]}
"""


def load(tmp_path: Path, text: str) -> Case:
    path = tmp_path / "case.yaml"
    path.write_text(textwrap.dedent(text))
    return load_case_file(path)


def load_error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    return str(info.value)


def test_the_grid_leaves_out_what_a_constraint_excludes(tmp_path: Path) -> None:
    case = load(tmp_path, CASE)
    # tp 8 x dp 2 is 16 GPUs; 1024 is neither off (-1) nor at least 2048
    assert len(case.configurations) == 3 * 2 * 2
    params = [c.as_dict() for c in case.configurations]
    assert {p["tp-size"] for p in params} == {1, 2, 4}
    assert {p["chunked-prefill-size"] for p in params} == {-1, 4096}
    assert [c.index for c in case.configurations] == list(range(12))  # numbered in order
    assert case.configurations[0].id == "tp-size=1-chunked-prefill-size=-1-schedule-policy=fcfs"
    assert [c.text for c in case.constraints] == [
        "tp-size * dp-size <= 8", "chunked-prefill-size >= 2048 or chunked-prefill-size == -1"]
    assert [c.line for c in case.constraints] == [10, 11]
    assert case.constraints.fixed == (("dp-size", 2),)  # the fixed flag they read
    grid = make_builtin("grid", case)
    assert isinstance(grid, GridStrategy)
    assert grid.plan == case.configurations and grid.excluded == (12, 24)


def test_max_configurations_counts_what_the_constraints_leave(tmp_path: Path) -> None:
    case = load(tmp_path, CASE + "max_configurations: 5\n")
    assert len(case.configurations) == 5
    assert all(c.as_dict()["chunked-prefill-size"] != 1024 for c in case.configurations)


def test_names_may_be_written_as_aliases_underscores_or_canonical(tmp_path: Path) -> None:
    case = load(tmp_path, CASE.replace("tp-size * dp-size <= 8", "tp * data_parallel_size <= 8")
                .replace("  tp-size: [1, 2, 4, 8]", "  tensor-parallel-size: [1, 2, 4, 8]"))
    assert {c.as_dict()["tp-size"] for c in case.configurations} == {1, 2, 4}


def test_every_mistake_is_named_by_file_line_and_field(tmp_path: Path) -> None:
    text = CASE.replace("  - tp-size * dp-size <= 8\n", "  - tp-sise * dp-size <= 8\n"
                        "  - pp-size == 1\n  - tp-size ** 2 <= 64\n  - schedule-policy == lpm\n")
    message = load_error(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'case.yaml'}:10: 4 problems in this tuning case:")
    assert "line 10, constraints[0]: unknown name 'tp-sise'; did you mean 'tp-size'? " \
        "(names: tp-size, chunked-prefill-size, schedule-policy, dp-size, gpus)" in message
    assert "line 11, constraints[1]: the constraint names pp-size, which the case neither " \
        "tunes nor sets: tune it under parameters, or set it under flags (SGLang's " \
        "default: pp-size: 1)" in message
    assert "line 12, constraints[2]: ** is not allowed" in message
    assert "line 13, constraints[3]: unknown name 'lpm': a string is quoted ('lpm')" in message


def test_one_mistake_is_one_line(tmp_path: Path) -> None:
    message = load_error(tmp_path, CASE.replace("tp-size * dp-size <= 8",
                                                "tp-size * dp-size <="))
    assert message == (f"{tmp_path / 'case.yaml'}:10: constraints[0]: cannot parse "
                       "'tp-size * dp-size <=' at its end: invalid syntax")


def test_a_grid_no_configuration_satisfies_is_an_error(tmp_path: Path) -> None:
    message = load_error(tmp_path, CASE.replace("tp-size * dp-size <= 8", "tp-size > 8"))
    assert message == (
        f"{tmp_path / 'case.yaml'}:9: constraints: no configuration of the grid satisfies the "
        "constraints: each of its 24 configurations breaks one; the first, "
        "tp-size=1-chunked-prefill-size=-1-schedule-policy=fcfs, breaks constraints[0] "
        "(tp-size > 8)")


def test_a_continuous_space_no_draw_satisfies_is_an_error(tmp_path: Path) -> None:
    text = CASE.replace("[1, 2, 4, 8]", "{low: 1, high: 8}").replace(
        "tp-size * dp-size <= 8", "mem-fraction-static > 0.9").replace(
        "  schedule-policy: [fcfs, lpm]\n", "  mem-fraction-static: {low: 0.5, high: 0.9}\n")
    message = load_error(tmp_path, text)
    assert "constraints: none of 1,000 configurations drawn from the space satisfies the " \
        "constraints" in message


def test_an_arithmetic_error_at_load_names_the_constraint(tmp_path: Path) -> None:
    message = load_error(tmp_path, CASE.replace("tp-size * dp-size <= 8",
                                                "8 // (tp-size - 1) >= 1"))
    assert ":10: constraints[0]: '8 // (tp-size - 1) >= 1' cannot be evaluated for " \
        "tp-size=1 chunked-prefill-size=-1 schedule-policy=fcfs: 8 // (tp-size - 1): " \
        "integer division or modulo by zero" in message


def test_constraints_is_a_list_of_strings(tmp_path: Path) -> None:
    message = load_error(tmp_path, CASE.replace("  - tp-size * dp-size <= 8\n",
                                                "  - {expr: tp-size}\n"))
    assert ":10: constraints[0]: Input should be a valid string" in message


def marker_case(parameters: dict[str, Any], constraints: list[str], *, strategy: str = "grid",
                trials: int | None = None, seed: int = 0) -> Case:
    return case_from_marker(
        {"name": "par", "model": {"path": "meta-llama/Llama-3.1-70B-Instruct"},
         "parameters": parameters, "constraints": constraints,
         "search": {"strategy": strategy, "trials": trials, "seed": seed},
         "workload": {"scenarios": ["D(10,10)"], "concurrency": [1]}},
        source="test_par.py::test_par", default_name="par", base_dir=Path("."),
    )


PARALLEL = {"tp-size": [1, 2, 4, 8], "dp-size": [1, 2, 4]}


# -- gpus: the run's pool ---------------------------------------------------------------------


def pool(n: int | None) -> SearchContext:
    return SearchContext(pool_size=lambda: n)


def test_gpus_is_the_pool_the_strategy_is_given() -> None:
    case = marker_case(PARALLEL, ["tp-size * dp-size <= gpus"])
    assert len(case.configurations) == 12  # gpus is not known when a case is loaded
    grid = make_builtin("grid", case, pool(4))
    assert isinstance(grid, GridStrategy)
    plan = grid.fixed_plan()
    assert plan is not None
    assert [c.id for c in plan] == ["tp-size=1-dp-size=1", "tp-size=1-dp-size=2",
                                    "tp-size=1-dp-size=4", "tp-size=2-dp-size=1",
                                    "tp-size=2-dp-size=2", "tp-size=4-dp-size=1"]
    assert [c.index for c in plan] == list(range(6)) and grid.excluded == (6, 12)
    eight = make_builtin("grid", case, pool(8))
    assert eight is not None and eight.budget() == 9


def test_gpus_without_a_pool_is_an_error() -> None:
    case = marker_case(PARALLEL, ["tp-size > 1", "tp-size * dp-size <= gpus"])
    with pytest.raises(ConfigError, match=r"constraints\[1\]: the constraint names gpus, and "
                       "this run has no GPU pool"):
        make_builtin("grid", case, pool(None))


@pytest.mark.parametrize("strategy", ["grid", "random", "optuna"])
def test_a_pool_too_small_for_every_configuration_is_an_error(strategy: str,
                                                              tmp_path: Path) -> None:
    case = marker_case(PARALLEL, ["tp-size * dp-size <= gpus", "tp-size >= 2"],
                       strategy=strategy)
    context = SearchContext("run", tmp_path, pool_size=lambda: 1)
    with pytest.raises(ConfigError) as info:
        make_builtin(strategy, case, context)
    assert str(info.value) == (
        "test_par.py::test_par: constraints: no configuration of the grid satisfies the "
        "constraints with gpus = 1: each of its 12 configurations breaks one; the first, "
        "tp-size=1-dp-size=1, breaks constraints[1] (tp-size >= 2)")


# -- random -----------------------------------------------------------------------------------


def test_random_samples_only_what_the_constraints_admit() -> None:
    case = marker_case(PARALLEL, ["tp-size * dp-size <= gpus"], strategy="random", trials=20)
    strategy = RandomStrategy(case, context=pool(4))
    assert strategy.budget() == 6  # the budget stops where the admitted configurations do
    configs = [strategy.propose(i) for i in range(6)]
    assert len({c.key for c in configs}) == 6
    assert all(c.as_dict()["tp-size"] * c.as_dict()["dp-size"] <= 4  # type: ignore[operator]
               for c in configs)
    with pytest.raises(SearchExhausted):
        strategy.propose(6)
    again = RandomStrategy(case, context=pool(4))
    assert [again.propose(i) for i in (5, 2, 0)] == [configs[i] for i in (5, 2, 0)]


def test_random_draws_again_in_a_continuous_space() -> None:
    space = {"mem-fraction-static": {"low": 0.5, "high": 0.9},
             "max-running-requests": {"low": 4, "high": 512, "log": True}}
    case = marker_case(space, ["mem-fraction-static >= 0.8 or max-running-requests < 16"],
                       strategy="random", trials=30, seed=5)
    strategy = RandomStrategy(case)
    configs = [strategy.propose(i).as_dict() for i in range(30)]
    assert all(c["mem-fraction-static"] >= 0.8 or c["max-running-requests"] < 16  # type: ignore[operator]
               for c in configs)


def test_random_gives_up_with_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    space = {"mem-fraction-static": {"low": 0.5, "high": 0.9}}
    case = marker_case(space, ["mem-fraction-static >= 0.85"], strategy="random", trials=10)
    strategy = RandomStrategy(case)
    # one draw in eight passes
    monkeypatch.setattr("pytest_autotune.search.randomized.MAX_DRAWS", 1)
    with pytest.raises(SearchExhausted, match=r"no configuration of par that satisfies the "
                       r"constraints and is not measured yet in \d+ draws \(loosen the "
                       r"constraints or widen the space\)"):
        for slot in range(10):
            strategy.propose(slot)


# -- optuna -----------------------------------------------------------------------------------


def test_optuna_tells_a_proposal_that_breaks_a_constraint_as_failed(tmp_path: Path) -> None:
    case = marker_case({"tp-size": [1, 2, 4, 8], "dp-size": [1, 2, 4, 8]},
                       ["tp-size * dp-size <= gpus"], strategy="optuna", trials=6, seed=3)
    context = SearchContext("run-1", tmp_path / "runs" / "run-1", pool_size=lambda: 4)
    strategy = make_builtin("optuna", case, context)
    assert isinstance(strategy, OptunaStrategy) and strategy.budget() == 6
    configs = [strategy.propose(i) for i in range(6)]
    assert len({c.key for c in configs}) == 6
    assert all(c.as_dict()["tp-size"] * c.as_dict()["dp-size"] <= 4  # type: ignore[operator]
               for c in configs)
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    study = optuna.load_study(study_name="par", storage=JournalStorage(
        JournalFileBackend(str(tmp_path / "runs" / "run-1" / "study.log"))))
    excluded = [t for t in study.trials if "constraint" in t.user_attrs]
    assert excluded, "a 4x4 grid with 6 of 16 admitted draws some that break the constraint"
    for trial in excluded:
        assert trial.state == TrialState.FAIL
        assert trial.user_attrs["constraint"] == "tp-size * dp-size <= gpus"
        assert trial.user_attrs["status"] == "excluded"
        assert trial.params["tp-size"] * trial.params["dp-size"] > 4
    asked = [t for t in study.trials if t.state == TrialState.RUNNING]
    assert [t.user_attrs["configuration"] for t in asked] == [c.id for c in configs]
    with pytest.raises(SearchExhausted, match="every configuration of par that satisfies its "
                       "constraints has been measured"):
        strategy.propose(6)


def test_optuna_picks_a_configuration_itself_after_many_rejections(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pytest_autotune.search.optuna.MAX_REJECTED", 0)
    case = marker_case({"tp-size": [1, 2, 4, 8], "dp-size": [1, 2, 4, 8]},
                       ["tp-size * dp-size <= 2"], strategy="optuna", trials=5, seed=1)
    strategy = make_builtin("optuna", case, SearchContext("run", tmp_path / "run"))
    assert strategy is not None and strategy.budget() == 3  # (1, 1), (1, 2), (2, 1)
    configs = {strategy.propose(i).id for i in range(3)}
    assert configs == {"tp-size=1-dp-size=1", "tp-size=1-dp-size=2", "tp-size=2-dp-size=1"}
