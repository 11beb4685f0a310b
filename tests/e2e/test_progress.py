"""Live progress from the real genai-bench: the launcher's dashboard patch prints the progress
lines, and the status lines reach the terminal (one short run)."""

from __future__ import annotations

import re

import pytest

from ..scratch import case

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def test_real_genai_bench_reports_its_progress(project: pytest.Pytester,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    project.makefile(".yaml", live=case("live", """\
        workload: {scenarios: ["D(50,20)"], concurrency: [2], max_requests: 40}
    """))
    monkeypatch.setenv("AUTOTUNE_PROGRESS_INTERVAL", "0.5")
    result = project.runpytest_subprocess("live.yaml", "--autotune-progress=lines",
                                          "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    status = re.compile(r"^autotune ▸ live · default · D\(50,20\)-c2  (\d+)/40 req  \d+ s"
                        r"  p50 TTFT [\d.]+ms$")
    done = [int(m.group(1)) for m in map(status.match, result.outlines) if m]
    assert done and done == sorted(done), result.stdout.str()
    [log] = (project.path / "results" / "runs").glob("*/live/*/genai-bench-1/genai-bench.out")
    text = log.read_text()
    assert 'autotune-progress {"event": "run", "scenario": "D(50,20)", "concurrency": 2, ' \
           '"total": 40}' in text
    assert text.count('autotune-progress {"event": "end"}') == 2  # the run, then the process
    assert not list((project.path / "results" / "runs").glob("*/progress"))
