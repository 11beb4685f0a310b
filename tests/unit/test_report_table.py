"""The terminal table and the decision lines (report/table.py, report/build.py), from run
reports built the way the plugin builds them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

import pytest

from pytest_autotune.decide import ranking
from pytest_autotune.decide.ranking import PROJECT_CHOICE, Decision
from pytest_autotune.decide.scoring import adopt, select_best, with_builtin_score
from pytest_autotune.decide.slo import SLO, evaluate, parse_slo
from pytest_autotune.decide.stats import Interval
from pytest_autotune.report.build import build_report
from pytest_autotune.report.table import render_cases
from pytest_autotune.results.records import (
    ConfigIdentity,
    DeploymentFacts,
    PointRecord,
    RunReport,
    Trial,
    group_records,
)
from pytest_autotune.values import FlagValue, Metrics, Stat, WorkloadPoint

POINT = WorkloadPoint("D(100,100)", 8)


class Lines:
    """A terminal that keeps what it is given."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write_line(self, line: str, **markup: bool) -> None:
        self.lines.append(line)

    def write_sep(self, sep: str, title: str, **markup: bool) -> None:
        self.lines.append(title)


def metrics(throughput: float) -> Metrics:
    # every statistic a different number, so a column shows which one it took
    return Metrics(ttft=Stat(mean=0.030, p50=0.025, p90=0.041, p95=0.047, p99=0.093),
                   tpot=Stat(mean=0.0021, p50=0.0020, p90=0.0033, p99=0.0052),
                   e2e=Stat(mean=0.21, p50=0.20, p90=0.27, p99=0.36),
                   output_latency=Stat(), output_throughput=throughput,
                   input_throughput=throughput, total_throughput=2 * throughput,
                   request_throughput=1.0, num_requests=400, num_errors=0, run_duration=10.0,
                   intervals={"output_throughput": Interval(0.95 * throughput,
                                                            1.05 * throughput),
                              "ttft.p90": Interval(0.039, 0.044)})


Choose = Callable[[list[Trial]], "Trial | Decision | None"]


def report(configs: Sequence[tuple[Mapping[str, FlagValue], float]],
           slos: Sequence[SLO], choose: Choose = select_best) -> RunReport:
    """The run report of one case whose best ``choose`` picks (as a select_best hook would:
    the ranking's decision by default), round-tripped through its dict."""
    records = []
    for index, (params, throughput) in enumerate(configs):
        config_id = "-".join(f"{k}={v}" for k, v in params.items())
        m = metrics(throughput)
        records.append(PointRecord(
            config=ConfigIdentity(case="chat", source="chat.yaml", config_id=config_id,
                                  config_key=f"chat[{config_id}]", index=index,
                                  params=dict(params), simulated=True),
            point=POINT, outcome="passed", metrics=m, verdicts=tuple(evaluate(slos, m)),
            deployment=DeploymentFacts()))
    trials = [with_builtin_score(t) for t in group_records(records)]
    built = build_report(trials, {"chat": adopt(choose(trials), trials)},
                         run_id="20261207-070000-ab12", started=0.0, mode="sim",
                         commit="abc1234")
    return RunReport.from_dict(built.to_dict())


def rendered(run: RunReport) -> list[str]:
    terminal = Lines()
    render_cases(terminal, run)
    return terminal.lines


def table_header(lines: list[str]) -> str:
    return next(line for line in lines if line.strip().startswith("#  configuration"))


def test_the_table_shows_the_percentiles_the_slos_name() -> None:
    """An SLO on the TTFT p90 is judged on the p90: the column beside its ``pass`` is the
    p90 (41.0ms), not the p99 (93.0ms)."""
    lines = rendered(report([({"schedule-policy": "lpm"}, 3000.0)],
                            [parse_slo("ttft.p90 <= 300ms"), parse_slo("e2e.p50 <= 1s")]))
    header = table_header(lines)
    assert "ttft p90" in header and "ttft p99" not in header
    assert "e2e p50" in header and "e2e p99" not in header
    assert "tpot p50" in header  # no SLO on the TPOT: the default column
    row = next(line for line in lines if "D(100,100)-c8" in line)
    assert "41.0ms" in row and "93.0ms" not in row
    assert "200.0ms" in row and "360.0ms" not in row
    assert row.rstrip().endswith("3,000 tok/s") and "pass" in row


def test_two_slos_on_one_metric_show_both_statistics() -> None:
    lines = rendered(report([({"schedule-policy": "lpm"}, 3000.0)],
                            [parse_slo("ttft.p90 <= 300ms"), parse_slo("ttft.p99 <= 1s")]))
    header = table_header(lines)
    assert header.index("ttft p90") < header.index("ttft p99") < header.index("tpot p50")
    row = next(line for line in lines if "D(100,100)-c8" in line)
    assert "41.0ms" in row and "93.0ms" in row


def test_without_latency_slos_the_default_columns_stay() -> None:
    lines = rendered(report([({"schedule-policy": "lpm"}, 3000.0)],
                            [parse_slo("error_rate <= 1%")]))
    header = table_header(lines)
    assert ["ttft p99", "tpot p50", "e2e p99"] == [c for c in
                                                  ("ttft p99", "tpot p50", "e2e p99")
                                                  if c in header]


