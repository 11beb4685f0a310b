"""The HTML report (report/html.py) and its SVG charts (report/svg.py), from run reports built
the way the plugin builds them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pytest_autotune.cli import main
from pytest_autotune.decide.scoring import adopt, with_builtin_score
from pytest_autotune.decide.slo import SLO, evaluate, parse_slo
from pytest_autotune.decide.stats import Interval
from pytest_autotune.report import svg
from pytest_autotune.report.build import build_report
from pytest_autotune.report.charts import latency_axes, tick_seconds
from pytest_autotune.report.html import render_compare, render_run
from pytest_autotune.results.records import (
    Completeness,
    ConfigIdentity,
    DeploymentFacts,
    Outcome,
    PointRecord,
    RunReport,
    TiedConfig,
    group_records,
)
from pytest_autotune.results.runs import save_run
from pytest_autotune.values import Metrics, Stat, WorkloadPoint

SLOS = [parse_slo("ttft.p99 <= 200ms"), parse_slo("error_rate <= 1%")]
POINTS = (WorkloadPoint("D(100,100)", 8), WorkloadPoint("D(100,100)", 32))


def metrics(throughput: float, ttft: float) -> Metrics:
    return Metrics(ttft=Stat(p50=ttft / 2, p99=ttft), tpot=Stat(p50=0.002), e2e=Stat(p99=0.3),
                   output_latency=Stat(), output_throughput=throughput,
                   input_throughput=throughput, total_throughput=2 * throughput,
                   request_throughput=1.0, num_requests=400, num_errors=0, run_duration=10.0,
                   intervals={"output_throughput": Interval(0.98 * throughput,
                                                            1.02 * throughput),
                              "ttft.p99": Interval(0.9 * ttft, 1.1 * ttft)})


def identity(index: int, config_id: str) -> ConfigIdentity:
    return ConfigIdentity(case="chat", source="chat.yaml", config_id=config_id,
                          config_key=f"chat[{config_id}]", index=index,
                          params={"cuda-graph-max-bs": index}, simulated=True,
                          launch_command=("python3", "-m", "sglang.launch_server",
                                          "--cuda-graph-max-bs", str(index)))


def run(scale: float = 1.0, *, config_id: str = "cuda-graph-max-bs=160",
        slos: Sequence[SLO] = SLOS, short: bool = False) -> RunReport:
    """Three configurations of one case: two measured at two points (one of them misses the
    TTFT SLO at c32), one infeasible."""
    measured = {
        "cuda-graph-max-bs=16": ((500.0, 0.05), (3000.0, 0.25)),
        config_id: ((510.0 * scale, 0.05), (4000.0 * scale, 0.15)),
    }
    records = []
    for index, (cid, values) in enumerate(measured.items()):
        for point, (throughput, ttft) in zip(POINTS, values, strict=True):
            m = metrics(throughput, ttft)
            if short and point.concurrency == 32:
                m = replace(m, short_run=True, steady={"per_user": 1.5, "requests_needed": 230})
            verdicts = tuple(evaluate(slos, m))
            outcome: Outcome = "passed" if all(v.ok for v in verdicts) else "failed"
            records.append(PointRecord(
                config=identity(index, cid), point=point, outcome=outcome, metrics=m,
                verdicts=verdicts, expected_points=2,
                deployment=DeploymentFacts(server_info={"version": "0.5.5-sim",
                                                        "sim": {"gpu": "H100-SXM"}})))
    for point in POINTS:
        records.append(PointRecord(config=identity(2, "tp-size=16"), point=point,
                                   outcome="infeasible", expected_points=2,
                                   reason="needs 16 GPUs, only 8 available"))
    trials = [with_builtin_score(t) if t.status == "ok" else t for t in group_records(records)]
    best = max((t for t in trials if t.score is not None), key=lambda t: t.score or 0.0)
    report = build_report(trials, {"chat": adopt(best, trials)}, run_id="20261205-101500-ab12",
                          started=1_764_930_000.0, mode="sim", commit="abc1234")
    return RunReport.from_dict(report.to_dict())  # as stored and loaded again


class Elements(HTMLParser):
    """Every start tag with its attributes, and whether any attribute loads something."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def having(self, tag: str, css: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag and css in (a.get("class") or "").split()]


def parse(page: str) -> Elements:
    parser = Elements()
    parser.feed(page)
    return parser


def test_a_run_page_holds_every_measured_point_the_front_the_slos_and_the_winner() -> None:
    page = render_run(run())
    doc = parse(page)
    pareto, load = (doc.having("svg", kind) for kind in ("pareto", "load"))
    assert len(pareto) == 1 and len(load) == 1  # one latency SLO, one scenario
    # 2 measured configurations × 2 points, on the Pareto chart and on the load chart
    assert len(doc.having("circle", "mark")) == 4 + 4
    assert len(doc.having("circle", "best")) == 2 + 2
    assert len(doc.having("polyline", "front")) == 1
    assert len(doc.having("polyline", "series")) == 2  # one load curve per configuration
    assert len(doc.having("line", "rule")) == 2  # ttft.p99 <= 200ms on both charts
    assert "SIMULATED" in page and "0.5.5-sim" in page and "H100-SXM (simulated)" in page
    assert "mode <b>sim</b>" in page
    # the table: a row per measured point, one for the infeasible configuration with its reason
    rows = [a for t, a in doc.tags if t == "tr" and a.get("class")]
    assert len(rows) == 5
    assert "needs 16 GPUs, only 8 available" in page
    assert "ttft.p99 &lt;= 200ms: missed (-25%)" in page  # 250 ms against 200 ms
    assert "best: #2 cuda-graph-max-bs=160" in page
    assert "python3 -m sglang.launch_server --cuda-graph-max-bs 1" in page
    assert len(doc.having("button", "copy")) == 1


