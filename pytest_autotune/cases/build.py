"""From validated specs to a :class:`Case`: flag normalisation, the grid, SLOs, workload."""

from __future__ import annotations

import difflib
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import TypeAdapter, ValidationError

from ..decide.slo import SLO, parse_slo
from ..errors import AutotuneWarning
from ..runtimes import sglang
from ..values import Capacity, Configuration, FlagValue, Workload, format_value
from .case import DEFAULT_OBJECTIVE, Case, OmeSettings, SearchSettings, SimSettings
from .constraints import (
    GPUS,
    ConstraintError,
    Constraints,
    Kind,
    Resolver,
    compile_constraint,
    did_you_mean,
    unsatisfied,
)
from .locate import Locator, Problems
from .schema import CaseSpec, SLOSpec
from .space import MAX_GRID, MAX_RANGE_VALUES, Admit, Axis, Choice, Range, Space

OBJECTIVES = (DEFAULT_OBJECTIVE, "maximize_capacity", "minimize_latency", "maximize_throughput",
              "minimize_ttft", "minimize_tpot")
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


def grid_of(space: Space, case_name: str, limit: int | None = None,
            admit: Admit | None = None) -> list[Configuration]:
    """The grid of a space, less what ``admit`` rejects (empty when a grid cannot list it: a
    range without a step, or too many configurations; the grid strategy says so if the case
    is searched by grid). A constraint that cannot be evaluated raises ConstraintError."""
    try:
        return space.grid(case_name, limit, admit)
    except ConstraintError:
        raise
    except ValueError:
        return []


def _kind(flag: sglang.Flag) -> Kind:
    if flag.kind is bool:
        return "bool"
    return "str" if flag.kind is str else "number"


def _spelled(key: str) -> str:
    return key.strip().lstrip("-").replace("_", "-").lower()


def constraint_names(space: Space, base: Mapping[str, FlagValue],
                     labels: Sequence[str] = ()) -> Resolver:
    """What a constraint's names read: each flag the case tunes or sets, by the key the case
    writes, its canonical name, an alias, with dashes or underscores; and ``gpus``."""
    spellings: dict[str, str] = {}
    shown: list[str] = []
    written = [(sglang.lookup(k).name, k) for k in labels if _known(k)]
    for name, label in [(a.name, a.label) for a in space.axes] + [(n, n) for n in base] + \
            [(n, k) for n, k in written if n in base]:
        flag = sglang.BY_NAME[name]
        for spelling in (flag.name, label, *flag.aliases):
            spellings.setdefault(_spelled(spelling), flag.name)
        for spelling in (label, flag.name):
            if spelling not in shown:
                shown.append(spelling)
    strings = {str(v) for a in space.axes if _kind(sglang.BY_NAME[a.name]) == "str"
               for v in a.values}

    def resolve(name: str) -> tuple[str, Kind]:
        if name.lower() == GPUS:
            return GPUS, "number"
        key = _spelled(name)
        if key in spellings:
            canonical = spellings[key]
            return canonical, _kind(sglang.BY_NAME[canonical])
        flag = _exact_flag(key)
        if flag is not None:
            default = sglang.DEFAULTS.get(flag.name)
            fix = (f"tune it under parameters, or set it under flags (SGLang's default: "
                   f"{flag.name}: {format_value(default)})" if default is not None else
                   "tune it under parameters, or set it under flags")
            raise ConstraintError(f"the constraint names {name}, which the case neither tunes "
                                  f"nor sets: {fix}")
        if name in strings:
            raise ConstraintError(f"unknown name {name!r}: a string is quoted ('{name}')")
        raise ConstraintError(f"unknown name {name!r}{did_you_mean(name, [*shown, GPUS])} "
                              f"(names: {', '.join([*shown, GPUS])})")

    return resolve


def _known(key: str) -> bool:
    try:
        sglang.lookup(key)
    except KeyError:
        return False
    return True


def _exact_flag(key: str) -> sglang.Flag | None:
    """The catalogue flag ``key`` spells exactly (by name or alias; not a prefix)."""
    try:
        flag = sglang.lookup(key)
    except KeyError:
        return None
    return flag if key == flag.name or key in flag.aliases else None


def parse_constraints(raw: Sequence[str], *, space: Space, base: Mapping[str, FlagValue],
                      labels: Sequence[str] = (), problems: Problems) -> Constraints:
    """The case's constraints, each compiled against the flags the case tunes and sets; each
    one that does not compile is a problem at ``constraints[i]``."""
    resolve = constraint_names(space, base, labels)
    items = []
    for i, text in enumerate(raw):
        path: tuple[str | int, ...] = ("constraints", i)
        try:
            items.append(compile_constraint(text, resolve, index=i,
                                            line=problems.locate((*problems.prefix, *path))))
        except ConstraintError as exc:
            problems.add(path, exc.message)
    named = {n for c in items for n in c.names}
    fixed = tuple((n, v) for n, v in base.items() if n in named)
    return Constraints(tuple(items), fixed, problems.locate((*problems.prefix, "constraints")))


