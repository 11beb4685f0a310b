"""The sampling strategies' proposals: random (a seeded sample without repeats) and optuna (TPE
over a study that is told every result, failures included, and shared through its storage)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from pytest_autotune.cases import case_from_marker
from pytest_autotune.cases.case import Case
from pytest_autotune.errors import ConfigError
from pytest_autotune.results.records import ConfigIdentity, Outcome, PointRecord, Trial
from pytest_autotune.search import optuna as strategy_optuna
from pytest_autotune.search.base import SearchContext, SearchExhausted
from pytest_autotune.search.optuna import OptunaStrategy
from pytest_autotune.search.randomized import RandomStrategy
from pytest_autotune.search.strategies import make_builtin
from pytest_autotune.values import Configuration, WorkloadPoint


def make_case(parameters: dict[str, Any], *, strategy: str = "random", trials: int = 4,
              seed: int = 0, objective: str = "max_output_throughput", **search: Any) -> Case:
    return case_from_marker(
        {"name": "chat", "model": {"path": "meta-llama/Llama-3.1-8B-Instruct"},
         "parameters": parameters, "objective": objective,
         "search": {"strategy": strategy, "trials": trials, "seed": seed, **search},
         "workload": {"scenarios": ["D(10,10)"], "concurrency": [1]}},
        source="chat.yaml", default_name="chat", base_dir=Path("."),
    )


GRID = {"max-running-requests": [8, 16, 32], "schedule-policy": ["fcfs", "lpm"]}
MIXED = {"mem-fraction-static": {"low": 0.7, "high": 0.9},
         "max-running-requests": {"low": 4, "high": 256, "log": True},
         "chunked-prefill-size": {"low": 2048, "high": 8192, "step": 2048},
         "schedule-policy": ["fcfs", "lpm"]}


def trial_of(config: Configuration, case: Case, score: float | None,
             outcome: Outcome = "passed") -> Trial:
    identity = ConfigIdentity(case=case.name, source=case.source, config_id=config.id,
                              config_key=config.key, index=config.index,
                              params=config.as_dict(), objective=case.objective)
    trial = Trial.from_record(PointRecord(config=identity, point=WorkloadPoint("D(10,10)", 1),
                                          outcome=outcome, reason="why" if score is None
                                          else None))
    trial.score = score
    return trial


# -- random -----------------------------------------------------------------------------------


def test_random_samples_distinct_configurations_of_a_finite_space() -> None:
    strategy = RandomStrategy(make_case(GRID, trials=4, seed=1))
    assert strategy.fixed_plan() is None and strategy.budget() == 4
    ids = [strategy.propose(i).id for i in range(4)]
    assert len(set(ids)) == 4
    assert [strategy.propose(i).index for i in range(4)] == [0, 1, 2, 3]  # slot order
    every = RandomStrategy(make_case(GRID, trials=50))
    assert every.budget() == 6  # the budget stops where the space does
    assert sorted(every.propose(i).id for i in range(6)) == sorted(
        c.id for c in make_case(GRID).configurations)
    with pytest.raises(SearchExhausted):
        every.propose(6)


def test_random_is_seeded_and_independent_of_which_slots_run() -> None:
    first = [RandomStrategy(make_case(MIXED, seed=3)).propose(i) for i in range(4)]
    again = RandomStrategy(make_case(MIXED, seed=3))
    assert [again.propose(i) for i in (3, 1, 0, 2)] == [first[i] for i in (3, 1, 0, 2)]
    other = RandomStrategy(make_case(MIXED, seed=4))
    assert [other.propose(i).id for i in range(4)] != [c.id for c in first]


def test_random_draws_ranges_within_bounds_as_the_catalogue_types_them() -> None:
    strategy = RandomStrategy(make_case(MIXED, trials=200, seed=9))
    configs = [strategy.propose(i) for i in range(200)]
    assert len({c.key for c in configs}) == 200
    mem = [c.as_dict()["mem-fraction-static"] for c in configs]
    running = [c.as_dict()["max-running-requests"] for c in configs]
    chunk = {c.as_dict()["chunked-prefill-size"] for c in configs}
    assert all(isinstance(v, float) and 0.7 <= v <= 0.9 for v in mem)
    assert all(len(f"{v}") <= 8 for v in mem)  # six significant digits, readable ids
    assert all(isinstance(v, int) and 4 <= v <= 256 for v in running)
    assert chunk == {2048, 4096, 6144, 8192}
    # log-uniform: half of the draws fall below the geometric middle (32), not a seventh
    below = sum(1 for v in running if isinstance(v, int) and v < 32) / len(running)
    assert 0.35 < below < 0.65


# -- optuna -----------------------------------------------------------------------------------


def optuna_strategy(tmp_path: Path, case: Case, run: str = "run-1",
                    study: str | None = None) -> OptunaStrategy:
    made = make_builtin("optuna", case, SearchContext(run, tmp_path / "runs" / run, study))
    assert isinstance(made, OptunaStrategy)
    return made


def load(tmp_path: Path, run: str = "run-1") -> optuna.Study:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(tmp_path / "runs" / run / "study.log")))
    return optuna.load_study(study_name="chat", storage=storage)


def measured(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return [t for t in study.trials if "duplicate_of" not in t.user_attrs]


def test_optuna_asks_at_setup_and_is_told_every_result(tmp_path: Path) -> None:
    case = make_case(MIXED, strategy="optuna", trials=3, seed=2)
    strategy = optuna_strategy(tmp_path, case)
    assert strategy.fixed_plan() is None and strategy.budget() == 3
    configs = [strategy.propose(i) for i in range(3)]
    assert len({c.key for c in configs}) == 3 and [c.index for c in configs] == [0, 1, 2]
    study = load(tmp_path)
    assert [t.state for t in study.trials] == [TrialState.RUNNING] * 3
    assert [t.user_attrs["configuration"] for t in study.trials] == [c.id for c in configs]
    assert [t.user_attrs["slot"] for t in study.trials] == ["trial-01", "trial-02", "trial-03"]
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE

    strategy.observe(trial_of(configs[0], case, 1234.5))
    strategy.observe(trial_of(configs[1], case, None, "infeasible"))
    strategy.close()  # the run ends before the third is scored
    study = load(tmp_path)
    states = [(t.state, t.value, t.user_attrs.get("status")) for t in study.trials[1:]]
    assert (study.trials[0].state, study.trials[0].value) == (TrialState.COMPLETE, 1234.5)
    assert states == [(TrialState.FAIL, None, "infeasible"),
                      (TrialState.FAIL, None, "interrupted")]
    assert study.trials[1].user_attrs["reason"] == "why"


def test_optuna_is_seeded(tmp_path: Path) -> None:
    def proposals(seed: int, where: Path) -> list[str]:
        strategy = optuna_strategy(where, make_case(MIXED, strategy="optuna", seed=seed))
        return [strategy.propose(i).id for i in range(3)]

    first = proposals(5, tmp_path / "a")
    assert proposals(5, tmp_path / "b") == first
    assert proposals(6, tmp_path / "c") != first


def test_optuna_minimizes_what_the_objective_minimizes(tmp_path: Path) -> None:
    case = make_case(GRID, strategy="optuna", objective="minimize_latency")
    strategy = optuna_strategy(tmp_path, case)
    strategy.propose(0)
    assert load(tmp_path).direction == optuna.study.StudyDirection.MINIMIZE


def test_optuna_never_measures_a_configuration_twice(tmp_path: Path) -> None:
    """Two configurations, two slots: TPE's repeats are told the earlier score, not deployed."""
    case = make_case({"schedule-policy": ["fcfs", "lpm"]}, strategy="optuna", trials=5,
                     startup_trials=0)
    strategy = optuna_strategy(tmp_path, case)
    assert strategy.budget() == 2
    first = strategy.propose(0)
    strategy.observe(trial_of(first, case, 100.0))
    second = strategy.propose(1)
    assert second.key != first.key
    strategy.observe(trial_of(second, case, 50.0))
    with pytest.raises(SearchExhausted):
        strategy.propose(2)
    study = load(tmp_path)
    assert [t.user_attrs["configuration"] for t in measured(study)] == [first.id, second.id]
    for repeat in (t for t in study.trials if "duplicate_of" in t.user_attrs):
        original = study.trials[repeat.user_attrs["duplicate_of"]]
        assert repeat.params == original.params
        assert (repeat.state, repeat.value) == (original.state, original.value)


