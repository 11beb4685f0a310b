"""pydantic models of the YAML / marker tuning-case format (see docs/tuning-cases.md).

Field validators raise ``ValueError`` with a message that says what is allowed; ``load.py`` turns
pydantic's errors into one :class:`~pytest_autotune.errors.ConfigError` naming file, line, field.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SkipValidation,
    field_validator,
    model_validator,
)

from ..units import parse_duration
from .grammar import SCENARIO_HELP, canonical_scenario

__all__ = ["SCENARIO_HELP", "canonical_scenario"]

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
GPU_KINDS = ("h100", "h200", "a100-80g", "h20")


def _duration(value: object) -> float:
    return parse_duration(value)


Duration = Annotated[float, Field(description="seconds, or '200ms', '2m'")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSpec(_Strict):
    path: str = Field(min_length=1, description="--model-path: a hub id or a local directory")
    served_name: str | None = Field(None, description="--served-model-name")
    tokenizer: str | None = Field(
        None, description="tokenizer directory for genai-bench (real modes); default: model.path"
    )


class CapacitySpec(_Strict):
    scenario: str = Field(description="the genai-bench scenario whose load is searched")
    by: Literal["concurrency"] = Field(
        "concurrency", description="the load: concurrent users (genai-bench 0.0.5 has no "
        "open-loop request rate)")
    low: int = Field(1, ge=1, description="the first load probed")
    high: int = Field(256, ge=1, description="the highest load probed")
    tolerance: float = Field(0.1, gt=0.0, le=1.0, description="stop bisecting when the bracket "
                             "is this share of the load found, e.g. 10% (or one user)")

    @field_validator("scenario", mode="before")
    @classmethod
    def _scenario(cls, value: Any) -> Any:
        return canonical_scenario(value) if isinstance(value, str) else value

    @field_validator("tolerance", mode="before")
    @classmethod
    def _tolerance(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().endswith("%"):
            return float(value.strip()[:-1]) / 100.0
        return value

    @model_validator(mode="after")
    def _range(self) -> CapacitySpec:
        if self.high < self.low:
            raise ValueError(f"high ({self.high}) is below low ({self.low})")
        return self


class WorkloadSpec(_Strict):
    scenarios: list[str] = Field(default_factory=list)
    concurrency: list[int] = Field(default_factory=list)
    capacity: CapacitySpec | None = Field(
        None, description="search each configuration's highest load at which every SLO holds")
    max_requests: int = Field(64, ge=1, description="requests per (scenario, concurrency) run")
    max_time: float = Field(60.0, description="time cap per run (genai-bench: whole minutes)")
    warmup_ratio: float | None = Field(None, ge=0.0, lt=1.0)
    cooldown_ratio: float | None = Field(None, ge=0.0, lt=1.0)
    prefix_len: int | None = Field(None, ge=0)
    prefix_ratio: float | None = Field(None, ge=0.0, le=1.0)
    additional_request_params: dict[str, Any] = Field(default_factory=dict)
    dataset: str | None = None
    task: Literal["text-to-text"] = "text-to-text"
    repeats: int | None = Field(
        None, ge=1, description="benchmark passes per point on the running server (default 1; "
        "with racing, the most a contender gets)")
    redeploy: bool = Field(False, description="deploy the server anew before each repeated pass")

    @field_validator("scenarios", mode="before")
    @classmethod
    def _scenarios(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            return [canonical_scenario(v) for v in value]
        return value

    @field_validator("concurrency", mode="before")
    @classmethod
    def _concurrency(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, list):
            raise ValueError(
                f"concurrency is a whole number ≥ 1 or a list of them (e.g. [1, 8, 32]), "
                f"got {value!r}"
            )
        if isinstance(value, list):
            for v in value:
                if isinstance(v, bool) or not isinstance(v, int):
                    raise ValueError(f"concurrency levels are whole numbers ≥ 1, got {v!r}")
                if v < 1:
                    raise ValueError(f"concurrency levels must be ≥ 1, got {v}")
            if len(set(value)) != len(value):
                raise ValueError(f"concurrency levels repeat: {value}")
        return value

    @field_validator("max_time", mode="before")
    @classmethod
    def _max_time(cls, value: Any) -> Any:
        seconds = _duration(value)
        if seconds <= 0:
            raise ValueError("max_time must be positive")
        return seconds

    @model_validator(mode="after")
    def _points_or_capacity(self) -> WorkloadSpec:
        if bool(self.scenarios) != bool(self.concurrency):
            missing = "concurrency" if self.scenarios else "scenarios"
            raise ValueError(f"{missing} is missing: scenarios and concurrency go together "
                             "(the points measured); give both, or neither with a capacity "
                             "search")
        if self.capacity is None and not self.scenarios:
            raise ValueError("a workload needs scenarios and concurrency levels (the points "
                             "measured), a capacity search, or both")
        return self

    @field_validator("additional_request_params")
    @classmethod
    def _no_eos_prompt(cls, value: dict[str, Any]) -> dict[str, Any]:
        if value.get("ignore_eos") is False:
            raise ValueError(
                "ignore_eos: false makes genai-bench ask an interactive question; leave it out"
            )
        return value


class SimSpec(_Strict):
    gpu: str = Field("h100", description=f"one of {', '.join(GPU_KINDS)}")
    model: str | None = Field(None, description="catalogue name or a directory with config.json")
    noise: float = Field(0.03, ge=0.0, le=0.5)
    seed: int | None = Field(
        None, description="noise seed; default: one per deployment, derived from the run id and "
        "the configuration")
    startup_scale: float = Field(1.0, gt=0.0, le=10.0)
    slowdown: float = Field(1.0, gt=0.0, le=10.0,
                            description="every GPU step this many times slower (plant a "
                            "regression)")

    @field_validator("gpu")
    @classmethod
    def _gpu(cls, value: str) -> str:
        key = value.strip().lower()
        aliases = {"h100-sxm": "h100", "a100": "a100-80g", "a100-80gb": "a100-80g"}
        key = aliases.get(key, key)
        if key not in GPU_KINDS:
            raise ValueError(f"unknown GPU {value!r}: use one of {', '.join(GPU_KINDS)}")
        return key


class SLOSpec(_Strict):
    expr: str
    soft: bool = False
    weight: float = Field(1.0, ge=0.0)


_K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class OmeSpec(_Strict):
    base_model: str | None = Field(
        None, description="the ClusterBaseModel (or BaseModel) to serve (default: the model "
        "path's last part in OME's naming, e.g. meta-llama/Llama-3.2-1B-Instruct → "
        "llama-3-2-1b-instruct)")
    base_model_kind: Literal["ClusterBaseModel", "BaseModel"] = "ClusterBaseModel"
    runtime: str | None = Field(
        None, description="the ClusterServingRuntime (or ServingRuntime) to run the engine with "
        "(default: OME selects one for the model)")
    runtime_kind: Literal["ClusterServingRuntime", "ServingRuntime"] = "ClusterServingRuntime"
    namespace: str | None = Field(
        None, description="namespace of the InferenceServices (default: "
        "--autotune-ome-namespace, else default)")

    @field_validator("base_model", "runtime", "namespace")
    @classmethod
    def _k8s_name(cls, value: str | None) -> str | None:
        if value is not None and (len(value) > 63 or not _K8S_NAME.match(value)):
            raise ValueError(f"{value!r} is not a Kubernetes name: lower-case letters, digits "
                             "and '-', at most 63, starting and ending with a letter or digit")
        return value


class TimeoutSpec(_Strict):
    deploy: float = 600.0
    bench: float | None = None

    @field_validator("deploy", "bench", mode="before")
    @classmethod
    def _dur(cls, value: Any) -> Any:
        if value is None:
            return None
        seconds = _duration(value)
        if seconds <= 0:
            raise ValueError("a timeout must be positive")
        return seconds


ParamValue = str | int | float | bool

#: the search strategies this package ships (a ``pytest_autotune_make_strategy`` hook adds others)
STRATEGIES = ("grid", "random", "optuna")
STRATEGY_RE = re.compile(r"^[a-z][a-z0-9_-]*$")


class RangeSpec(_Strict):
    """A numeric parameter range (both ends included). Only documents the form: ``build.py``
    checks a range against its flag, so every problem names the parameter and its line."""

    low: float = Field(description="the smallest value")
    high: float = Field(description="the largest value")
    step: float | None = Field(
        None, gt=0, description="a grid of values low, low + step, ... ≤ high (every strategy, "
        "the grid included); without it the range is continuous (integer flags: every whole "
        "number) and only random and optuna search it")
    log: bool = Field(False, description="sample log-uniformly (random, optuna; needs low > 0; "
                      "not with step)")


#: a parameter: a list of values (categorical), one value, or a numeric range; validated in
#: build.py against the flag catalogue (so the schema only documents the forms)
ParameterSpec = SkipValidation[list[ParamValue] | ParamValue | RangeSpec]


class SearchSpec(_Strict):
    strategy: str = Field("grid", description=f"{' | '.join(STRATEGIES)}, or a strategy a "
                          "pytest_autotune_make_strategy hook adds")
    trials: int | None = Field(
        None, description="the trial budget: how many configurations random and optuna measure "
        "(default 10), the first N configurations of a grid (default: all)")
    seed: int = Field(0, description="seeds random and optuna: the same seed proposes the same "
                      "configurations")
    startup_trials: int | None = Field(
        None, description="optuna: trials sampled at random before TPE models the results "
        "(default: a third of the budget, 2 to 10)")

    @field_validator("strategy")
    @classmethod
    def _strategy(cls, value: str) -> str:
        name = value.strip().lower()
        if not STRATEGY_RE.match(name):
            raise ValueError(f"a search strategy is a name such as {', '.join(STRATEGIES)}; "
                             f"got {value!r}")
        return name

    @field_validator("trials", "startup_trials", mode="before")
    @classmethod
    def _count(cls, value: Any, info: Any) -> Any:
        least = 1 if info.field_name == "trials" else 0
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < least):
            raise ValueError(f"{info.field_name} is a whole number ≥ {least}, got {value!r}")
        return value

    @field_validator("seed", mode="before")
    @classmethod
    def _seed(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"seed is a whole number, got {value!r}")
        return value


class CaseSpec(_Strict):
    name: str | None = None
    description: str = ""
    model: ModelSpec
    runtime: Literal["sglang"] = "sglang"
    image: str | None = None
    sglang_version: str | None = Field(
        None, description="the SGLang release the servers run (e.g. 0.5.23): every flag is "
        "checked against its own flags; --autotune-sglang-version overrides it")
    launcher: list[str] | None = Field(None, min_length=1)
    flags: dict[str, ParamValue] = Field(default_factory=dict)
    parameters: dict[str, ParameterSpec] = Field(
        default_factory=dict, description="the space: each key a flag; a list of values, one "
        "value, or a range {low, high} with an optional step or log: true")
    constraints: list[str] = Field(
        default_factory=list, description="conditions every configuration measured satisfies, "
        "such as 'tp-size * dp-size <= gpus': the case's flag names, gpus (the run's GPU pool), "
        "numbers, quoted strings, + - * / // %, comparisons, in [...], and/or/not")
    search: SearchSpec = Field(default_factory=SearchSpec)  # type: ignore[arg-type]
    extra_args: list[str] = Field(default_factory=list)
    env: list[str] = Field(default_factory=list)
    api_key_env: str | None = None
    endpoint: str | None = None
    gpus: int | None = Field(None, ge=0, description="GPUs per server (0: CPU-only image)")
    workload: WorkloadSpec
    slo: list[str | SLOSpec] | str = Field(default_factory=list)
    objective: str = "max_output_throughput"
    max_configurations: int | None = Field(None, ge=1)
    sim: SimSpec = Field(default_factory=SimSpec)  # type: ignore[arg-type]
    ome: OmeSpec = Field(default_factory=OmeSpec)  # type: ignore[arg-type]
    timeouts: TimeoutSpec = Field(default_factory=TimeoutSpec)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not NAME_RE.match(value):
            raise ValueError(
                f"case name {value!r} may use letters, digits, '.', '_' and '-' only"
            )
        return value

    @field_validator("env")
    @classmethod
    def _env(cls, value: list[str]) -> list[str]:
        for name in value:
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
                raise ValueError(
                    f"env lists variable NAMES to pass through (values stay in the environment), "
                    f"got {name!r}"
                )
        return value

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://", value):
            raise ValueError(f"endpoint must be an http(s) URL, got {value!r}")
        return value

    @field_validator("extra_args")
    @classmethod
    def _extra(cls, value: list[str]) -> list[str]:
        for arg in value:
            if not isinstance(arg, str):
                raise ValueError(f"extra_args are strings, got {arg!r}")
        return value


CASE_KEYS = tuple(CaseSpec.model_fields)