def test_the_page_loads_nothing_from_anywhere() -> None:
    page = render_run(run())
    doc = parse(page)
    for tag, attrs in doc.tags:
        for name in ("src", "href", "xlink:href", "srcset", "data"):
            assert name not in attrs, f"<{tag} {name}=…> would load a resource"
    assert not re.search(r"url\(|@import|https?://", page)


def test_text_from_the_run_is_escaped() -> None:
    page = render_run(run(config_id='x=<script>alert("hi")</script>'))
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&quot;hi&quot;)&lt;/script&gt;" in page


def test_a_partial_run_and_a_run_with_no_winner_say_so() -> None:
    report = run()
    report.completeness = Completeness(False, ("stopped early (-x)",), 6, 3, 2)
    report.cases[0].best = None
    page = render_run(report)
    assert "PARTIAL RUN — stopped early (-x)" in page
    assert "no configuration met the SLOs at any workload point" in page
    assert 'class="copy"' not in page


def test_configurations_tied_with_the_winner_are_marked() -> None:
    report = run()
    case = report.cases[0]
    other = case.trials[0]
    case.tied = [TiedConfig(other.config_key, other.config_id, -0.01, Interval(-0.05, 0.03))]
    doc = parse(render_run(report))
    assert len(doc.having("circle", "tied")) == 2 + 2
    assert len(doc.having("tr", "tied")) == 2


def test_a_threshold_far_above_the_load_curves_does_not_flatten_them() -> None:
    page = render_run(run(slos=[parse_slo("ttft.p99 <= 10s")]))
    assert page.count("ttft.p99 &lt;= 10s (above the chart)</text>") == 1  # the load chart's
    assert page.count("ttft.p99 &lt;= 10s</text>") == 1  # the Pareto chart's, on its log axis
    assert ">10s</text>" not in page.split('class="chart load"')[1]  # no tick up to 10 s


def test_the_latency_axes_are_the_ones_the_slos_bound() -> None:
    [axis] = latency_axes(run().cases[0])
    assert (axis.metric, axis.stat) == ("ttft", "p99")
    assert [s.text for s in axis.slos] == ["ttft.p99 <= 200ms"]


def test_compare_shows_both_runs_and_the_changes() -> None:
    page = render_compare(run(), run(scale=0.8), a_name="0001.json", b_name="0002.json")
    doc = parse(page)
    assert "0002.json against 0001.json" in page
    assert "regression" in page and "-20.0%" in page
    # B's four marks, A's four as hollow baseline marks, then the load chart's four
    assert len(doc.having("circle", "baseline")) == 4
    assert len(doc.having("table", "deltas")) == 1
    deltas = page.split('class="sortable deltas"')[1]
    assert ">150.0ms</td>" in deltas and ">4,000.0</td>" in deltas  # latencies in their unit


def test_show_and_compare_write_html(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    save_run(tmp_path, run().to_dict(), "abc")
    save_run(tmp_path, run(scale=0.8).to_dict(), "abc")
    assert main(["--storage", str(tmp_path), "show", "1", "--html"]) == 0
    [shown] = tmp_path.glob("runs/0001_*.html")
    assert f"wrote {shown}" in capsys.readouterr().out
    target = tmp_path / "out" / "cmp.html"
    assert main(["--storage", str(tmp_path), "compare", "1", "2", "--html", str(target)]) == 0
    assert f"wrote {target}" in capsys.readouterr().out
    assert "against" in target.read_text(encoding="utf-8")


def test_pareto_front_keeps_only_the_points_nothing_beats() -> None:
    points = [(0.1, 100.0), (0.2, 90.0), (0.2, 300.0), (0.5, 250.0), (0.6, 400.0)]
    assert svg.pareto_front(points) == [(0.1, 100.0), (0.2, 300.0), (0.6, 400.0)]


def test_axes_place_values_and_choose_readable_ticks() -> None:
    log = svg.axis_for([1.0, 64.0], "c", log=True, base=2)
    assert log.norm(log.low) == 0.0 and log.norm(log.high) == 1.0
    assert log.ticks() == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]
    linear = svg.axis_for([0.0, 4000.0], "tok/s", zero=True)
    assert linear.low == 0.0 and linear.ticks()[:3] == [0.0, 1000.0, 2000.0]
    assert [tick_seconds(v) for v in (0.0, 5e-4, 0.2, 0.25, 2.0)] == \
        ["0", "500µs", "200ms", "250ms", "2s"]


def test_a_short_run_is_marked_with_how_to_size_it() -> None:
    plain = parse(render_run(run()))
    assert not plain.having("td", "short")
    page = render_run(run(short=True))
    doc = parse(page)
    assert len(doc.having("td", "short")) == 2  # c32 of both measured configurations
    assert "raise workload.max_requests to 230 or more" in page
    assert "caution: the ranking rests on short runs" in page