def test_optuna_does_not_propose_what_another_worker_is_measuring(tmp_path: Path) -> None:
    """Two strategies over one study (two xdist workers): a configuration in flight on one is
    never proposed by the other."""
    case = make_case({"schedule-policy": ["fcfs", "lpm", "lof"]}, strategy="optuna")
    one, two = optuna_strategy(tmp_path, case), optuna_strategy(tmp_path, case)
    proposed = [one.propose(0), two.propose(1), one.propose(2)]
    assert len({c.key for c in proposed}) == 3
    study = load(tmp_path)
    for repeat in (t for t in study.trials if "duplicate_of" in t.user_attrs):
        assert repeat.state == TrialState.FAIL  # the original had no score yet


def test_a_resumed_study_goes_on_with_new_configurations(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    case = make_case(GRID, strategy="optuna", trials=3, seed=1)
    first = optuna_strategy(tmp_path, case, "run-1", url)
    earlier = [first.propose(i) for i in range(3)]
    for config, score in zip(earlier, (10.0, 20.0, 30.0), strict=True):
        first.observe(trial_of(config, case, score))
    second = optuna_strategy(tmp_path, case, "run-2", url)
    later = [second.propose(i) for i in range(3)]
    assert not {c.key for c in later} & {c.key for c in earlier}  # 6 configurations in all
    study = optuna.load_study(study_name="chat", storage=url)
    runs = [(t.number, t.user_attrs["run"]) for t in measured(study)]
    assert [r for _, r in runs] == ["run-1"] * 3 + ["run-2"] * 3
    assert [n for n, _ in runs] == sorted(n for n, _ in runs)


def test_a_float_range_is_sampled_as_a_float_distribution(tmp_path: Path) -> None:
    strategy = optuna_strategy(tmp_path, make_case(MIXED, strategy="optuna"))
    config = strategy.propose(0)
    distributions = load(tmp_path).trials[0].distributions
    assert type(distributions["mem-fraction-static"]).__name__ == "FloatDistribution"
    assert distributions["max-running-requests"].log  # type: ignore[attr-defined]
    assert distributions["chunked-prefill-size"].step == 2048  # type: ignore[attr-defined]
    assert type(distributions["schedule-policy"]).__name__ == "CategoricalDistribution"
    value = config.as_dict()["mem-fraction-static"]
    assert isinstance(value, float) and math.isfinite(value)


def test_without_optuna_a_case_asking_for_it_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(strategy_optuna, "optuna_missing", lambda: True)
    with pytest.raises(ConfigError, match=r"pip install 'pytest-autotune\[search\]'") as info:
        make_builtin("optuna", make_case(GRID, strategy="optuna"))
    assert info.value.field == "search.strategy"


def test_a_configuration_an_interrupted_run_left_is_measured_by_the_next(tmp_path: Path) -> None:
    journal = str(tmp_path / "study.log")  # --autotune-study may name a journal file too
    case = make_case({"schedule-policy": ["fcfs", "lpm"]}, strategy="optuna", trials=2)
    first = optuna_strategy(tmp_path, case, "run-1", journal)
    done, cut = first.propose(0), first.propose(1)
    first.observe(trial_of(done, case, 10.0))
    first.close()  # interrupted before the second was scored
    second = optuna_strategy(tmp_path, case, "run-2", journal)
    assert second.propose(0).key == cut.key
    with pytest.raises(SearchExhausted):
        second.propose(1)
