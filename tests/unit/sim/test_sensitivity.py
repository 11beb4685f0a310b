"""Every tunable flag moves the simulated metrics in SGLang's documented direction."""

from __future__ import annotations

import pytest

from pytest_autotune.sim.sensitivity import EXPERIMENTS, Experiment, monotone, run_experiment


@pytest.mark.parametrize("exp", EXPERIMENTS, ids=[e.name for e in EXPERIMENTS])
def test_direction(exp: Experiment) -> None:
    rows = run_experiment(exp)
    for metric, direction in {exp.metric: exp.direction, **exp.also}.items():
        values = [m[metric] for _, m in rows]
        table = ", ".join(f"{v}: {x:.4g}" for (v, _), x in zip(rows, values, strict=True))
        assert monotone(values, direction), f"{exp.flag} -> {metric} not {direction}: {table}"


def test_noise_zero_is_deterministic() -> None:
    exp = EXPERIMENTS[0]
    assert run_experiment(exp) == run_experiment(exp)
