"""YAML / JSON tuning cases as pytest collectors.

A case file collects one :class:`ConfigurationNode` per configuration and, under it, one
:class:`PointItem` per workload point::

    tuning_cases/chat.yaml::chat-1b[mem-fraction-static=0.8]::D(100,100)-c16

The configuration node deploys the server in ``setup`` and stops it in ``teardown``, so pytest's
own setup state deploys each configuration once, right before its first item, and tears it down
after its last; a failed deployment errors (or skips, when infeasible) every item under it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .errors import AutotuneError, BenchError, ConfigError
from .model import Configuration, Metrics, WorkloadPoint
from .session import ITEM_KEY, RECORD_KEY, ItemInfo, get_session

if TYPE_CHECKING:
    from .cases.case import Case
    from .deploy import Deployment


class CaseFile(pytest.File):
    """A tuning case: YAML, or the earlier tool's task JSON."""

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        from .cases import load_case_file

        try:
            display = str(self.path.relative_to(self.config.rootpath))
        except ValueError:
            display = str(self.path)
        session = get_session(self.config)
        try:
            case = load_case_file(self.path, display=display)
            session.check_case(case)
        except ConfigError as exc:
            raise self.CollectError(f"invalid tuning case: {exc}") from None
        nodes: list[pytest.Item | pytest.Collector] = []
        for config in case.configurations:
            nodes.append(ConfigurationNode.from_parent(
                self, name=config.id, case=case, configuration=config,
                marks=session.item_marks(case, config),
            ))
        return nodes


class ConfigurationNode(pytest.Collector):
    """One configuration: deployed once for all of its workload points."""

    def __init__(
        self, *, case: Case, configuration: Configuration,
        marks: list[pytest.MarkDecorator], **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.configuration = configuration
        self.marks = marks
        self.deployment: Deployment | None = None

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        skip = next((m for m in self.marks if m.name == "skip"), None)
        reason = str(skip.kwargs.get("reason", "")) if skip else None
        items: list[pytest.Item | pytest.Collector] = []
        for point in self.case.workload.points():
            item = PointItem.from_parent(self, name=point.id, point=point)
            for mark in self.marks:
                item.add_marker(mark)
            item.stash[ITEM_KEY] = ItemInfo(self.case, self.configuration, point, reason)
            items.append(item)
        return items

    def setup(self) -> None:
        self.deployment = get_session(self.config).acquire(self.case, self.configuration)

    def teardown(self) -> None:
        self.deployment = None
        get_session(self.config).release(self.configuration.key)


class PointItem(pytest.Item):
    """One workload point: measured in setup (errors are errors), SLOs asserted in the call."""

    def __init__(self, *, point: WorkloadPoint, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.point = point
        self.metrics: Metrics | None = None

    @property
    def configuration_node(self) -> ConfigurationNode:
        assert isinstance(self.parent, ConfigurationNode)
        return self.parent

    def setup(self) -> None:
        node = self.configuration_node
        deployment = node.deployment
        assert deployment is not None
        record = self.stash.setdefault(RECORD_KEY, {})
        record.update(deployment_facts(deployment))
        try:
            metrics = deployment.measure(self.point)
        except BenchError as exc:
            error: BenchError | None = exc
        else:
            error = None
        record["bench_seconds"] = deployment.seconds.get(self.point)
        if error is not None:  # raised outside ``except``: pytest shows the message once
            pytest.fail(f"benchmark failed: {error.render()}", pytrace=False)
        record["metrics"] = metrics.to_dict()
        self.metrics = metrics

    def runtest(self) -> None:
        from .slo import evaluate, failure_message

        assert self.metrics is not None  # measured in setup
        record = self.stash[RECORD_KEY]
        verdicts = evaluate(self.configuration_node.case.slos, self.metrics)
        record["verdicts"] = [v.to_dict() for v in verdicts]
        if any(v.hard_failure for v in verdicts):
            pytest.fail(failure_message(self.point.id, verdicts), pytrace=False)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, AutotuneError):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        node = self.configuration_node
        return self.path, 0, f"{node.case.name}: {node.configuration.id} @ {self.point.id}"


def deployment_facts(deployment: Deployment) -> dict[str, Any]:
    handle = deployment.handle
    info = handle.server_info
    keep = ("max_total_num_tokens", "mem_fraction_static", "chunked_prefill_size",
            "cuda_graph_max_bs", "max_running_requests", "schedule_policy", "tp_size", "dp_size",
            "version", "sim")
    return {
        "deploy_seconds": handle.deploy_seconds,
        "gpus": list(handle.gpu_ids),
        "server_info": {k: info[k] for k in keep if k in info},
        "artifacts": str(deployment.artifacts),
    }
