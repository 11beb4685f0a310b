"""From validated specs to a :class:`Case`: flag normalisation, the grid, SLOs, workload."""

from __future__ import annotations

import difflib
import math
import warnings
from collections.abc import Mapping
from typing import Any

from ..errors import AutotuneWarning
from ..model import Configuration, FlagValue, Workload
from ..runtimes import sglang
from ..slo import SLO, parse_slo
from ..space import MAX_RANGE_VALUES, Axis, Choice, Range, Space
from .case import DEFAULT_OBJECTIVE, Case, SearchSettings, SimSettings
from .locate import Locator, Problems
from .schema import CaseSpec, SLOSpec

OBJECTIVES = (DEFAULT_OBJECTIVE, "minimize_latency", "maximize_throughput", "minimize_ttft",
              "minimize_tpot")
#: objective names a case file spells as a person would read them: in a YAML case or a marker,
#: ``maximize_throughput`` is the highest output throughput (higher is better); the earlier
#: tool's negated "lower is better" score of that name is kept for its task files only
YAML_ALIASES = {"maximize_throughput": DEFAULT_OBJECTIVE}


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


def parse_space(
    raw: Mapping[str, Any],
    *,
    source: str,
    problems: Problems,
    allow_empty: bool = False,
) -> Space:
    """The parameter space: a list (or one value) is categorical, a mapping a numeric range.
    Each bad parameter or value is a problem; the space is built from what is left."""
    axes: list[Axis] = []
    for key, spec in raw.items():
        path: tuple[str | int, ...] = ("parameters", key)
        if isinstance(spec, list) and not spec:
            if allow_empty:  # the earlier tool skipped empty lists: do so, and say so
                warnings.warn(AutotuneWarning(
                    f"{source}: parameters.{key} lists no values; the parameter is left out of "
                    "the grid, as the earlier tool did (give values or remove it)"), stacklevel=2)
                continue
            problems.add(path,
                         "empty list of values: give at least one value (or remove the parameter)")
            continue
        try:
            flag = sglang.lookup(key)
        except KeyError as exc:
            problems.add(path, str(exc.args[0]))
            continue
        if any(axis.name == flag.name for axis in axes):
            problems.add(path, f"--{flag.name} is given twice")
            continue
        line = problems.locate((*problems.prefix, *path))
        axis: Axis | None
        if isinstance(spec, dict):
            axis = parse_range(flag, key, spec, problems=problems, line=line)
        else:
            axis = parse_choice(flag, key, spec if isinstance(spec, list) else [spec],
                                problems=problems, line=line)
        if axis is not None:
            axes.append(axis)
    return Space(tuple(axes))


def parse_choice(flag: sglang.Flag, key: str, values: list[Any], *, problems: Problems,
                 line: int | None) -> Choice | None:
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
    return Choice(flag.name, key, tuple(coerced), line) if coerced else None


RANGE_KEYS = ("low", "high", "step", "log")
RANGE_FORM = "a range is {low, high} with an optional step, or log: true"


