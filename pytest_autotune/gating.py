"""``--autotune-baseline``: the pytest side of the baseline gate (the statistics are gate.py's).

A small plugin, registered by ``pytest_configure`` only when a baseline is given: it resolves the
baseline once on the controller (workers get its path), judges each item's point against the
baseline's after the item's own checks, and at the end judges the run as a whole.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .deploy import GATE_PASSES
from .gate import Baseline, Change, GateResult, compare_runs
from .records import ITEM_KEY, MEASUREMENT_KEY

if TYPE_CHECKING:
    from .results import PointRecord, RunReport
    from .session import AutotuneSession

WORKER_KEY = "autotune_baseline_path"


def load_baseline(session: AutotuneSession) -> tuple[Baseline, Path]:
    """The baseline run of ``--autotune-baseline`` (a usage error names what is wrong)."""
    from .report.storage import find_run, load_run
    from .results import ReportFormatError

    settings = session.settings
    ref = settings.baseline
    assert ref is not None
    workerinput = getattr(session.config, "workerinput", None) or {}
    try:
        path = Path(workerinput.get(WORKER_KEY) or find_run(settings.storage, ref))
        report = load_run(path)
    except (FileNotFoundError, ReportFormatError) as exc:
        raise pytest.UsageError(f"--autotune-baseline {ref}: {exc}") from None
    if not report.complete:
        raise pytest.UsageError(
            f"--autotune-baseline {ref}: {path.name} is a partial run "
            f"({'; '.join(report.completeness.reasons)}); gate against a complete one "
            "(latest-complete, or its number)")
    return Baseline(report, path.name, settings.regression_threshold), path


class BaselineGate:
    def __init__(self, session: AutotuneSession) -> None:
        self.session = session
        self.baseline, self.path = load_baseline(session)
        self.result: GateResult | None = None

    def pytest_report_header(self) -> list[str]:
        settings = self.session.settings
        passes = settings.repeats or GATE_PASSES
        lines = [f"autotune: baseline gate against {self.baseline.name}: threshold "
                 f"{settings.regression_threshold:.0%}, {passes} passes per point unless a case "
                 "sets repeats"]
        measured = [p.metrics.passes for c in self.baseline.report.cases for t in c.trials
                    for p in t.points if p.metrics is not None]
        if measured and min(measured) < passes:
            lines.append(
                f"autotune: the baseline measured as few as {min(measured)} pass(es) a point: its "
                "own noise weighs on every comparison; refresh it with --autotune-repeats "
                f"{passes} --autotune-no-race (docs/ci.md)")
        return lines

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[WORKER_KEY] = str(self.path)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        """After the item's own checks: its point against the baseline's; a significant
        regression beyond the threshold fails it."""
        try:
            result = yield
        finally:
            changes = self.judge_item(item)
        regressions = [c for c in changes if c.verdict == "regression"]
        if regressions:
            pytest.fail("\n".join(f"regression vs baseline {self.baseline.name}: {c.text()}"
                                  for c in regressions), pytrace=False)
        return result

    def judge_item(self, item: pytest.Item) -> tuple[Change, ...]:
        info = item.stash.get(ITEM_KEY, None)
        measured = item.stash.get(MEASUREMENT_KEY, None)
        if info is None or measured is None or measured.metrics is None:
            return ()
        config = self.session.configuration_of(info)
        if config is None:
            return ()
        changes = self.baseline.compare(info.case.name, config.id, info.point.id,
                                        measured.metrics, info.case.slos)
        measured.baseline = tuple(changes or ())
        return measured.baseline

    def judge_run(self, report: RunReport, records: Sequence[PointRecord]) -> list[str]:
        """Each case's best score, what either side lacks, and this run's completeness; the
        findings go into the run file, the failing ones are returned."""
        settings = self.session.settings
        changes = {(r.config.case, r.config.config_id, r.point.id): list(r.baseline)
                   for r in records if r.baseline}
        self.result = compare_runs(
            self.baseline.report, report, baseline_name=self.baseline.name,
            threshold=settings.regression_threshold,
            allow_missing=settings.baseline_allow_missing, point_changes=changes)
        report.extra["baseline_gate"] = {"baseline": self.baseline.name,
                                         "failed": self.result.failed,
                                         "findings": self.result.lines()}
        return [f"baseline gate: {line}" for line in self.result.run_findings()]


__all__ = ["BaselineGate", "load_baseline"]
