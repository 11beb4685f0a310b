"""From validated specs to a :class:`Case`: flag normalisation, the grid, SLOs, workload."""

from __future__ import annotations

import itertools
import random
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import AutotuneWarning
from ..model import Configuration, FlagValue, Workload
from ..runtimes import sglang
from ..slo import SLO, parse_slo
from .case import DEFAULT_OBJECTIVE, Case, SimSettings
from .locate import Locator, Problems
from .schema import CaseSpec, SLOSpec

OBJECTIVES = (DEFAULT_OBJECTIVE, "minimize_latency", "maximize_throughput", "minimize_ttft",
              "minimize_tpot")


def normalize_flags(
    raw: Mapping[str, Any], *, section: str, problems: Problems
) -> dict[str, FlagValue]:
    """Canonical flag names and checked values for a ``flags:`` mapping; each bad flag is a
    problem, the others are kept."""
    out: dict[str, FlagValue] = {}
    for key, value in raw.items():
        try:
            name, coerced = sglang.normalize(key, value)
        except (KeyError, ValueError) as exc:
            problems.add((section, key), str(exc.args[0] if exc.args else exc))
            continue
        if name in out:
            problems.add((section, key), f"--{name} is given twice")
            continue
        out[name] = coerced
    return out


def expand_grid(
    case_name: str,
    raw: Mapping[str, Sequence[Any]],
    *,
    source: str,
    problems: Problems,
    allow_empty: bool = False,
) -> list[Configuration]:
    """Every combination, first key varying slowest (the earlier tool's order). Each bad
    parameter or value is a problem; the grid is built from what is left."""
    axes: list[tuple[str, list[FlagValue]]] = []
    labels: list[tuple[str, str]] = []
    for key, values in raw.items():
        if not values:
            if allow_empty:  # the earlier tool skipped empty lists: do so, and say so
                warnings.warn(AutotuneWarning(
                    f"{source}: parameters.{key} lists no values; the parameter is left out of "
                    "the grid, as the earlier tool did (give values or remove it)"), stacklevel=2)
                continue
            problems.add(("parameters", key),
                         "empty list of values: give at least one value (or remove the parameter)")
            continue
        try:
            flag = sglang.lookup(key)
        except KeyError as exc:
            problems.add(("parameters", key), str(exc.args[0]))
            continue
        if any(name == flag.name for name, _ in axes):
            problems.add(("parameters", key), f"--{flag.name} is given twice")
            continue
        coerced: list[FlagValue] = []
        for i, value in enumerate(values):
            try:
                item = flag.coerce(value)
            except ValueError as exc:
                problems.add(("parameters", key, i), str(exc))
                continue
            if item in coerced:
                problems.add(("parameters", key, i), f"value {value!r} repeats")
                continue
            coerced.append(item)
        if coerced:
            axes.append((flag.name, coerced))
            labels.append((flag.name, key))
    names = [name for name, _ in axes]
    combos = itertools.product(*(values for _, values in axes))
    return [
        Configuration(case_name, tuple(zip(names, combo, strict=True)), tuple(labels), index=i)
        for i, combo in enumerate(combos)
    ]


def limit_configurations(
    configs: list[Configuration], limit: int | None, *, strategy: str = "grid", seed: int = 0
) -> list[Configuration]:
    """Cap the number of configurations: the first N (grid) or a seeded sample (random)."""
    if limit is None or limit >= len(configs):
        return configs
    if strategy == "random":
        picked = sorted(random.Random(seed).sample(range(len(configs)), limit))
        return [configs[i] for i in picked]
    return configs[:limit]


def workload_from_spec(spec: CaseSpec) -> Workload:
    w = spec.workload
    return Workload(
        scenarios=tuple(w.scenarios),
        concurrency=tuple(w.concurrency),
        max_requests=w.max_requests,
        max_time_s=w.max_time,
        warmup_ratio=w.warmup_ratio,
        cooldown_ratio=w.cooldown_ratio,
        prefix_len=w.prefix_len,
        prefix_ratio=w.prefix_ratio,
        task=w.task,
        additional_request_params=dict(w.additional_request_params),
        dataset_path=w.dataset,
        repeats=w.repeats,
        redeploy=w.redeploy,
    )


def slos_from_spec(spec: CaseSpec, *, problems: Problems) -> list[SLO]:
    items: list[tuple[tuple[str | int, ...], str, SLOSpec | None]] = []
    if isinstance(spec.slo, str):
        for part in (p.strip() for p in spec.slo.split(";")):
            if part:
                items.append((("slo",), part, None))
    else:
        for i, entry in enumerate(spec.slo):
            if isinstance(entry, SLOSpec):
                items.append((("slo", i), entry.expr, entry))
            else:
                for part in (p.strip() for p in entry.split(";")):
                    if part:
                        items.append((("slo", i), part, None))
    slos: list[SLO] = []
    for path, text, extra in items:
        try:
            slo = parse_slo(
                text,
                hard=not (extra.soft if extra else False),
                weight=extra.weight if extra else 1.0,
            )
        except ValueError as exc:
            problems.add(path, str(exc))
            continue
        slos.append(slo)
    return slos


def case_from_spec(spec: CaseSpec, *, name: str, source: str, kind: Any, locate: Locator) -> Case:
    """The case a validated spec describes; every semantic problem (unknown flags, bad values,
    SLOs, objective) is found before one error lists them all."""
    problems = Problems(source, locate)
    if spec.objective not in OBJECTIVES:
        problems.add(("objective",),
                     f"unknown objective {spec.objective!r}: use one of {', '.join(OBJECTIVES)} "
                     "(or score configurations in a pytest_autotune_score_trial hook)")
    base = normalize_flags(spec.flags, section="flags", problems=problems)
    configs = expand_grid(name, spec.parameters_lists(), source=source, problems=problems)
    tuned = {flag_name for config in configs[:1] for flag_name, _ in config.params}
    for flag_name in sorted(tuned & set(base)):
        problems.add(("flags",), f"--{flag_name} is both a fixed flag and a tuned parameter")
    configs = limit_configurations(configs, spec.max_configurations)
    if spec.endpoint and (spec.parameters or spec.flags):
        problems.add(("endpoint",),
                     "a case with an endpoint benchmarks a running server: it cannot set "
                     "parameters or flags (remove them, or drop 'endpoint' to deploy servers)")
    slos = slos_from_spec(spec, problems=problems)
    problems.check()
    timeouts = spec.timeouts
    return Case(
        name=name,
        source=source,
        kind=kind,
        model_path=spec.model.path,
        served_name=spec.model.served_name,
        tokenizer=spec.model.tokenizer,
        runtime=spec.runtime,
        image=spec.image,
        launcher=tuple(spec.launcher) if spec.launcher else None,
        base_flags=tuple(base.items()),
        extra_args=tuple(spec.extra_args),
        env=tuple(spec.env),
        api_key_env=spec.api_key_env,
        endpoint=spec.endpoint,
        gpus_per_server=spec.gpus,
        workload=workload_from_spec(spec),
        configurations=tuple(configs),
        slos=tuple(slos),
        objective=spec.objective,
        sim=SimSettings(**spec.sim.model_dump()),
        deploy_timeout=timeouts.deploy,
        bench_timeout=timeouts.bench,
        description=spec.description,
    )
