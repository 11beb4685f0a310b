"""``--autotune-mode=endpoint``: benchmark a server that is already running (a CI canary).

The "deployment" here is a simulator process started by the fixture with an API key.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from .harness import ROOT, Project, outcomes, unique, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@dataclass
class Live:
    url: str
    key: str


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    key = unique("sk-live")
    config = tmp_path_factory.mktemp("live") / "server-args.yaml"
    config.write_text(f'api-key: "{key}"\n')
    port = free_port()
    proc = subprocess.Popen(  # noqa: S603 - argv list
        [sys.executable, "-m", "pytest_autotune.sim", "--model-path",
         "meta-llama/Llama-3.1-8B-Instruct", "--port", str(port), "--sim-startup-scale", "0.02",
         "--config", str(config)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    from pytest_autotune.backends.wait import is_healthy

    url = f"http://127.0.0.1:{port}"
    try:
        wait_for("the live server", lambda: is_healthy(url), timeout=60)
        yield Live(url, key)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
def endpoint_project(pytester: pytest.Pytester, live_server: Live) -> Project:
    pytester.makeini(f"[pytest]\nautotune_lock_dir = {pytester.path / 'locks'}\n")
    return Project(pytester, "endpoint", env={"LIVE_KEY": live_server.key})


CASE = """\
model: {path: meta-llama/Llama-3.1-8B-Instruct, tokenizer: builtin}
api_key_env: LIVE_KEY
"""


def test_slos_met_pass_with_the_url_from_the_case(
    endpoint_project: Project, live_server: Live,
) -> None:
    _, path = endpoint_project.case("canary", CASE + textwrap.dedent(f"""\
        endpoint: {live_server.url}
        slo: ["error_rate <= 1%", "ttft.p99 <= 10s"]
    """))
    result = endpoint_project.run(path.name)
    assert result.returncode == 0, result.stdout
    assert outcomes(result) == {"passed": 1}
    assert live_server.key not in result.stdout


def test_an_slo_miss_fails_the_job(endpoint_project: Project, live_server: Live) -> None:
    _, path = endpoint_project.case("canary-miss", CASE + 'slo: ["ttft.p99 <= 1ms"]\n')
    result = endpoint_project.run(path.name, f"--autotune-endpoint={live_server.url}")
    assert result.returncode == 1
    assert outcomes(result) == {"failed": 1}
    assert "ttft.p99" in result.stdout


def test_parameters_are_a_clear_error(endpoint_project: Project, live_server: Live) -> None:
    _, path = endpoint_project.case(
        "canary-params", CASE + "parameters: {mem-fraction-static: [0.8]}\n")
    result = endpoint_project.run(path.name, f"--autotune-endpoint={live_server.url}")
    # one error at collection, before anything is benchmarked
    assert result.returncode == pytest.ExitCode.INTERRUPTED, result.stdout
    assert "endpoint mode benchmarks a running server, so a case cannot set parameters" \
        in result.stdout
    assert ".yaml: parameters: endpoint mode" in result.stdout


def test_a_wrong_api_key_fails_at_once(endpoint_project: Project, live_server: Live) -> None:
    endpoint_project.env["LIVE_KEY"] = "not-the-key"
    _, path = endpoint_project.case("canary-key", CASE)
    result = endpoint_project.run(path.name, f"--autotune-endpoint={live_server.url}",
                                  "--autotune-deploy-timeout=60s", timeout=60)
    assert result.returncode == 1
    assert "answered 401 to /v1/models: it refused the API key sent" in result.stdout


def test_an_unreachable_endpoint_errors_after_the_timeout(endpoint_project: Project) -> None:
    _, path = endpoint_project.case("canary-down", CASE)
    url = f"http://127.0.0.1:{free_port()}"
    result = endpoint_project.run(path.name, f"--autotune-endpoint={url}",
                                  "--autotune-deploy-timeout=2s")
    assert result.returncode == 1
    assert outcomes(result) == {"error": 1}
    assert f"endpoint {url} was not ready after 2 s (/health answered nothing)" in result.stdout