def constrained_grid(space: Space, case_name: str, constraints: Constraints, *,
                     limit: int | None, problems: Problems) -> list[Configuration]:
    """The grid less the configurations a constraint that does not name ``gpus`` excludes
    (those that do are the strategy's, which knows the pool); a problem when no configuration
    of the space satisfies them."""
    early = constraints.without_gpus()
    if not early:
        return grid_of(space, case_name, limit)
    admit = early.admits()
    try:
        configs = grid_of(space, case_name, limit, admit)
        if configs:
            return configs
        if space.not_enumerable() is None and (space.size or 0) <= MAX_GRID:
            problems.add(("constraints",), unsatisfied(space, early))
        elif space.satisfiable(admit) is not True:
            problems.add(("constraints",), "none of 1,000 configurations drawn from the space "
                         "satisfies the constraints: loosen them or widen the space")
    except ConstraintError as exc:
        problems.add(("constraints", exc.index) if exc.index is not None else ("constraints",),
                     exc.message)
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
        capacity=Capacity(scenario=w.capacity.scenario, low=w.capacity.low, high=w.capacity.high,
                          tolerance=w.capacity.tolerance, by=w.capacity.by)
        if w.capacity is not None else None,
    )


def slos_from_spec(spec: CaseSpec, *, problems: Problems) -> list[SLO]:
    return slos_from(spec.slo, problems=problems)


def slos_from(raw: list[str | SLOSpec] | str, *, problems: Problems) -> list[SLO]:
    items: list[tuple[tuple[str | int, ...], str, SLOSpec | None]] = []
    if isinstance(raw, str):
        for part in (p.strip() for p in raw.split(";")):
            if part:
                items.append((("slo",), part, None))
    else:
        for i, entry in enumerate(raw):
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


def _objective_problems(objective: str, problems: Problems) -> None:
    if objective not in OBJECTIVES:
        problems.add(("objective",),
                     f"unknown objective {objective!r}: use one of {', '.join(OBJECTIVES)} "
                     "(or score configurations in a pytest_autotune_score_trial hook)")


def semantic_problems(data: Mapping[str, Any], *, source: str, problems: Problems) -> None:
    """The meaning of each section that is well formed (flags, parameters, constraints, SLOs,
    objective), checked although another part of the case is not — an unknown key, a missing
    field — so that one error lists every mistake of the file. A problem at a path the
    structure check already reported is not repeated."""
    reported = {path for path, _ in problems.items}
    found = Problems(problems.source, problems.locate, problems.prefix)

    def valid(key: str) -> Any:
        if key not in data:
            return CaseSpec.model_fields[key].get_default(call_default_factory=True)
        if any(path[:1] == (key,) for path in reported):
            return None
        annotation = CaseSpec.model_fields[key].annotation
        assert annotation is not None
        try:
            return TypeAdapter(annotation).validate_python(data[key])
        except ValidationError:
            return None

    objective = valid("objective")
    if isinstance(objective, str):
        _objective_problems(objective, found)
    flags, parameters = valid("flags"), valid("parameters")
    base = normalize_flags(flags, section="flags", problems=found) if flags is not None else {}
    space = parse_space(parameters or {}, source=source, problems=found)
    for flag_name in sorted({axis.name for axis in space.axes} & set(base)):
        found.add(("flags",), f"--{flag_name} is both a fixed flag and a tuned parameter")
    constraints = valid("constraints")
    if constraints and flags is not None and parameters is not None:
        parse_constraints(constraints, space=space, base=base, labels=list(flags),
                          problems=found)
    slo = valid("slo")
    if slo is not None:
        slos_from(slo, problems=found)
    for path, message in found.items:
        if not any(done and path[:len(done)] == done for done in reported):
            problems.add(path, message)
    # in the order of the file, as a person reads and fixes it
    problems.items.sort(key=lambda item: problems.locate((*problems.prefix, *item[0])) or 0)


def case_from_spec(spec: CaseSpec, *, name: str, source: str, kind: Any, locate: Locator) -> Case:
    """The case a validated spec describes; every semantic problem (unknown flags, bad values,
    SLOs, objective) is found before one error lists them all."""
    problems = Problems(source, locate)
    if spec.objective == "maximize_capacity" and spec.workload.capacity is None:
        problems.add(("objective",),
                     "maximize_capacity ranks configurations by the load a capacity search "
                     "finds: add workload.capacity (scenario, low, high), or choose another "
                     "objective")
    _objective_problems(spec.objective, problems)
    base = normalize_flags(spec.flags, section="flags", problems=problems)
    space = parse_space(spec.parameters, source=source, problems=problems)
    tuned = {axis.name for axis in space.axes}
    for flag_name in sorted(tuned & set(base)):
        problems.add(("flags",), f"--{flag_name} is both a fixed flag and a tuned parameter")
    constraints = parse_constraints(spec.constraints, space=space, base=base,
                                    labels=list(spec.flags), problems=problems)
    configs = constrained_grid(space, name, constraints, limit=spec.max_configurations,
                               problems=problems) if not problems else []
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
        sglang_version=spec.sglang_version,
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
        ome=OmeSettings(**spec.ome.model_dump()),
        deploy_timeout=timeouts.deploy,
        bench_timeout=timeouts.bench,
        description=spec.description,
        space=space,
        search=SearchSettings(strategy=spec.search.strategy, trials=spec.search.trials,
                              seed=spec.search.seed, startup_trials=spec.search.startup_trials,
                              line=locate(("search", "strategy"))
                              if "search" in spec.model_fields_set else None),
        constraints=constraints,
        grid_limit=spec.max_configurations,
    )