def _number(flag: sglang.Flag, value: object, what: str) -> int | float:
    """A range's end or step: checked as the flag checks its values, and finite."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{what} is a number, got {value!r}")
    number = flag.coerce(value)
    assert isinstance(number, (int, float))
    if not math.isfinite(number):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    if flag.allow_minus_one and number == -1 and flag.minimum is not None:
        raise ValueError(f"-1 turns --{flag.name} off and cannot end a range: a range runs "
                         f"from {flag.minimum:g} up (list -1 with other values instead)")
    return number


def parse_range(flag: sglang.Flag, key: str, spec: Mapping[str, Any], *, problems: Problems,
                line: int | None) -> Range | None:
    """``{low, high}`` (continuous; whole numbers for an integer flag), ``{low, high, step}``
    (a grid of values) or ``{low, high, log: true}`` (log-uniform)."""
    path: tuple[str | int, ...] = ("parameters", key)
    before = len(problems.items)
    for name in spec:
        if name not in RANGE_KEYS:
            close = difflib.get_close_matches(str(name), RANGE_KEYS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.add((*path, str(name)), f"unknown key {name!r} in a range{hint} "
                         f"({RANGE_FORM})")
    if flag.kind not in (int, float) or flag.choices:
        problems.add(path, f"--{flag.name} is not numeric, so it takes no range: list its "
                     "values instead")
        return None
    missing = [k for k in ("low", "high") if k not in spec]
    if missing:
        problems.add(path, f"a range needs {' and '.join(missing)} ({RANGE_FORM})")
        return None
    ends: list[int | float] = []
    for end in ("low", "high"):
        try:
            ends.append(_number(flag, spec[end], end))
        except ValueError as exc:
            problems.add((*path, end), str(exc))
    log = spec.get("log", False)
    if not isinstance(log, bool):
        problems.add((*path, "log"), f"log is true or false, got {log!r}")
        log = False
    step = spec.get("step")
    if step is not None and log:
        problems.add((*path, "step"), f"a range takes a step or log: true, not both "
                     f"({RANGE_FORM})")
    elif step is not None and (isinstance(step, bool) or not isinstance(step, (int, float))
                               or not math.isfinite(step) or step <= 0
                               or (flag.kind is int and not isinstance(step, int))):
        kind = "a whole number ≥ 1" if flag.kind is int else "a number > 0"
        problems.add((*path, "step"), f"the step of --{flag.name} is {kind}, got {step!r}")
    if len(problems.items) > before or len(ends) < 2:
        return None
    low, high = ends
    if low >= high:
        problems.add(path, f"low ({low}) must be below high ({high})")
        return None
    if log and low <= 0:
        problems.add((*path, "low"), f"a log range needs low > 0, got {low}")
        return None
    values: tuple[FlagValue, ...] = ()
    if step is not None:
        steps = (high - low) / step
        if not steps < MAX_RANGE_VALUES:  # also an overflow to inf
            many = f"{math.floor(steps) + 1:,}" if math.isfinite(steps) else "too many"
            problems.add((*path, "step"), f"the range holds {many} values (at most "
                         f"{MAX_RANGE_VALUES:,}): use a larger step")
            return None
        count = math.floor(steps + 1e-9) + 1
        try:
            values = tuple(flag.coerce(_clean(low + i * step, flag.kind))
                           for i in range(count))
        except ValueError as exc:  # pragma: no cover - both ends were checked
            problems.add(path, str(exc))
            return None
    return Range(flag.name, key, flag.kind, low, high, step, log, values, line)


def _clean(value: float, kind: type) -> int | float:
    """``0.7 + 3 * 0.05`` is 0.8500000000000001: keep the digits a person wrote."""
    return round(value) if kind is int else float(f"{value:.12g}")


def grid_of(space: Space, case_name: str, limit: int | None = None) -> list[Configuration]:
    """The grid of a space (empty when a grid cannot list it: a range without a step, or too
    many configurations; the grid strategy says so if the case is searched by grid)."""
    try:
        return space.grid(case_name, limit)
    except ValueError:
        return []


def limit_configurations(configs: list[Configuration], limit: int | None) -> \
        list[Configuration]:
    """Keep the first N configurations of the grid."""
    return configs if limit is None else configs[:limit]


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
    space = parse_space(spec.parameters, source=source, problems=problems)
    tuned = {axis.name for axis in space.axes}
    for flag_name in sorted(tuned & set(base)):
        problems.add(("flags",), f"--{flag_name} is both a fixed flag and a tuned parameter")
    configs = grid_of(space, name, spec.max_configurations)
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
        objective=YAML_ALIASES.get(spec.objective, spec.objective),
        sim=SimSettings(**spec.sim.model_dump()),
        deploy_timeout=timeouts.deploy,
        bench_timeout=timeouts.bench,
        description=spec.description,
        space=space,
        search=SearchSettings(strategy=spec.search.strategy, trials=spec.search.trials,
                              seed=spec.search.seed, startup_trials=spec.search.startup_trials,
                              line=locate(("search", "strategy"))
                              if "search" in spec.model_fields_set else None),
    )
