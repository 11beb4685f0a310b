"""Fixtures for Python-declared tuning cases (``@pytest.mark.autotune``).

::

    @pytest.mark.autotune(
        model={"path": "meta-llama/Llama-3.2-1B-Instruct"},
        parameters={"mem-fraction-static": [0.8, 0.9]},
        workload={"scenarios": ["D(100,100)"], "concurrency": [1, 8]},
        slo=["ttft.p99 <= 200ms"],
    )
    def test_chat(autotune_metrics, autotune_slo):
        autotune_slo.check(autotune_metrics)
        assert autotune_metrics.error_rate == 0

The marker parametrizes the test over every configuration (session scope, so each server is
deployed once and torn down when pytest moves on) and every workload point.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from ..errors import BenchError
from ..values import Configuration, Metrics, WorkloadPoint
from .items import measured
from .session import AutotuneSession, get_session

if TYPE_CHECKING:
    from ..backends.base import ServerHandle
    from ..cases.case import Case
    from ..decide.slo import Verdict
    from ..engine.deploy import Deployment

NOT_PARAMETRIZED = (
    "{name} is only available to tests marked @pytest.mark.autotune(...) (or collected from a "
    "tuning case file)"
)


@dataclass(frozen=True, eq=False)
class ConfigParam:
    """``request.param`` of ``autotune_configuration``; equal when the configuration is."""

    case: Case = field(repr=False)
    config: Configuration

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ConfigParam) and other.config.key == self.config.key

    def __hash__(self) -> int:
        return hash(self.config.key)


def _param(request: pytest.FixtureRequest, name: str) -> Any:
    if not hasattr(request, "param"):
        raise pytest.UsageError(NOT_PARAMETRIZED.format(name=name))
    return request.param


@pytest.fixture(scope="session")
def autotune_session(pytestconfig: pytest.Config) -> AutotuneSession:
    """The run's :class:`~pytest_autotune.plugin.session.AutotuneSession` (settings, run id,
    backend)."""
    return get_session(pytestconfig)


@pytest.fixture(scope="session")
def autotune_configuration(request: pytest.FixtureRequest) -> ConfigParam:
    """The configuration under test (case and SGLang flags)."""
    value: ConfigParam = _param(request, "autotune_configuration")
    return value


@pytest.fixture
def autotune_deployment(
    autotune_session: AutotuneSession, autotune_configuration: ConfigParam
) -> Deployment:
    """The deployed server of this configuration with its benchmark cache.

    One deployment per configuration: it starts before the configuration's first item and
    stops right after its last (pytest groups the items of a configuration together).
    """
    param = autotune_configuration
    return autotune_session.acquire(param.case, param.config.key, param.config)


@pytest.fixture
def autotune_server(autotune_deployment: Deployment) -> ServerHandle:
    """The running server: ``.url``, ``.launch_command``, ``.server_info``, ``.log_tail()``."""
    return autotune_deployment.handle


@pytest.fixture
def autotune_point(request: pytest.FixtureRequest) -> WorkloadPoint:
    """The workload point (scenario, concurrency) of this test item."""
    value: WorkloadPoint = _param(request, "autotune_point")
    return value


@pytest.fixture
def autotune_metrics(
    request: pytest.FixtureRequest, autotune_deployment: Deployment, autotune_point: WorkloadPoint
) -> Metrics:
    """genai-bench's measurement of this item's workload point (benchmark failures are errors).

    The points of one configuration are measured together, in as few genai-bench processes as
    possible, the first time any of them is requested.
    """
    from ..decide.slo import evaluate
    from .collect import measure

    item = request.node
    measure(item, autotune_deployment, autotune_point)
    measurement = measured(item)
    assert measurement.metrics is not None
    measurement.verdicts = tuple(evaluate(autotune_deployment.case.slos, measurement.metrics))
    return measurement.metrics


def _measure(deployment: Deployment, point: WorkloadPoint) -> Metrics:
    from ..decide.pruning import Pruned

    try:
        return deployment.measure(point)
    except BenchError as exc:
        error = exc
    except Pruned as exc:  # reported at the test, not at this line
        raise pytest.skip.Exception(exc.reason, _use_item_location=True) from None
    # raised outside ``except``: pytest shows the message once, without the chained exception
    pytest.fail(f"benchmark failed: {error.render()}", pytrace=False)


class SLOChecker:
    """The case's SLOs: ``check(metrics)`` fails the test with a per-SLO diff."""

    def __init__(self, case: Case, point: WorkloadPoint | None, *, strict: bool = False) -> None:
        self.slos = case.slos
        self.point = point
        self.strict = strict

    def verdicts(self, metrics: Metrics) -> list[Verdict]:
        from ..decide.slo import evaluate

        return evaluate(self.slos, metrics)

    def check(self, metrics: Metrics) -> None:
        from ..decide.slo import fails, failure_message

        verdicts = self.verdicts(metrics)
        if fails(verdicts, strict=self.strict):
            where = self.point.id if self.point else "this point"
            pytest.fail(failure_message(where, verdicts), pytrace=False)


@pytest.fixture
def autotune_slo(
    autotune_configuration: ConfigParam, request: pytest.FixtureRequest
) -> SLOChecker:
    """The case's SLOs as a checker: ``autotune_slo.check(autotune_metrics)``."""
    point = request.getfixturevalue("autotune_point") if "autotune_point" in \
        request.fixturenames else None
    strict = get_session(request.config).settings.strict
    return SLOChecker(autotune_configuration.case, point, strict=strict)


@pytest.fixture
def autotune_bench(autotune_deployment: Deployment) -> Callable[[str, int], Metrics]:
    """Measure any workload point on this configuration's server: ``autotune_bench("D(200,50)", 4)``
    (cached per point; runs genai-bench when the point is new)."""

    def bench(scenario: str, concurrency: int) -> Metrics:
        from ..cases.grammar import canonical_scenario

        point = WorkloadPoint(canonical_scenario(scenario), int(concurrency))
        return _measure(autotune_deployment, point)

    return bench


@pytest.fixture(scope="session")
def autotune_server_factory(
    autotune_session: AutotuneSession,
) -> Callable[[Case, Configuration], AbstractContextManager[Deployment]]:
    """Deploy any configuration by hand:
    ``with autotune_server_factory(case, config) as deployment: ...``."""
    service = autotune_session.service

    def open_deployment(case: Case, config: Configuration) -> AbstractContextManager[Deployment]:
        return service.open(case, config)

    return open_deployment
