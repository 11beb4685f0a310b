"""Pruning through the plugin: once a hard SLO is missed at one concurrency of a scenario, its
higher concurrencies are skipped as pruned, never measured (points measured by the genai-bench
stand-in, tests/standin, which writes each run's file as that run ends, as genai-bench does)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pytest

from ..scratch import case, results, run
from ..standin import use_standin

pytestmark = [pytest.mark.slow]

#: the runner polls its abort callback (which watches for finished runs) every 20 ms, so a
#: pruning stop lands long before the stand-in's next run could end
FAST_POLL = """
def pytest_autotune_make_runner(config):
    return GenaiBenchRunner(command=(sys.executable, GENAI_BENCH_STANDIN), poll=0.02)
"""
TIGHT = """\
workload: {scenarios: ["D(50,20)"], concurrency: [1, 4, 16], max_requests: 8}
slo: ["ttft.p50 <= 1us", "error_rate <= 1%"]
"""
REASON = "pruned: ttft.p50 <= 1us already missed at D(50,20)-c1"


def points(data: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    return [(p["id"], p["outcome"], p["reason"]) for e in data["all_results"]
            for p in e["points"]]


def bench_folders(project: pytest.Pytester, name: str) -> list[Path]:
    return sorted((project.path / "results" / "runs").glob(f"*/{name}/*/genai-bench-*"))


def test_a_hard_miss_prunes_the_higher_concurrencies_unmeasured(
    project: pytest.Pytester,
) -> None:
    use_standin(project, FAST_POLL)
    project.makefile(".yaml", tight=case("tight", TIGHT))
    result = run(project, "tight.yaml")
    result.assert_outcomes(failed=1, skipped=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([f"SKIPPED [[]2[]] tight.yaml:1: {REASON}"])
    # the terminal table: measured c1, then the two pruned rows with the reason
    result.stdout.fnmatch_lines([
        "*D(50,20)-c1 *FAIL ttft.p50 <= 1us*",
        f"*D(50,20)-c4 *-*{REASON}",
        f"*D(50,20)-c16 *-*{REASON}",
    ])
    assert "PARTIAL RUN" not in result.stdout.str()
    data = results(project, "tight")
    assert data["complete"] is True
    assert points(data) == [("D(50,20)-c1", "failed", points(data)[0][2]),
                            ("D(50,20)-c4", "skipped", REASON),
                            ("D(50,20)-c16", "skipped", REASON)]
    # one genai-bench process, stopped before it reached concurrency 16
    [folder] = bench_folders(project, "tight")
    runs = sorted(p.name for p in folder.glob("*_time_*s.json"))
    assert runs[0].startswith("D50_20_text-to-text_num_concurrency_1_")
    assert not any("_concurrency_16_" in r for r in runs)
    out = (folder / "genai-bench.out").read_text()
    assert '"concurrency": 1,' in out and '"concurrency": 16,' not in out
    [report] = (project.path / "results" / "runs").glob("*/report.html")
    page = report.read_text(encoding="utf-8")
    assert '<td data-v="pruned">pruned</td>' in page and html.escape(REASON) in page
    # the same run without pruning measures, and fails, every point
    plain = run(project, "tight.yaml", "--autotune-no-prune")
    plain.assert_outcomes(failed=3)
    assert [o for _, o, _ in points(results(project, "tight"))] == ["failed"] * 3


def test_soft_and_lower_bound_misses_prune_nothing(project: pytest.Pytester) -> None:
    use_standin(project, FAST_POLL)
    # concurrency 1 serves ~6 requests/s with 20-token answers: it misses the lower bound, which
    # higher concurrencies may meet, so nothing is pruned; the soft SLO only lowers the score
    project.makefile(".yaml", soft=case("soft", """\
        workload: {scenarios: ["D(50,20)"], concurrency: [1, 4, 16], max_requests: 8}
        slo:
          - {expr: "ttft.p50 <= 1us", soft: true}
          - request_throughput >= 40 req/s
    """))
    project.makefile(".yaml", tight=case("tight", TIGHT))  # pruning is on in this run
    result = run(project, "soft.yaml", "tight.yaml")
    soft = points(results(project, "soft"))
    assert soft[0][:2] == ("D(50,20)-c1", "failed")
    assert all(o in ("passed", "failed") for _, o, _ in soft) and len(soft) == 3
    assert [o for _, o, _ in points(results(project, "tight"))] == ["failed", "skipped",
                                                                     "skipped"]
    assert result.parseoutcomes()["skipped"] == 2


def test_only_the_scenario_that_missed_is_pruned(project: pytest.Pytester) -> None:
    use_standin(project, FAST_POLL)
    # a 2000-token prompt's prefill misses 50 ms at any concurrency; a 50-token one meets it
    project.makefile(".yaml", two=case("two", """\
        workload: {scenarios: ["D(2000,4)", "D(50,4)"], concurrency: [1, 4, 16],
                   max_requests: 8}
        slo: ["ttft.p50 <= 50ms"]
    """))
    result = run(project, "two.yaml")
    result.assert_outcomes(failed=1, passed=3, skipped=2)
    reason = "pruned: ttft.p50 <= 50ms already missed at D(2000,4)-c1"
    data = results(project, "two")
    assert [(i, o) for i, o, _ in points(data)] == [
        ("D(2000,4)-c1", "failed"), ("D(2000,4)-c4", "skipped"), ("D(2000,4)-c16", "skipped"),
        ("D(50,4)-c1", "passed"), ("D(50,4)-c4", "passed"), ("D(50,4)-c16", "passed")]
    assert [r for _, o, r in points(data) if o == "skipped"] == [reason, reason]
    assert data["complete"] is True