def test_the_tie_break_says_which_configuration_won_in_plain_words() -> None:
    """#1 leads by 1 % (within the noise); #2 sets one flag fewer away from SGLang's
    defaults, so it is the one reported."""
    run = report([({"schedule-policy": "lpm", "stream-interval": 4}, 3030.0),
                  ({"schedule-policy": "lpm", "stream-interval": 1}, 3000.0)],
                 [parse_slo("error_rate <= 1%")])
    case = run.cases[0]
    assert case.best is not None and case.best.config_id.endswith("stream-interval=1")
    assert case.decision == (
        "#2 schedule-policy=lpm-stream-interval=1 is reported as best: it ties the leader "
        "#1 schedule-policy=lpm-stream-interval=4 and needs fewer non-default flags "
        "(1 against 2)")
    assert case.decision in [line.strip() for line in rendered(run)]


def test_the_tie_break_by_gpus_and_by_grid_order() -> None:
    by_gpus = report([({"tp-size": 2}, 3030.0), ({"tp-size": 1}, 3000.0)],
                     [parse_slo("error_rate <= 1%")]).cases[0]
    assert by_gpus.decision.endswith("and needs fewer GPUs (1 against 2)")
    by_order = report([({"schedule-policy": "lpm"}, 3000.0),
                       ({"schedule-policy": "dfs-weight"}, 3030.0)],
                      [parse_slo("error_rate <= 1%")]).cases[0]
    assert by_order.decision == (
        "#1 schedule-policy=lpm is reported as best: it ties the leader #2 "
        "schedule-policy=dfs-weight and needs as many GPUs and non-default flags, and comes "
        "first in grid order")


def test_a_leader_that_is_also_preferred_says_so() -> None:
    case = report([({"schedule-policy": "fcfs"}, 3030.0), ({"schedule-policy": "lpm"}, 3000.0)],
                  [parse_slo("error_rate <= 1%")]).cases[0]
    assert case.decision.startswith("#1 schedule-policy=fcfs is reported as best: it leads by "
                                    "score")


# -- the decision the report shows is the one select_best made -----------------------------------
TIED: list[tuple[Mapping[str, FlagValue], float]] = [
    ({"schedule-policy": "lpm", "stream-interval": 4}, 3030.0),
    ({"schedule-policy": "lpm", "stream-interval": 1}, 3000.0),
    ({"schedule-policy": "fcfs", "stream-interval": 1}, 1500.0)]


def test_the_report_shows_the_decision_it_is_given_without_ranking_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A decision is shown as it is (ties, confidence, reason); the report never runs the
    ranking a second time."""
    def given(trials: list[Trial]) -> Decision:
        return Decision(best=trials[2], tied=(ranking.Tie(trials[0], 1530.0, Interval(1, 2)),),
                        confidence=0.25, reason="the project's own reason",
                        chosen_by_project=True)

    def no_second_ranking(*args: object, **kwargs: object) -> Decision:
        raise AssertionError("the report ranked the trials again")

    monkeypatch.setattr(ranking, "decide", no_second_ranking)
    case = report(TIED, [parse_slo("error_rate <= 1%")], given).cases[0]
    assert case.best is not None
    assert case.best.config_id == "schedule-policy=fcfs-stream-interval=1"
    assert case.decision == "the project's own reason" and case.confidence == 0.25
    assert [t.config_id for t in case.tied] == ["schedule-policy=lpm-stream-interval=4"]


def test_a_project_s_choice_other_than_the_winner_says_who_chose() -> None:
    """A select_best hook returns a copy of the leader by score, which the ranking passed over
    by preference: the report names the project as the chooser, with the ties judged
    against its choice."""
    case = report(TIED, [parse_slo("error_rate <= 1%")],
                  lambda trials: replace(trials[0])).cases[0]
    assert case.best is not None and case.best.config_id.endswith("stream-interval=4")
    assert case.decision == PROJECT_CHOICE == (
        "chosen by the project's pytest_autotune_select_best")
    assert [t.config_id for t in case.tied] == ["schedule-policy=lpm-stream-interval=1"]
    assert case.confidence is not None and case.confidence < 0.95


def test_a_project_returning_a_copy_of_the_winner_gets_the_ranking_s_decision() -> None:
    """Compared by configuration, not as objects: an equal copy of the winner is no override."""
    case = report(TIED, [parse_slo("error_rate <= 1%")],
                  lambda trials: replace(trials[1])).cases[0]
    assert case.decision.startswith("#2 schedule-policy=lpm-stream-interval=1 is reported as "
                                    "best: it ties the leader #1")


def test_no_choice_is_no_best() -> None:
    case = report(TIED, [parse_slo("error_rate <= 1%")], lambda trials: None).cases[0]
    assert case.best is None and case.decision == "" and case.tied == []


def test_the_project_s_choice_without_ties_is_not_called_a_clear_winner() -> None:
    """The project names the configuration far behind the leader: the table says who chose it
    (with the confidence in it), not "clear winner"."""
    run = report(TIED, [parse_slo("error_rate <= 1%")], lambda trials: trials[2])
    case = run.cases[0]
    assert case.decision == PROJECT_CHOICE and case.tied == []
    lines = [line.strip() for line in rendered(run)]
    assert f"{PROJECT_CHOICE} (confidence 0%)" in lines
    assert not any(line.startswith("clear winner") for line in lines)
