"""Reading tuning cases from files and markers into :class:`Case`."""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from ..decide.slo import SLO
from ..errors import AutotuneWarning, ConfigError
from ..values import Workload
from .build import case_from_spec, grid_of, parse_space, semantic_problems
from .case import Case, OmeSettings, SearchSettings, SimSettings
from .locate import Locator, Problems, locator, no_lines, problems_of
from .schema import CASE_KEYS, CaseSpec, SimSpec, WorkloadSpec, canonical_scenario
from .seed import IGNORED, PARALLEL_KEYS, SEED_STRATEGIES, SeedTask, seed_parameter_values

#: a Kubernetes object name: the earlier tool named OME ClusterBaseModels in model.id_or_path
OME_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def _read(path: Path) -> tuple[str, Any]:
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".json":
            return text, json.loads(text)
        return text, yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not valid JSON: {exc.msg}", source=str(path), line=exc.lineno) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"not valid YAML: {problem}", source=str(path), line=line) from None


def is_seed_task(data: Any) -> bool:
    return isinstance(data, dict) and "task_name" in data


def _allowed(model: type[BaseModel]) -> Any:
    def allowed(path: tuple[str | int, ...]) -> list[str]:
        cls: Any = model
        for part in path:
            field = getattr(cls, "model_fields", {}).get(part)
            if field is None:
                return list(getattr(cls, "model_fields", {}))
            ann = field.annotation
            inner = [a for a in getattr(ann, "__args__", (ann,)) if isinstance(a, type)]
            nxt = next((a for a in inner if issubclass(a, BaseModel)), None)
            if nxt is None:
                return []
            cls = nxt
        return list(getattr(cls, "model_fields", {}))

    return allowed


