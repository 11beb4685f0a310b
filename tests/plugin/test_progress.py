"""``--autotune-progress``: status lines of the running points reach the terminal pytest had
before capturing, from one process and from xdist workers (points measured by the genai-bench
stand-in, tests/standin, which prints the launcher's progress lines)."""

from __future__ import annotations

import re

import pytest

from ..scratch import case
from ..standin import use_standin

#: one configuration, one point of 12 requests at concurrency 1: about 2 s of benchmark
ONE_POINT = "workload: {scenarios: ['D(50,20)'], concurrency: [1], max_requests: 12}\n"
STATUS = re.compile(r"^autotune ▸ (\[gw\d\] )?(\S+) · (\S+) · (\S+)  (\d+)/(\d+) req  (\d+) s")


def statuses(result: pytest.RunResult) -> list[tuple[str, ...]]:
    return [m.groups("") for m in map(STATUS.match, result.outlines) if m]


def test_bad_progress_modes_name_the_allowed_ones(pytester: pytest.Pytester) -> None:
    from pytest_autotune.plugin.session import get_session

    with pytest.raises(pytest.UsageError, match=r"--autotune-progress: expected one of auto, "
                                                r"lines, off; got 'sometimes'"):
        pytester.parseconfigure("--autotune-progress=sometimes")
    pytester.makeini("[pytest]\nautotune_progress = lines\n")
    assert get_session(pytester.parseconfigure()).settings.progress == "lines"
    assert get_session(pytester.parseconfigure("--autotune-progress=OFF")).settings.progress == \
        "off"


def test_lines_mode_shows_the_running_point(project: pytest.Pytester,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    use_standin(project)
    project.makefile(".yaml", one=case("one", ONE_POINT))
    monkeypatch.setenv("AUTOTUNE_PROGRESS_INTERVAL", "0.2")
    result = project.runpytest_subprocess("one.yaml", "--autotune-progress=lines",
                                          "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    seen = statuses(result)
    assert seen, result.stdout.str()
    assert {s[:4] for s in seen} == {("", "one", "default", "D(50,20)-c1")}, result.stdout.str()
    done = [int(s[4]) for s in seen]
    assert all(s[5] == "12" for s in seen) and done == sorted(done), result.stdout.str()
    assert "p50 TTFT" in result.stdout.str() and "autotune-progress" not in result.stdout.str()
    # the progress lines are in genai-bench's log; no progress folder was needed
    [log] = (project.path / "results" / "runs").glob("*/one/*/genai-bench-1/genai-bench.out")
    assert '"event": "run"' in log.read_text()
    assert not list((project.path / "results" / "runs").glob("*/progress"))


@pytest.mark.slow
def test_by_default_a_short_point_prints_nothing(project: pytest.Pytester) -> None:
    """auto is lines off a terminal, and lines waits 30 s: a 2 s point prints no status."""
    use_standin(project)
    project.makefile(".yaml", one=case("one", ONE_POINT))
    quiet = project.runpytest_subprocess("one.yaml", "-p", "no:cacheprovider")
    quiet.assert_outcomes(passed=1)
    assert statuses(quiet) == [] and "autotune ▸" not in quiet.stdout.str()


@pytest.mark.slow
def test_xdist_workers_status_reaches_the_controller(project: pytest.Pytester,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    use_standin(project)
    project.makefile(".yaml", two=case("two", ONE_POINT.replace("12", "20") +
                                       "parameters: {max-running-requests: [1, 4]}\n"))
    monkeypatch.setenv("AUTOTUNE_PROGRESS_INTERVAL", "0.2")
    result = project.runpytest_subprocess("two.yaml", "-n", "2", "--autotune-progress=lines",
                                          "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    seen = statuses(result)
    workers = {s[0].strip() for s in seen}
    assert workers == {"[gw0]", "[gw1]"}, result.stdout.str()
    assert {s[2] for s in seen} == {"max-running-requests=1", "max-running-requests=4"}
    # the workers' status files and their folder are gone
    assert not list((project.path / "results" / "runs").glob("*/progress"))
