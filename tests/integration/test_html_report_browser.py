"""The HTML report in a real browser: Debian's Chromium, headless, opens the files a run and
``pytest-autotune compare --html`` wrote, from disk. The page must render its charts (counted in
the DOM), raise no console error or exception, fetch nothing but itself, sort its table and copy
the launch command. Screenshots are kept in the test's tmp dir.

Chromium is installed from apt when missing (scripts/ensure-chromium).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..browser import Page, chromium
from ..scratch import case, scratch_project
from ..standin import use_standin

pytestmark = [pytest.mark.slow, pytest.mark.integration]

CASE = """\
workload: {scenarios: ["D(50,20)"], concurrency: [1, 4], max_requests: 40}
parameters:
  mem-fraction-static: [0.8, 0.9]
  tp-size: [1, 16]
slo: ["ttft.p90 <= 10s", "error_rate <= 1%"]
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> Iterator[pytest.Pytester]:
    yield from scratch_project(pytester)


def run(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    result = project.runpytest_subprocess("chat.yaml", "-p", "no:cacheprovider", *args)
    assert result.ret == 0, result.stdout.str()
    return result


def measured_points(project: pytest.Pytester) -> int:
    data = json.loads((project.path / "results" / "chat_results.json").read_text())
    return sum(1 for r in data["all_results"] for p in r["points"] if p["metrics"])


def check_page(page: Page, path: Path, shot: Path) -> dict[str, Any]:
    """Open ``path``; what it rendered, after checking it made no request and raised no error."""
    page.open(path)
    counts: dict[str, Any] = page.evaluate("""(() => {
        const n = s => document.querySelectorAll(s).length;
        const box = document.querySelector("svg.pareto .mark").getBoundingClientRect();
        return {pareto: n("svg.pareto circle.mark"), baseline: n("svg.pareto circle.baseline"),
                load: n("svg.load circle.mark"), curves: n("svg.load polyline.series"),
                front: n("svg.pareto polyline.front"), rules: n("svg line.rule"),
                rows: n("table.configs tbody tr"), markWidth: box.width};
    })()""")
    page.screenshot(shot)
    assert page.log.console_errors == [] and page.log.exceptions == []
    assert page.log.requests == [path.resolve().as_uri()], "the report fetched something"
    assert counts["markWidth"] > 0, "the charts did not lay out"
    return counts


def test_run_and_compare_reports_render_offline_in_chromium(
    project: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory
) -> None:
    use_standin(project)
    project.makefile(".yaml", chat=case("chat", CASE))
    first = run(project)
    [report] = (project.path / "results" / "runs").glob("*/report.html")
    first.stdout.fnmatch_lines([f"wrote {report.relative_to(project.path)}"])
    points = measured_points(project)
    assert points == 4  # tp-size=16 is infeasible on the 8 simulated GPUs
    second = run(project, "--autotune-html=out/report.html")
    second.stdout.fnmatch_lines(["wrote out/report.html"])
    assert len(list((project.path / "results" / "runs").glob("*/report.html"))) == 1
    cli = Path(sys.executable).with_name("pytest-autotune")
    compared = subprocess.run([str(cli), "compare", "1", "2", "--html", "compare.html"],  # noqa: S603
                              capture_output=True, text=True, cwd=project.path, timeout=60,
                              check=False)
    assert compared.returncode == 0, compared.stdout + compared.stderr

    shots = tmp_path_factory.mktemp("screenshots")
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as page:
        counts = check_page(page, report, shots / "run.png")
        assert counts == {**counts, "pareto": points, "load": points, "curves": 2, "front": 1,
                          "rules": 2, "rows": points + 2, "baseline": 0}
        # sorting: the throughput column, ascending then descending
        order = page.evaluate("""(() => {
            const table = document.querySelector("table.configs");
            const th = [...table.querySelectorAll("th")].find(h => h.textContent === "out tok/s");
            const col = [...th.parentNode.children].indexOf(th);
            const read = () => [...table.tBodies[0].rows].map(r => r.cells[col].dataset.v)
                .filter(v => v).map(Number);
            th.click(); const up = read(); th.click(); const down = read();
            return {up, down};
        })()""")
        assert order["up"] == sorted(order["up"]) and order["down"] == order["up"][::-1]
        assert len(order["up"]) == points
        copied = page.evaluate("""(async () => {
            const button = document.querySelector("button.copy");
            button.click();
            await new Promise(r => setTimeout(r, 200));
            return button.textContent;
        })()""")
        assert copied == "copied"
        compare = check_page(page, project.path / "compare.html", shots / "compare.png")
        assert compare["pareto"] == 2 * points and compare["baseline"] == points
    assert (shots / "run.png").stat().st_size > 10_000
    # what was drawn is in the screenshots: look at them in this folder
    print(f"screenshots: {shots}")


def test_html_none_writes_no_report(project: pytest.Pytester) -> None:
    use_standin(project)
    project.makefile(".yaml", chat=case("chat", CASE))
    result = run(project, "-k", "mem-fraction-static=0.8 and c1", "--autotune-html=none")
    assert "report.html" not in result.stdout.str()
    assert not list(project.path.rglob("*.html"))
