"""The validated, engine-facing form of a tuning case (whatever file or marker it came from)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ..decide.slo import SLO
from ..values import Configuration, FlagValue, Workload
from .constraints import Constraints
from .space import Space

DEFAULT_OBJECTIVE = "max_output_throughput"


@dataclass(frozen=True, slots=True)
class SearchSettings:
    """How a case searches its space (its ``search:`` block; options may override it)."""

    #: grid, random, optuna, or a name a ``pytest_autotune_make_strategy`` hook answers to
    strategy: str = "grid"
    #: the trial budget: trial slots of a sampling strategy, the first N of a grid (None: the
    #: strategy's default)
    trials: int | None = None
    #: seeds the sampling strategies (the same seed proposes the same configurations)
    seed: int = 0
    #: optuna: trials sampled at random before TPE models the results (None: its default)
    startup_trials: int | None = None
    #: the line of ``search.strategy`` in the case file, for messages (None: unknown)
    line: int | None = None


@dataclass(frozen=True, slots=True)
class SimSettings:
    """How the simulator stands in for SGLang in ``sim`` mode."""

    gpu: str = "h100"
    model: str | None = None
    noise: float = 0.03
    #: None: a seed of its own for every deployment (from the run id and the configuration),
    #: so identical runs differ as real deployments do; a number pins it (reproducible tests)
    seed: int | None = None
    startup_scale: float = 1.0
    #: every GPU step this many times slower: a planted regression for gate tests
    slowdown: float = 1.0


@dataclass(frozen=True, slots=True)
class OmeSettings:
    """Where ``ome`` mode deploys a case's servers (its ``ome:`` block; options may override it).

    None means "decide at deploy time": the base model from the model path, the runtime by OME's
    automatic selection, the namespace from ``--autotune-ome-namespace`` or ``default``."""

    #: the ClusterBaseModel (or BaseModel) the InferenceService serves
    base_model: str | None = None
    base_model_kind: str = "ClusterBaseModel"
    #: the ClusterServingRuntime (or ServingRuntime) whose engine the flags are added to
    runtime: str | None = None
    runtime_kind: str = "ClusterServingRuntime"
    namespace: str | None = None


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    source: str
    kind: Literal["yaml", "seed", "marker"]
    model_path: str
    workload: Workload
    #: the grid of the parameter space (empty when the space cannot be listed: a range without
    #: a step), less the configurations a constraint that does not name ``gpus`` excludes, and
    #: cut to ``grid_limit``; a sampling strategy draws from ``space`` instead
    configurations: tuple[Configuration, ...]
    served_name: str | None = None
    tokenizer: str | None = None
    runtime: str = "sglang"
    image: str | None = None
    #: the SGLang release the servers run, when the case names it (``sglang_version``)
    sglang_version: str | None = None
    launcher: tuple[str, ...] | None = None
    base_flags: tuple[tuple[str, FlagValue], ...] = ()
    extra_args: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    api_key_env: str | None = None
    endpoint: str | None = None
    gpus_per_server: int | None = None
    slos: tuple[SLO, ...] = ()
    objective: str = DEFAULT_OBJECTIVE
    #: steepness of the earlier tool's exponential SLO penalty
    penalty_steepness: float = 0.1
    sim: SimSettings = SimSettings()
    ome: OmeSettings = OmeSettings()
    deploy_timeout: float = 600.0
    bench_timeout: float | None = None
    description: str = ""
    #: what a seed task file said that reports echo back (task_name, strategy, ...)
    seed: dict[str, Any] = field(default_factory=dict)
    #: the parameter space: ``configurations`` is its grid, when a grid can list it
    space: Space = field(default_factory=Space)
    search: SearchSettings = SearchSettings()
    #: conditions every configuration measured satisfies (``constraints:``); those naming
    #: ``gpus`` are applied by the strategy, which knows the run's GPU pool
    constraints: Constraints = field(default_factory=Constraints)
    #: ``max_configurations`` (seed tasks: a grid search's ``max_iterations``): the grid keeps
    #: its first N configurations that satisfy the constraints
    grid_limit: int | None = None

    @property
    def api_model_name(self) -> str:
        """The ``model`` field genai-bench sends (SGLang does not check it)."""
        name = self.served_name or self.model_path.rstrip("/").split("/")[-1]
        return name.replace(":", "-")  # SGLang reads "a:b" as base model + LoRA adapter
