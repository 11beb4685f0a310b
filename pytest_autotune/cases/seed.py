"""The earlier script-based autotuner's task JSON, accepted unchanged.

Known keys are validated; keys that only mattered to the earlier tool's web UI or OME templates
are accepted and ignored (listed in ``IGNORED``), so its task files keep working as they are.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SEED_OBJECTIVES = ("minimize_latency", "maximize_throughput", "minimize_ttft", "minimize_tpot")

#: accepted for compatibility, without effect in this tool (the earlier CLI ignored them too)
IGNORED = {
    "description": "",
    "deployment_mode": "the mode is chosen with --autotune-mode",
    "clusterbasemodel_config": "OME resources are not created by this tool",
    "clusterservingruntime_config": "OME resources are not created by this tool",
    "storage": "OME storage is not used by this tool",
    "quant_config": "the earlier CLI ignored it too; put quantization flags in parameters",
}


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class SeedModel(_Open):
    id_or_path: str | None = None
    name: str | None = None  # before the earlier tool renamed it to id_or_path
    namespace: str = "default"

    @model_validator(mode="after")
    def _one_name(self) -> SeedModel:
        if not (self.id_or_path or self.name):
            raise ValueError("model needs id_or_path (or the older name)")
        return self

    @property
    def path(self) -> str:
        return str(self.id_or_path or self.name)


class SeedOptimization(_Open):
    strategy: Literal["grid_search", "random", "bayesian"] = "grid_search"
    objective: str = "minimize_latency"
    max_iterations: int = Field(100, ge=1)
    timeout_per_iteration: float = Field(1800.0, gt=0)
    seed: int | None = None
    #: bayesian: trials sampled at random before the model takes over
    n_initial_random: int | None = Field(None, ge=0)

    @field_validator("objective")
    @classmethod
    def _objective(cls, value: str) -> str:
        if value not in SEED_OBJECTIVES:
            allowed = ", ".join(SEED_OBJECTIVES)
            raise ValueError(f"unknown objective {value!r}: use one of {allowed}")
        return value


class SeedBenchmark(_Open):
    task: Literal["text-to-text"] = "text-to-text"
    model_name: str | None = None
    model_tokenizer: str | None = None
    traffic_scenarios: list[str] = Field(default_factory=lambda: ["D(100,100)"], min_length=1)
    num_concurrency: list[int] = Field(default_factory=lambda: [1], min_length=1)
    max_time_per_iteration: int = Field(10, ge=1, description="minutes, as genai-bench takes it")
    max_requests_per_iteration: int = Field(50, ge=1)
    additional_params: dict[str, Any] | None = None
    dataset_url: str | None = None
    dataset_deduplicate: bool = True


class SeedSLOEntry(_Open):
    threshold: float | None = Field(None, ge=0)
    weight: float = Field(1.0, ge=0)
    hard_fail: bool = False
    fail_ratio: float = Field(0.5, ge=0)


class SeedLatencySLO(_Open):
    p50: SeedSLOEntry | None = None
    p90: SeedSLOEntry | None = None
    p99: SeedSLOEntry | None = None


class SeedSLO(_Open):
    latency: SeedLatencySLO | None = None
    ttft: SeedSLOEntry | None = None
    tpot: SeedSLOEntry | None = None
    steepness: float = Field(0.1, gt=0)


class SeedTask(_Open):
    task_name: str = Field(min_length=1)
    model: SeedModel
    base_runtime: str = "sglang"
    runtime_image_tag: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    parallel_config: dict[str, Any] | None = None
    optimization: SeedOptimization = Field(default_factory=SeedOptimization)  # type: ignore[arg-type]
    benchmark: SeedBenchmark = Field(default_factory=SeedBenchmark)  # type: ignore[arg-type]
    slo: SeedSLO | None = None

    @field_validator("base_runtime")
    @classmethod
    def _runtime(cls, value: str) -> str:
        # the earlier tool matched by prefix (docker) or substring (local): "sglang-llama-small"
        if "sglang" not in value.lower():
            raise ValueError(
                f"base_runtime {value!r} is not an SGLang runtime; this tool tunes SGLang"
            )
        return value


def seed_parameter_values(key: str, spec: Any) -> list[Any] | dict[str, Any]:
    """A seed parameter: a plain list, ``{"type": "choice", "values": [...]}``, or a range
    ``{"type": "continuous" | "integer", "low": ..., "high": ...}`` (optional ``log``, ``step``),
    returned as the YAML form's range ``{low, high, ...}``."""
    if isinstance(spec, list):
        return spec
    if isinstance(spec, dict):
        kind = spec.get("type")
        if kind in ("choice", "categorical"):
            values = spec.get("values", spec.get("choices"))
            if isinstance(values, list) and values:
                return values
            if isinstance(values, list):
                raise ValueError(f"{kind} parameter {key!r} has no values: list at least one "
                                 "in 'values' (or remove the parameter)")
            raise ValueError(f"{kind} parameter needs a 'values' list")
        if kind in ("continuous", "integer"):
            # searched by random and bayesian (optuna); grid search needs a step
            return {k: v for k, v in spec.items() if k != "type"}
        raise ValueError(f"unknown parameter type {kind!r}: use a list, type 'choice', "
                         "'continuous' or 'integer'")
    return [spec]


#: the earlier tool's strategies and the ones that run them here
SEED_STRATEGIES = {"grid_search": "grid", "random": "random", "bayesian": "optuna"}


PARALLEL_KEYS = {"tp": "tp-size", "dp": "dp-size", "pp": "pp-size"}
