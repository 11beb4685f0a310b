"""YAML / JSON tuning cases as pytest collectors.

A case file collects one node per configuration the strategy plans and, under it, one
:class:`PointItem` per workload point::

    tuning_cases/chat.yaml::mem-fraction-static=0.8::D(100,100)-c16     a grid (fixed ids)
    tuning_cases/chat.yaml::trial-07::D(100,100)-c16                     a trial slot

A fixed node's configuration is known at collection; a trial slot asks the case's strategy for
its configuration when it is set up. Either way the node's setup acquires the deployment (once
for all of its points) and the session stops it after the node's last item.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ..errors import AutotuneError, BenchError, ConfigError
from ..values import Capacity, Configuration, WorkloadPoint
from .items import ITEM_KEY, ItemInfo, measured
from .session import get_session

if TYPE_CHECKING:
    from ..cases.case import Case
    from ..engine.deploy import Deployment


class CaseFile(pytest.File):
    """A tuning case: YAML, or the earlier tool's task JSON."""

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        from ..cases import load_case_file
        from ..search.base import slot_name

        try:
            display = str(self.path.relative_to(self.config.rootpath))
        except ValueError:
            display = str(self.path)
        session = get_session(self.config)
        try:
            case = load_case_file(self.path, display=display)
            session.check_case(case)
            strategy = session.strategy_for(case)
        except ConfigError as exc:
            raise self.CollectError(f"invalid tuning case: {exc}") from None
        excluded = getattr(strategy, "excluded", None)
        if excluded and excluded[0]:
            session.notes.append(f"{display}: {excluded[0]:,} of {excluded[1]:,} configurations "
                                 "excluded by constraints")
        plan = strategy.fixed_plan()
        if session.settings.shortlist is not None and session.settings.mode != "estimate":
            plan = session.shortlisted(case, plan)
        nodes: list[pytest.Item | pytest.Collector] = []
        if plan is not None:
            for config in plan:
                nodes.append(DeploymentNode.from_parent(
                    self, name=config.id, case=case, configuration=config,
                    marks=session.item_marks(case, config),
                ))
            return nodes
        budget = strategy.budget()
        for slot in range(budget):
            nodes.append(DeploymentNode.from_parent(
                self, name=slot_name(slot, budget), case=case, slot=slot, marks=[],
            ))
        return nodes


