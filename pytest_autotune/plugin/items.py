"""What an autotune item is and what it reports: the item → :class:`PointRecord` translation.

Every autotune item (a :class:`~pytest_autotune.plugin.collect.PointItem` of a case file, or a test
parametrized by ``@pytest.mark.autotune``) carries an :class:`ItemInfo` in its stash; its setup
and call fill a :class:`Measurement`; when pytest makes the item's report, :func:`judge` decides
the point's outcome once (setup error, infeasible skip, SLO pass/fail, ...) and the session
attaches the typed record to the report, where it crosses xdist workers as a plain dict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest

from ..results.records import DeploymentFacts, Outcome, PointRecord

if TYPE_CHECKING:
    from ..cases.case import Case
    from ..decide.change import Change
    from ..decide.slo import Verdict
    from ..search.capacity import CapacityResult
    from ..values import Capacity, Configuration, Metrics, WorkloadPoint

#: the key of the record on ``report.__dict__`` (it travels with the report to the controller)
REPORT_KEY = "autotune"
#: a capacity item's other probes, records beside its own
PROBES_KEY = "autotune_probes"


@dataclass(frozen=True)
class ItemInfo:
    """What an autotune item measures; kept in ``item.stash[ITEM_KEY]``.

    ``group`` names the deployment the item shares with its siblings: the configuration's key
    for fixed items, the trial slot's node id for slot items, whose configuration the strategy
    chooses when the slot is set up (``config`` is None until then).
    """

    case: Case
    point: WorkloadPoint
    group: str
    config: Configuration | None = None
    infeasible: str | None = None
    slot: int | None = None
    #: a capacity item: it searches the load of ``capacity.scenario`` (``point`` is its first)
    capacity: Capacity | None = None


@dataclass
class Measurement:
    """What an item's setup and call learned (turned into its record when it reports)."""

    facts: DeploymentFacts | None = None
    metrics: Metrics | None = None
    bench_seconds: float | None = None
    verdicts: tuple[Verdict, ...] = field(default=())
    baseline: tuple[Change, ...] = field(default=())
    #: a capacity item: the point its record stands for (the capacity found), its other probes
    point: WorkloadPoint | None = None
    probes: list[Probe] = field(default_factory=list)
    capacity: CapacityResult | None = None


@dataclass(frozen=True)
class Probe:
    """One load a capacity search measured."""

    point: WorkloadPoint
    outcome: Outcome
    metrics: Metrics | None = None
    verdicts: tuple[Verdict, ...] = ()
    reason: str | None = None
    bench_seconds: float | None = None


ITEM_KEY = pytest.StashKey[ItemInfo]()
MEASUREMENT_KEY = pytest.StashKey[Measurement]()
#: set once the item's record went out (an item reports one outcome, not one per phase)
SENT_KEY = pytest.StashKey[bool]()


class InfeasibleSkip(pytest.skip.Exception):  # type: ignore[misc,name-defined]
    """A skip that means: this configuration cannot run on this hardware.

    Reported by pytest as ``Infeasible: <reason>`` (the name users read in skip reasons).
    """


InfeasibleSkip.__module__ = "builtins"
InfeasibleSkip.__qualname__ = "Infeasible"


def measured(item: pytest.Item) -> Measurement:
    """The item's measurement, created on first use."""
    return item.stash.setdefault(MEASUREMENT_KEY, Measurement())


def judge(info: ItemInfo, call: pytest.CallInfo[None], report: pytest.TestReport) -> \
        tuple[Outcome, str | None] | None:
    """The point's outcome and reason from one phase's report, or None when this phase does
    not decide it (a passed setup, a clean teardown)."""
    if call.when == "setup" and report.passed:
        return None
    if call.when == "teardown" and not report.failed:
        return None
    if report.skipped:
        excinfo = call.excinfo
        infeasible = info.infeasible is not None or (
            excinfo is not None and excinfo.errisinstance(InfeasibleSkip)
        )
        return ("infeasible" if infeasible else "skipped"), skip_reason(report)
    if call.when == "call":
        if report.passed:
            return "passed", None
        return "failed", first_lines(report.longreprtext)
    return "error", first_lines(report.longreprtext, 30)


def skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ").removeprefix("Infeasible: ")
    return first_lines(str(longrepr))


def first_lines(text: str, n: int = 12) -> str:
    lines = text.strip().splitlines()
    out = "\n".join(lines[:n])
    return out + ("\n…" if len(lines) > n else "")


#: the metrics every item reports as JUnit properties (with their 95 % intervals)
JUNIT_METRICS = (("output_throughput", None), ("request_throughput", None), ("ttft", "p50"),
                 ("ttft", "p99"), ("tpot", "p50"), ("e2e", "p99"), ("error_rate", None))


def junit_properties(record: PointRecord) -> list[tuple[str, str]]:
    """``autotune.*`` properties for ``--junitxml``: configuration, point, outcome, metrics
    with intervals, SLO verdicts, and the baseline comparison."""
    from ..values import stat_key

    props = [("autotune.case", record.config.case),
             ("autotune.configuration", record.config.config_id),
             ("autotune.point", record.point.id), ("autotune.outcome", record.outcome)]
    props += [(f"autotune.flag.{k}", str(v)) for k, v in record.config.params.items()]
    m = record.metrics
    if m is not None:
        wanted = list(JUNIT_METRICS) + [(v.slo.metric, v.slo.stat) for v in record.verdicts]
        for metric, stat in dict.fromkeys(wanted):
            value = m.value(metric, stat)
            if value is None:
                continue
            key = f"autotune.metric.{stat_key(metric, stat)}"
            props.append((key, f"{value:.6g}"))
            iv = m.interval(metric, stat)
            if iv is not None:
                low = f"{iv.low:.6g}" if iv.low != float("-inf") else "-inf"
                high = f"{iv.high:.6g}" if iv.high != float("inf") else "inf"
                props.append((key + ".ci95", f"{low}..{high}"))
        props.append(("autotune.passes", str(m.passes)))
    for v in record.verdicts:
        measured = "-" if v.measured is None else f"{v.measured:.6g}"
        props.append((f"autotune.slo.{v.slo.text}", f"{v.state} (measured {measured})"))
    for c in record.baseline:
        props.append((f"autotune.baseline.{c.metric}", c.text()))
    return props
