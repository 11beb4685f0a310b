"""A YAML case through pytest's own features: SLO failure messages, --autotune-strict, --lf and
-x, --autotune-verbose (points measured by the genai-bench stand-in, tests/standin)."""

from __future__ import annotations

import pytest

from ..scratch import case
from ..standin import use_standin

pytestmark = [pytest.mark.slow]


def test_missed_slo_fails_with_a_per_slo_message(project: pytest.Pytester) -> None:
    use_standin(project)
    project.makefile(".yaml", tight=case("tight", """\
        slo:
          - ttft.p50 <= 1us
          - error_rate <= 1%
    """))
    result = project.runpytest_subprocess("tight.yaml", "-k", "c1", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1, deselected=1)
    result.stdout.fnmatch_lines([
        "*SLO missed at D(50,20)-c1: 1 of 2 failed",
        "*FAIL ttft.p50 <= 1us*measured*missed by*",
        "*ok   error_rate <= 1%*measured 0.00%*headroom 1.00%",
        "*no configuration met the SLOs at any workload point*",
    ])
    assert "Traceback" not in result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_strict_turns_infeasible_into_errors(project: pytest.Pytester) -> None:
    use_standin(project)
    project.makefile(".yaml", oom=case("oom", "parameters: {mem-fraction-static: [0.15]}\n"))
    result = project.runpytest_subprocess("oom.yaml", "--autotune-strict", "-p",
                                          "no:cacheprovider")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines([
        "*deployment failed: not enough memory for the KV cache*",
        "*--- server log (last lines) ---*",
        "*Not enough memory. Please try to increase --mem-fraction-static*",
    ])


def test_last_failed_reruns_only_the_failed_points(project: pytest.Pytester) -> None:
    use_standin(project)
    # concurrency 1 cannot reach 40 requests/s with 20-token answers; concurrency 4 can
    project.makefile(".yaml", rps=case("rps", "slo: ['request_throughput >= 40 req/s']\n"))
    first = project.runpytest_subprocess("rps.yaml", "-x")
    first.assert_outcomes(failed=1)
    first.stdout.fnmatch_lines(["*stopping after 1 failures*"])
    second = project.runpytest_subprocess("rps.yaml", "--lf")
    second.assert_outcomes(failed=1, deselected=1)
    second.stdout.fnmatch_lines(["*run-last-failure: rerun previous 1 failure*"])


def test_verbose_streams_server_and_benchmark_output_without_s(project: pytest.Pytester) -> None:
    use_standin(project)
    project.makefile(".yaml", loud=case("loud", "workload: {scenarios: ['D(50,20)'], "
                                                "concurrency: [1], max_requests: 4}\n"))
    result = project.runpytest_subprocess("loud.yaml", "--autotune-verbose", "-p",
                                          "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([
        "*| *pytest-autotune SGLang simulator*",    # the server's own start-up lines
        "*| *The server is fired up and ready to roll!*",
        "*| *genai-bench stand-in*",               # and the benchmark's
    ])
