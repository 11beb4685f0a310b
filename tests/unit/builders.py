"""Values the unit tests build with the real types: cases, settings, metrics, records, trials."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pytest_autotune.cases import case_from_marker
from pytest_autotune.cases.case import Case
from pytest_autotune.decide.slo import evaluate
from pytest_autotune.decide.stats import INF, Interval, critical
from pytest_autotune.results.records import ConfigIdentity, DeploymentFacts, PointRecord, Trial
from pytest_autotune.settings import Settings
from pytest_autotune.values import Metrics, Stat, WorkloadPoint


def case_of(body: Mapping[str, Any], name: str = "t", source: str = "t.py") -> Case:
    """A case as a marker (or a YAML file's mapping) would give it; the model path defaults
    to one the simulator cannot infer a shape from, so a body that deploys names ``sim.model``."""
    return case_from_marker({"model": {"path": "m"}, **body}, source=source,
                            default_name=name, base_dir=Path("."))


def make_case(slos: list[str], scenarios: list[str], levels: list[int]) -> Case:
    return case_of({"slo": slos, "workload": {"scenarios": scenarios, "concurrency": levels,
                                              "max_requests": 8}})


def settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Sim-mode settings writing under ``tmp_path`` (``overrides``: any other field)."""
    values: dict[str, Any] = dict(
        mode="sim", results_dir=tmp_path, storage=tmp_path, verbose=False, strict=False,
        deploy_timeout=None, bench_timeout=None, endpoint=None, gpus=None, sim_gpus=8,
        sim_startup_scale=None, lock_dir=tmp_path)
    values.update(overrides)
    return Settings(**values)


def metrics(out: float, e2e: float, ttft: float = 0.05, tpot: float = 0.002, *,
            intervals: Mapping[str, Interval] | None = None, passes: int = 1) -> Metrics:
    """A point's metrics: output throughput ``out`` tok/s, end-to-end latency ``e2e`` s."""
    return Metrics(ttft=Stat(mean=ttft, p99=ttft * 2), tpot=Stat(mean=tpot),
                   e2e=Stat(mean=e2e, p50=e2e, p90=e2e * 1.2, p99=e2e * 1.5),
                   output_latency=Stat(), output_throughput=out, input_throughput=out,
                   total_throughput=2 * out, request_throughput=1.0, num_requests=10,
                   num_errors=0, run_duration=1.0, intervals=dict(intervals or {}),
                   passes=passes)


def around(value: float, se: float, df: float = INF) -> Interval:
    """The interval of ``value`` with standard error ``se`` on ``df`` degrees of freedom."""
    half = critical(df) * se
    return Interval(value - half, value + half, "t", 3, df=df)


def record(config: str, c: int, metrics: Metrics | None, slos: list[Any], objective: str,
           index: int = 0, outcome: Literal["passed", "failed"] = "passed",
           gpus: list[str] | None = None, expected_points: int = 2) -> PointRecord:
    """One point's record of configuration ``config`` (key ``k[config]``) of case ``k``."""
    verdicts = tuple(evaluate(slos, metrics)) if metrics else ()
    identity = ConfigIdentity(case="k", source="k.yaml", config_id=config,
                              config_key=f"k[{config}]", index=index, params={"x": index},
                              objective=objective, steepness=0.1)
    made = PointRecord(config=identity, point=WorkloadPoint("D(1,1)", c), outcome=outcome,
                       metrics=metrics, verdicts=verdicts, expected_points=expected_points,
                       deployment=DeploymentFacts(gpus=tuple(gpus or ["0"])))
    assert PointRecord.from_dict(made.to_dict()) == made  # crosses xdist as a dict
    return made


def scored_trial(index: int, score: float, se: float | None, df: float = INF,
                 params: dict[str, int] | None = None,
                 objective: str = "max_output_throughput") -> Trial:
    """A scored configuration whose score interval has standard error ``se`` on ``df``."""
    identity = ConfigIdentity(case="k", source="k.yaml", config_id=f"c{index}",
                              config_key=f"c{index}", index=index, params=params or {},
                              objective=objective)
    return Trial(config=identity, score=score,
                 score_interval=around(score, se, df) if se is not None else None)
