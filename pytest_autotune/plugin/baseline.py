"""``--autotune-baseline``: the pytest side of the baseline gate (the statistics are gate.py's).

A small plugin, registered by ``pytest_configure`` only when a baseline is given: it resolves the
baseline once on the controller (workers get its path) — one per kind of numbers this run may
measure, since an estimate, the simulator and a real server are never compared — judges each
item's point against the baseline of its kind after the item's own checks, and at the end judges
the run as a whole and records the outcome in the run file.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ..decide.change import Change
from ..decide.gate import Baseline, GateResult, compare_runs
from ..engine.deploy import GATE_PASSES
from ..results.records import kind_text
from .items import ITEM_KEY, MEASUREMENT_KEY

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..backends.base import Capabilities
    from ..results.records import DeploymentFacts, Kind, PointRecord, RunReport
    from ..settings import Settings
    from .context import RunContext

WORKER_KEY = "autotune_baseline_paths"
#: said when a measurement has no baseline of its kind
FIX_KIND = ("gate against a run of the same kind: --autotune-baseline=latest-complete picks the "
            "newest complete one that passed its gate (`pytest-autotune list` shows each run's "
            "kind)")


def expected_kind(caps: Capabilities) -> Kind | None:
    """The kind this run's numbers will be, when the mode alone says (estimate, sim); None
    when only the servers can tell (a real server, or the simulator in an image or a
    cluster)."""
    if caps.estimated:
        return "estimate"
    if caps.simulated:
        return "simulated"
    return None


def measured_kind(caps: Capabilities, facts: DeploymentFacts | None) -> Kind:
    """The kind of what a deployment measured: the mode's where it says (estimate, sim), else
    the server's own word (the simulator's version ends in ``-sim``)."""
    kind = expected_kind(caps)
    if kind is not None:
        return kind
    return "simulated" if facts is not None and facts.simulator else "real"


def load_baselines(settings: Settings, caps: Capabilities,
                   workerinput: Mapping[str, Any]) -> dict[Kind, tuple[Baseline, Path]]:
    """The baseline runs of ``--autotune-baseline``, by kind (a usage error names what is
    wrong). ``latest-complete`` is the newest complete run of this run's kind that passed its
    gate; where the mode cannot tell the kind before measuring (docker, ome, endpoint, local),
    one of each kind a deployment may turn out to be. A worker loads the paths its controller
    chose (``workerinput``)."""
    import json

    from ..results.records import ReportFormatError
    from ..results.runs import describe_latest_complete, find_run, latest_complete, load_run

    ref = settings.baseline
    assert ref is not None
    expected = expected_kind(caps)
    allowed: list[Kind] = [expected] if expected else ["simulated", "real"]
    seen: set[str] = set()

    def notice(message: str) -> None:  # each unreadable file once, not once per kind
        if message not in seen:
            seen.add(message)
            warn(message)

    try:
        if workerinput.get(WORKER_KEY):
            paths = [Path(p) for p in json.loads(workerinput[WORKER_KEY]).values()]
        elif ref == "latest-complete":
            paths = [p for k in allowed
                     if (p := latest_complete(settings.storage, kind=k, notice=notice))]
            if not paths:
                raise FileNotFoundError(describe_latest_complete(settings.storage, expected))
        else:
            paths = [find_run(settings.storage, ref, notice=notice)]
        reports = [(path, load_run(path)) for path in paths]
    except (FileNotFoundError, ReportFormatError) as exc:
        raise pytest.UsageError(f"--autotune-baseline {ref}: {exc}") from None
    out: dict[Kind, tuple[Baseline, Path]] = {}
    for path, report in reports:
        if not report.complete:
            raise pytest.UsageError(
                f"--autotune-baseline {ref}: {path.name} is a partial run "
                f"({'; '.join(report.completeness.reasons)}); gate against a complete one "
                "(latest-complete, or its number)")
        if report.kind not in allowed:
            this = (f"this run is {kind_text(expected)}" if expected else
                    "this run measures the servers it deploys (real ones, or the simulator "
                    "where that is what they run)")
            raise pytest.UsageError(
                f"--autotune-baseline {ref}: {path.name} is {kind_text(report.kind)} and {this}: "
                f"estimates, simulations and real measurements are never compared; {FIX_KIND}")
        assert report.kind is not None
        out[report.kind] = (Baseline(report, path.name, settings.regression_threshold), path)
    return out


def warn(message: str) -> None:
    import warnings

    from ..errors import AutotuneWarning

    warnings.warn(AutotuneWarning(message), stacklevel=2)


class BaselineGate:
    def __init__(self, run: RunContext) -> None:
        self.run = run
        self.baselines = load_baselines(run.settings, run.capabilities(), run.workerinput)
        self.result: GateResult | None = None
        #: the baseline the run as a whole was judged against (its name)
        self.judged_against: str | None = None

    @property
    def names(self) -> str:
        if len(self.baselines) == 1:
            return next(iter(self.baselines.values()))[0].name
        where = {"simulated": "the simulator", "real": "real"}
        return ", ".join(f"{b.name} (where a server is {where.get(kind, kind)})"
                         for kind, (b, _) in self.baselines.items())

    def pytest_report_header(self) -> list[str]:
        settings = self.run.settings
        passes = settings.repeats or GATE_PASSES
        lines = [f"autotune: baseline gate against {self.names}: threshold "
                 f"{settings.regression_threshold:.0%}, {passes} passes per point unless a case "
                 "sets repeats"]
        for baseline, _ in self.baselines.values():
            measured = [p.metrics.passes for c in baseline.report.cases for t in c.trials
                        for p in t.points if p.metrics is not None]
            if measured and min(measured) < passes:
                lines.append(
                    f"autotune: the baseline measured as few as {min(measured)} pass(es) a "
                    "point: its own noise weighs on every comparison; refresh it with "
                    f"--autotune-repeats {passes} --autotune-no-race (docs/ci.md)")
            if baseline.report.gate == "failed":
                lines.append(f"autotune: {baseline.name} failed its own baseline gate "
                             "(chosen by name)")
        return lines

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        import json

        node.workerinput[WORKER_KEY] = json.dumps(
            {kind: str(path) for kind, (_, path) in self.baselines.items()})

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        """After the item's own checks: its point against the baseline's; a significant
        regression beyond the threshold fails it, and so does a baseline of another kind."""
        try:
            result = yield
        finally:
            changes, mismatch = self.judge_item(item)
        if mismatch:
            pytest.fail(mismatch, pytrace=False)
        regressions = [c for c in changes if c.verdict == "regression"]
        if regressions:
            name = self.baseline_of(item)
            pytest.fail("\n".join(f"regression vs baseline {name}: {c.text()}"
                                  for c in regressions), pytrace=False)
        return result

    def baseline_of(self, item: pytest.Item) -> str:
        measured = item.stash.get(MEASUREMENT_KEY, None)
        kind = measured_kind(self.run.capabilities(), measured.facts if measured else None)
        found = self.baselines.get(kind)
        return found[0].name if found else "?"

    def judge_item(self, item: pytest.Item) -> tuple[tuple[Change, ...], str | None]:
        """The item's changes against the baseline of its kind, or why there is none to
        compare with (a baseline of another kind)."""
        info = item.stash.get(ITEM_KEY, None)
        measured = item.stash.get(MEASUREMENT_KEY, None)
        if info is None or measured is None or measured.metrics is None:
            return (), None
        config = self.run.configuration_of(info)
        if config is None:
            return (), None
        kind = measured_kind(self.run.capabilities(), measured.facts)
        found = self.baselines.get(kind)
        if found is None:
            others = ", ".join(f"{b.name} is {kind_text(k)}"
                               for k, (b, _) in self.baselines.items())
            return (), (f"baseline gate: this server was {kind_text(kind)} and {others}: "
                        f"estimates, simulations and real measurements are never compared; "
                        f"{FIX_KIND}")
        changes = found[0].compare(info.case.name, config.id, info.point.id,
                                   measured.metrics, info.case.slos)
        measured.baseline = tuple(changes or ())
        return measured.baseline, None

    def judge_run(self, report: RunReport, records: Sequence[PointRecord]) -> list[str]:
        """Each case's best score, what either side lacks, and this run's completeness,
        against the baseline of this run's kind; the outcome and findings go into the run file
        (``baseline_gate``), the failing ones are returned."""
        settings = self.run.settings
        found = self.baselines.get(report.kind) if report.kind is not None else None
        if found is None:
            others = ", ".join(f"{b.name} is {kind_text(k)}"
                               for k, (b, _) in self.baselines.items())
            finding = (f"this run is {kind_text(report.kind)} and {others}: nothing was "
                       f"compared; {FIX_KIND}")
            report.extra["baseline_gate"] = {
                "baseline": self.names, "outcome": "failed", "failed": True, "findings": [finding],
                "improvements": []}
            return [f"baseline gate: {finding}"]
        baseline = found[0]
        self.judged_against = baseline.name
        changes = {(r.config.case, r.config.config_id, r.point.id): list(r.baseline)
                   for r in records if r.baseline}
        self.result = compare_runs(
            baseline.report, report, baseline_name=baseline.name,
            threshold=settings.regression_threshold,
            allow_missing=settings.baseline_allow_missing, point_changes=changes)
        failed = self.result.failed
        report.extra["baseline_gate"] = {
            "baseline": baseline.name, "baseline_kind": report.kind,
            "outcome": "failed" if failed else "passed", "failed": failed,
            "findings": self.result.lines(), "improvements": self.result.improvements}
        return [f"baseline gate: {line}" for line in self.result.run_findings()]

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """Whether the gate passed, and what improved (the failures are listed with the
        session's)."""
        if self.run.is_worker or self.result is None:
            return
        for line in summary_lines(self.result, self.judged_against or "?",
                                  self.run.settings.regression_threshold):
            terminalreporter.write_line(f"autotune: {line}", green=not self.result.failed)


def summary_lines(result: GateResult, baseline: str, threshold: float,
                  most: int = 10) -> list[str]:
    """The gate's verdict in words: passed (how much it compared) or failed, then up to
    ``most`` improvements."""
    compared = len(result.point_changes)
    lines = [] if result.failed else [
        f"baseline gate passed against {baseline}: {compared} point(s) compared, none "
        f"significantly worse by more than the {threshold:.0%} threshold"]
    improved = result.improvements
    lines += [f"improved vs {baseline}: {line}" for line in improved[:most]]
    if len(improved) > most:
        lines.append(f"... and {len(improved) - most} more improvements (the run file's "
                     "baseline_gate lists them all)")
    return lines


__all__ = ["BaselineGate", "expected_kind", "load_baselines", "measured_kind", "summary_lines"]