class DeploymentNode(pytest.Collector):
    """One deployment: a fixed configuration, or a trial slot whose configuration the strategy
    proposes at setup. Its points share the server."""

    def __init__(
        self, *, case: Case, marks: list[pytest.MarkDecorator],
        configuration: Configuration | None = None, slot: int | None = None, **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.configuration = configuration
        self.slot = slot
        self.marks = marks
        self.deployment: Deployment | None = None

    @property
    def group(self) -> str:
        return self.configuration.key if self.configuration is not None else self.nodeid

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        skip = next((m for m in self.marks if m.name == "skip"), None)
        reason = str(skip.kwargs.get("reason", "")) if skip else None
        items: list[pytest.Item | pytest.Collector] = []
        for point in self.case.workload.points():
            item = PointItem.from_parent(self, name=point.id, point=point)
            for mark in self.marks:
                item.add_marker(mark)
            item.stash[ITEM_KEY] = ItemInfo(self.case, point, self.group, self.configuration,
                                            reason, self.slot)
            items.append(item)
        capacity = self.case.workload.capacity
        if capacity is not None:
            probe = CapacityItem.from_parent(self, name=capacity.item_name, capacity=capacity)
            for mark in self.marks:
                probe.add_marker(mark)
            probe.stash[ITEM_KEY] = ItemInfo(
                self.case, WorkloadPoint(capacity.scenario, capacity.low), self.group,
                self.configuration, reason, self.slot, capacity)
            items.append(probe)
        return items

    def setup(self) -> None:
        self.deployment = get_session(self.config).acquire(
            self.case, self.group, self.configuration, self.slot
        )

    def teardown(self) -> None:
        self.deployment = None  # the session stops the server after the group's last item


class PointItem(pytest.Item):
    """One workload point: measured in setup (errors are errors), SLOs asserted in the call."""

    def __init__(self, *, point: WorkloadPoint, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.point = point

    @property
    def node(self) -> DeploymentNode:
        assert isinstance(self.parent, DeploymentNode)
        return self.parent

    def setup(self) -> None:
        deployment = self.node.deployment
        assert deployment is not None
        measure(self, deployment, self.point)

    def runtest(self) -> None:
        from ..decide.slo import evaluate, fails, failure_message

        measurement = measured(self)
        assert measurement.metrics is not None  # measured in setup
        verdicts = evaluate(self.node.case.slos, measurement.metrics)
        measurement.verdicts = tuple(verdicts)
        if fails(verdicts, strict=get_session(self.config).settings.strict):
            pytest.fail(failure_message(self.point.id, verdicts), pytrace=False)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, AutotuneError):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        node = self.node
        what = node.configuration.id if node.configuration is not None else node.name
        return self.path, 0, f"{node.case.name}: {what} @ {self.point.id}"


class CapacityItem(PointItem):
    """A configuration's capacity search (``workload.capacity``): probes measured in setup,
    each one a point of the report; fails when even the lowest load misses an SLO."""

    def __init__(self, *, capacity: Capacity, **kwargs: Any) -> None:
        super().__init__(point=WorkloadPoint(capacity.scenario, capacity.low), **kwargs)
        self.capacity = capacity

    def setup(self) -> None:
        deployment = self.node.deployment
        assert deployment is not None
        search_capacity(self, deployment, self.capacity)

    def runtest(self) -> None:
        measurement = measured(self)
        result = measurement.capacity
        assert result is not None  # searched in setup
        if result.capacity is None:
            low = measurement.probes[0] if measurement.probes else None
            why = f": {low.reason}" if low is not None and low.reason else ""
            pytest.fail(f"{result.describe()}{why}", pytrace=False)

    def reportinfo(self) -> tuple[Path, int, str]:
        node = self.node
        what = node.configuration.id if node.configuration is not None else node.name
        return self.path, 0, f"{node.case.name}: {what} capacity of {self.capacity.scenario}"


def search_capacity(item: pytest.Item, deployment: Deployment, spec: Capacity) -> None:
    """Run the capacity search on the item's deployment; every probe is kept on the item, the
    one at the capacity found (else the first) stands for the item's own record."""
    from ..decide.pruning import Pruned
    from ..decide.slo import evaluate, failure_message
    from ..search.capacity import search
    from .items import Probe

    measurement = measured(item)
    slos = deployment.case.slos

    def holds(load: int) -> bool:
        point = WorkloadPoint(spec.scenario, load)
        try:
            metrics = deployment.measure(point)
        except Pruned as exc:  # a hard SLO already missed below it: it cannot hold here
            measurement.probes.append(Probe(point, "skipped", reason=exc.reason))
            return False
        verdicts = tuple(evaluate(slos, metrics))
        ok = all(v.ok for v in verdicts)
        measurement.probes.append(Probe(
            point, "passed" if ok else "failed", metrics, verdicts,
            None if ok else failure_message(point.id, verdicts), deployment.seconds.get(point)))
        return ok

    error: BenchError | None = None
    try:
        result = search(spec, holds)
    except BenchError as exc:
        error = exc
        from ..search.capacity import CapacityResult

        result = CapacityResult(spec)
    measurement.capacity = result
    measurement.facts = deployment.facts()
    main = next((p for p in measurement.probes if p.point.concurrency == result.capacity
                 and p.metrics is not None), measurement.probes[0] if measurement.probes else None)
    if main is not None:
        measurement.point = main.point
        measurement.metrics = main.metrics
        measurement.verdicts = main.verdicts
        measurement.bench_seconds = main.bench_seconds
    if error is not None:
        pytest.fail(f"benchmark failed during the capacity search ({len(measurement.probes)} "
                    f"loads measured): {error.render()}", pytrace=False)


def measure(item: pytest.Item, deployment: Deployment, point: WorkloadPoint) -> None:
    """Measure ``point`` on the item's deployment, keeping what was learned on the item; a
    benchmark failure fails the item's setup (an error) with the benchmark's output, a pruned
    point skips it with the reason."""
    from ..decide.pruning import Pruned

    measurement = measured(item)
    pruned: str | None = None
    try:
        metrics = deployment.measure(point)
    except BenchError as exc:
        error: BenchError | None = exc
    except Pruned as exc:
        error, pruned = None, exc.reason
    else:
        error = None
    measurement.facts = deployment.facts()  # after measuring: it lists the extra passes
    measurement.bench_seconds = deployment.seconds.get(point)
    if pruned is not None:  # reported at the item, not at this line
        raise pytest.skip.Exception(pruned, _use_item_location=True)
    if error is not None:  # raised outside ``except``: pytest shows the message once
        pytest.fail(f"benchmark failed: {error.render()}", pytrace=False)
    measurement.metrics = metrics