def _validate(
    model: type[BaseModel], data: Any, *, source: str, locate: Locator
) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(
            f"a tuning case is a mapping of keys ({', '.join(CASE_KEYS)}), "
            f"got {type(data).__name__}",
            source=source,
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise problems_of(
            exc, data, source=source, locate=locate, allowed_keys=_allowed(model)
        ).error() from None


def _validate_case(data: Any, *, source: str, locate: Locator) -> CaseSpec:
    """The case's structure, checked by pydantic; when it is wrong, the meaning of the sections
    that are well formed is checked too, and one error lists every problem of the file."""
    if not isinstance(data, dict):
        _validate(CaseSpec, data, source=source, locate=locate)  # raises: not a mapping
    try:
        return CaseSpec.model_validate(data)
    except ValidationError as exc:
        problems = problems_of(exc, data, source=source, locate=locate,
                               allowed_keys=_allowed(CaseSpec))
    semantic_problems(data, source=source, problems=problems)
    raise problems.error()


def load_case_file(path: Path, *, display: str | None = None) -> Case:
    """Validate a YAML case or a seed task JSON; raises ConfigError naming file/line/field."""
    source = display or str(path)
    try:
        text, data = _read(path)
    except ConfigError as exc:
        raise exc.located(source=source) from None
    locate = locator(text)
    if is_seed_task(data):
        return case_from_seed(data, source=source, locate=locate)
    spec = _validate_case(data, source=source, locate=locate)
    return case_from_spec(
        spec, name=spec.name or path.stem, source=source, kind="yaml", locate=locate
    )


MARKER_KEYS = (*CASE_KEYS, "case")


def case_from_marker(
    kwargs: Mapping[str, Any], *, source: str, default_name: str, base_dir: Path
) -> Case:
    """``@pytest.mark.autotune(...)``: the YAML fields as keyword arguments, or ``case=FILE``."""
    unknown = sorted(set(kwargs) - set(MARKER_KEYS))
    if unknown:
        raise ConfigError(
            f"unknown keyword(s) {', '.join(unknown)} (allowed: {', '.join(MARKER_KEYS)})",
            source=source, field="@pytest.mark.autotune",
        )
    if "case" in kwargs:
        if len(kwargs) > 1:
            raise ConfigError(
                "give either case=FILE or the case's fields inline, not both",
                source=source, field="@pytest.mark.autotune",
            )
        file = Path(str(kwargs["case"]))
        if not file.is_absolute():
            file = base_dir / file
        if not file.exists():
            raise ConfigError(f"case file {file} does not exist", source=source,
                              field="@pytest.mark.autotune(case=...)")
        return load_case_file(file)
    data = dict(kwargs)
    spec = _validate_case(data, source=f"{source} @pytest.mark.autotune", locate=no_lines)
    return case_from_spec(
        spec, name=spec.name or default_name, source=source, kind="marker", locate=no_lines
    )


def case_from_seed(data: dict[str, Any], *, source: str, locate: Locator) -> Case:
    """Convert the earlier tool's task (validated) into a Case, keeping its semantics."""
    task: SeedTask = _validate(SeedTask, data, source=source, locate=locate)
    for key in sorted(set(data) - set(SeedTask.model_fields) - set(IGNORED)):
        warnings.warn(
            AutotuneWarning(f"{source}: key {key!r} is not used by pytest-autotune; ignored"),
            stacklevel=2,
        )
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", task.task_name).strip("-") or "task"
    raw: dict[str, Any] = {}
    for key, spec in task.parameters.items():
        try:
            raw[key] = seed_parameter_values(key, spec)
        except ValueError as exc:
            raise ConfigError(str(exc), source=source, field=f"parameters.{key}",
                              line=locate(("parameters", key))) from None
    for key, spec in (task.parallel_config or {}).items():
        if key in PARALLEL_KEYS:
            try:
                values = seed_parameter_values(key, spec)
            except ValueError as exc:
                raise ConfigError(str(exc), source=source, field=f"parallel_config.{key}",
                                  line=locate(("parallel_config", key))) from None
            raw.setdefault(PARALLEL_KEYS[key], values)
    problems = Problems(source, locate)
    space = parse_space(raw, source=source, problems=problems, allow_empty=True)
    problems.check()
    opt = task.optimization
    # grid_search keeps the first max_iterations configurations of the grid; random and
    # bayesian measure max_iterations trial slots, drawn by the random and optuna strategies
    strategy = SEED_STRATEGIES[opt.strategy]
    configs = grid_of(space, name, opt.max_iterations if strategy == "grid" else None)
    search = SearchSettings(strategy=strategy, trials=opt.max_iterations, seed=opt.seed or 0,
                            startup_trials=opt.n_initial_random,
                            line=locate(("optimization", "strategy")))
    bench = task.benchmark
    try:
        scenarios = tuple(canonical_scenario(s) for s in bench.traffic_scenarios)
    except ValueError as exc:
        raise ConfigError(str(exc), source=source, field="benchmark.traffic_scenarios",
                          line=locate(("benchmark", "traffic_scenarios"))) from None
    for c in bench.num_concurrency:
        if c < 1:
            raise ConfigError(f"concurrency levels must be ≥ 1, got {c}", source=source,
                              field="benchmark.num_concurrency",
                              line=locate(("benchmark", "num_concurrency")))
    workload = Workload(
        scenarios=scenarios,
        concurrency=tuple(bench.num_concurrency),
        max_requests=bench.max_requests_per_iteration,
        max_time_s=bench.max_time_per_iteration * 60.0,
        additional_request_params=dict(bench.additional_params or {}),
    )
    image = f"lmsysorg/sglang:{task.runtime_image_tag}" if task.runtime_image_tag else None
    return Case(
        name=name,
        source=source,
        kind="seed",
        model_path=task.model.path,
        served_name=bench.model_name,
        tokenizer=bench.model_tokenizer,
        image=image,
        workload=workload,
        configurations=tuple(configs),
        slos=tuple(seed_slos(task)),
        objective=opt.objective,
        penalty_steepness=task.slo.steepness if task.slo else 0.1,
        sim=SimSettings(),
        # the earlier tool's OME mode: the model is a ClusterBaseModel in model.namespace
        ome=OmeSettings(base_model=task.model.path if OME_NAME.match(task.model.path) else None,
                        namespace=task.model.namespace),
        deploy_timeout=opt.timeout_per_iteration,
        bench_timeout=opt.timeout_per_iteration,
        description=str(data.get("description", "")),
        seed={
            "task_name": task.task_name,
            "strategy": opt.strategy,
            "max_iterations": opt.max_iterations,
            "namespace": task.model.namespace,
        },
        space=space,
        search=search,
        grid_limit=opt.max_iterations if strategy == "grid" else None,
    )


def seed_slos(task: SeedTask) -> list[SLO]:
    """The earlier ``slo`` section as SLOs: soft unless ``hard_fail`` (then past ``fail_ratio``)."""
    if task.slo is None:
        return []
    checks: list[tuple[str, str | None, Any]] = []
    if task.slo.latency is not None:
        for p in ("p50", "p90", "p99"):
            checks.append(("e2e", p, getattr(task.slo.latency, p)))
    checks.append(("ttft", "mean", task.slo.ttft))
    checks.append(("tpot", "mean", task.slo.tpot))
    out: list[SLO] = []
    for metric, stat, entry in checks:
        if entry is None or entry.threshold is None:
            continue
        out.append(
            SLO(metric, stat, "<=", float(entry.threshold),
                f"{metric}.{stat} <= {entry.threshold:g}s",
                hard=entry.hard_fail, weight=entry.weight,
                fail_ratio=entry.fail_ratio if entry.hard_fail else 0.0)
        )
    return out


__all__ = ["CaseSpec", "SimSpec", "WorkloadSpec", "case_from_marker", "load_case_file"]
