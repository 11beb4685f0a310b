"""Pruning inside a configuration: which points a missed hard SLO prunes, when a running
genai-bench is stopped, and what the deployment reports (a fake runner replays golden files)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_autotune.backends.base import ServerHandle, ServerSpec
from pytest_autotune.bench.intervals import NoiseFloor
from pytest_autotune.bench.runner import BenchOutcome, BenchRequest, run
from pytest_autotune.cases.case import Case
from pytest_autotune.decide.pruning import Pruned, Watch, pruned_points, stop_reason
from pytest_autotune.decide.slo import SLO, parse_slo
from pytest_autotune.decide.stats import Interval
from pytest_autotune.engine import deploy
from pytest_autotune.engine.deploy import Deployment, PassPlan
from pytest_autotune.results.records import PointResult
from pytest_autotune.values import Metrics, Stat, WorkloadPoint

from .builders import make_case, settings

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "genai_bench" / "ms-grid"
A, B = "D(100,100)", "N(200,50)/(40,10)"


def metrics(ttft_p99: float = 0.1, *, low: float | None = None, high: float | None = None,
            rps: float = 20.0, errors: int = 0, duration: float = 1.0) -> Metrics:
    """A point's metrics with a ttft.p99 interval (default ±10 %)."""
    iv = Interval(low if low is not None else 0.9 * ttft_p99,
                  high if high is not None else 1.1 * ttft_p99, "order", 400)
    return Metrics(ttft=Stat(mean=ttft_p99 / 2, p50=ttft_p99 / 2, p99=ttft_p99), tpot=Stat(),
                   e2e=Stat(), output_latency=Stat(), output_throughput=1000.0,
                   input_throughput=1000.0, total_throughput=2000.0, request_throughput=rps,
                   num_requests=100, num_errors=errors, run_duration=duration,
                   intervals={"ttft.p99": iv})


def points(scenario: str = A, levels: tuple[int, ...] = (1, 4, 16)) -> list[WorkloadPoint]:
    return [WorkloadPoint(scenario, c) for c in levels]


TTFT = parse_slo("ttft.p99 <= 200ms")


def test_a_missed_hard_slo_prunes_the_higher_concurrencies_of_its_scenario() -> None:
    c1, c4, c16 = points()
    pruned = pruned_points([c1, c4, c16], {c1: metrics(0.5)}, [TTFT])
    assert pruned == {c4: "pruned: ttft.p99 <= 200ms already missed at D(100,100)-c1",
                      c16: "pruned: ttft.p99 <= 200ms already missed at D(100,100)-c1"}
    assert pruned_points([c1, c4, c16], {c1: metrics(0.1)}, [TTFT]) == {}


def test_the_lowest_miss_prunes_whatever_order_the_measurements_came_in() -> None:
    c1, c4, c16, c64 = points(levels=(1, 4, 16, 64))
    measured = {c16: metrics(0.9), c4: metrics(0.5), c1: metrics(0.1)}
    pruned = pruned_points([c1, c4, c16, c64], measured, [TTFT])
    assert set(pruned) == {c16, c64}
    assert pruned[c64].endswith("already missed at D(100,100)-c4")


def test_soft_unresolved_and_lower_bound_misses_prune_nothing() -> None:
    c1, c4, c16 = points()
    soft = SLO("ttft", "p99", "<=", 0.2, "ttft.p99 <= 200ms", hard=False)
    assert pruned_points([c4, c16], {c1: metrics(0.5)}, [soft]) == {}
    # the estimate misses, but the interval straddles the threshold: unresolved
    straddling = metrics(0.25, low=0.15, high=0.35)
    assert pruned_points([c4, c16], {c1: straddling}, [TTFT]) == {}
    # throughput grows with load: missed at c1, met higher up
    rps = parse_slo("request_throughput >= 40 req/s")
    assert pruned_points([c4, c16], {c1: metrics(rps=10.0)}, [rps]) == {}
    # within the fail_ratio the item does not fail, so nothing is pruned either
    tolerant = parse_slo("ttft.p99 <= 200ms", fail_ratio=0.5)
    assert pruned_points([c4, c16], {c1: metrics(0.25, low=0.24)}, [tolerant]) == {}


def test_an_error_rate_miss_prunes_and_every_missed_slo_is_named() -> None:
    c1, c4, _ = points()
    slos = [TTFT, parse_slo("error_rate <= 1%")]
    assert pruned_points([c4], {c1: metrics(0.5, errors=5)}, slos) == {
        c4: "pruned: ttft.p99 <= 200ms; error_rate <= 1% already missed at D(100,100)-c1"}


def test_pruning_is_per_scenario() -> None:
    a1, a4, a16 = points(A)
    b1, b4, b16 = points(B)
    measured = {a1: metrics(0.5), b1: metrics(0.1), b4: metrics(0.15)}
    assert set(pruned_points([a4, a16, b4, b16], measured, [TTFT])) == {a4, a16}


def test_stop_when_every_run_left_is_pruned_or_costs_more_than_a_restart() -> None:
    a1, a4, a16 = points(A)
    b1, b4, b16 = points(B)
    order = [a1, a4, a16, b1, b4, b16]
    pruned = {a4: "x", a16: "x"}
    assert stop_reason([a1, a4, a16], {a1: metrics()}, pruned) == \
        "pruned: every point left is pruned"
    assert stop_reason([a1, a4, a16], {}, {}) is None
    # two short runs ahead: cheaper to let genai-bench run through them
    assert stop_reason(order, {a1: metrics(duration=1.0)}, pruned) is None
    # two long ones: stop, the rest goes to a new genai-bench
    assert stop_reason(order, {a1: metrics(duration=30.0)}, pruned) == (
        "pruned: D(100,100)-c4, D(100,100)-c16; the points after them in a new genai-bench "
        "process")
    # the estimate is the last finished run's duration
    assert stop_reason(order, {a1: metrics(duration=30.0), a4: metrics(duration=1.0)},
                       {a16: "x"}) is None
    assert stop_reason(order, {a1: metrics(duration=1.0), a4: metrics(duration=30.0)},
                       {a16: "x"}) is not None
    # the next run is not pruned: let it run
    assert stop_reason([a1, a4, b1, a16], {a1: metrics(duration=30.0)}, {a16: "x"}) is None


def test_a_pruned_point_reads_as_pruned_in_the_results_and_the_table() -> None:
    from pytest_autotune.report.table import point_row

    why = "pruned: ttft.p99 <= 200ms already missed at D(100,100)-c1"
    point = PointResult(WorkloadPoint(A, 4), "skipped", None, reason=why)
    assert point.pruned and point_row(point)[-1] == why
    other = PointResult(WorkloadPoint(A, 4), "skipped", None, reason="not today")
    assert not other.pruned and point_row(other)[-1] == "SKIPPED"


# -- the watch over an experiment folder, and a deployment with a fake genai-bench --------------
def golden(scenario: str, concurrency: int) -> Path:
    stem = {A: "D100_100", B: "N200_50_40_10"}[scenario]
    [path] = GOLDEN.glob(f"{stem}_text-to-text_num_concurrency_{concurrency}_time_*s.json")
    return path


def test_the_watch_reads_runs_as_they_finish_and_ignores_half_written_ones(
    tmp_path: Path,
) -> None:
    case = make_case(["ttft.p50 <= 1us"], [A], [1, 4])
    order = [WorkloadPoint(A, 1), WorkloadPoint(A, 4)]
    watch = Watch(tmp_path, order, case.slos, case.workload, NoiseFloor())
    assert watch.poll() is None and watch.pruned == {}
    half = tmp_path / golden(A, 1).name
    half.write_text(golden(A, 1).read_text()[:100])
    assert watch.poll() is None and watch.finished == {}
    shutil.copy(golden(A, 1), half)
    assert watch.poll() == "pruned: every point left is pruned"
    assert watch.pruned == {order[1]: "pruned: ttft.p50 <= 1us already missed at D(100,100)-c1"}
    assert watch.finished[order[0]].interval("ttft", "p50") is not None


class Replay:
    """A fake genai-bench: copies golden run files into the experiment folder one by one, and
    polls ``abort`` after each, as the real runner does while genai-bench runs."""

    def __init__(self) -> None:
        self.asked: list[list[str]] = []
        self.ran: list[str] = []

    def run(self, req: BenchRequest, *, sink: Callable[[str], object] | None = None,
            abort: Callable[[], str | None] | None = None) -> BenchOutcome:
        self.asked.append([p.id for p in req.invocation.points])

        def fake(argv: list[str], **kwargs: object) -> Fake:
            return Fake(req, self.ran)

        return run_with(req, abort, fake)


class Fake:
    """A Popen stand-in: one golden run file per ``wait``."""

    def __init__(self, req: BenchRequest, ran: list[str]) -> None:
        self.todo = list(req.invocation.points)
        self.folder = req.out_dir
        self.ran = ran
        self.stdout = None
        self.returncode: int | None = None

    def wait(self, timeout: float | None = None) -> int:
        import subprocess

        if self.todo:
            point = self.todo.pop(0)
            shutil.copy(golden(point.scenario, point.concurrency), self.folder)
            self.ran.append(point.id)
            raise subprocess.TimeoutExpired("genai-bench", timeout or 0)
        self.returncode = 0
        return 0

    def poll(self) -> int | None:
        return self.returncode


def run_with(req: BenchRequest, abort: Callable[[], str | None] | None,
             popen: Callable[..., Fake]) -> BenchOutcome:
    import pytest_autotune.bench.runner as runner

    mp = pytest.MonkeyPatch()
    mp.setattr("pytest_autotune.bench.runner.subprocess.Popen", popen)
    mp.setattr(runner, "pump_output", lambda proc, sinks: _Joined())
    mp.setattr(runner, "terminate_group", lambda proc, grace: setattr(proc, "returncode", -15))
    try:
        return run(req, abort=abort, poll=0.0, command=["genai-bench"])
    finally:
        mp.undo()


class _Joined:
    def join(self, timeout: float | None = None) -> None:
        pass


def make_deployment(tmp_path: Path, case: Case, bench: Replay, *, prune: bool = True) -> \
        Deployment:
    from pytest_autotune.values import Configuration

    config = Configuration(case.name, ())
    handle = ServerHandle("http://127.0.0.1:1", ServerSpec.from_case(case, config), [])
    return Deployment(case, config, handle, settings(tmp_path), tmp_path, case.workload.points(),
                      runner=bench, passes=PassPlan(prune=prune))


@pytest.fixture(autouse=True)
def healthy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deploy, "is_healthy", lambda url, key: True)


def test_a_deployment_stops_genai_bench_and_skips_the_pruned_points(tmp_path: Path) -> None:
    case = make_case(["ttft.p50 <= 1us"], [A], [1, 4])
    bench = Replay()
    deployment = make_deployment(tmp_path, case, bench)
    assert deployment.measure(WorkloadPoint(A, 1)).num_requests > 0
    with pytest.raises(Pruned, match=r"^pruned: ttft.p50 <= 1us already missed at "
                                     r"D\(100,100\)-c1$"):
        deployment.measure(WorkloadPoint(A, 4))
    assert bench.ran == ["D(100,100)-c1"] and bench.asked == [["D(100,100)-c1", "D(100,100)-c4"]]
    # without pruning both are measured (and c4 fails its SLO as an item)
    plain = Replay()
    other = make_deployment(tmp_path / "plain", case, plain, prune=False)
    other.measure(WorkloadPoint(A, 4))
    assert plain.ran == ["D(100,100)-c1", "D(100,100)-c4"]


@pytest.mark.parametrize("restart", [0.0, 60.0])
def test_a_scenario_pruned_before_another(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          restart: float) -> None:
    """N(...) at c1 misses (p50 ≥ 17.09 ms); D(100,100) at c1 straddles it (16.1 … 18.0 ms)."""
    import pytest_autotune.decide.pruning as pruning

    monkeypatch.setattr(pruning, "RESTART_SECONDS", restart)
    case = make_case(["ttft.p50 <= 17ms"], [B, A], [1, 4])
    bench = Replay()
    deployment = make_deployment(tmp_path, case, bench)
    outcomes: dict[str, str] = {}
    for point in case.workload.points():
        try:
            deployment.measure(point)
            outcomes[point.id] = "measured"
        except Pruned as exc:
            outcomes[point.id] = exc.reason
    assert outcomes == {f"{B}-c1": "measured",
                        f"{B}-c4": f"pruned: ttft.p50 <= 17ms already missed at {B}-c1",
                        f"{A}-c1": "measured", f"{A}-c4": "measured"}
    everything = [f"{B}-c1", f"{B}-c4", f"{A}-c1", f"{A}-c4"]
    if restart == 0.0:  # the pruned run costs more than a restart: stopped, the rest anew
        assert bench.asked == [everything, [f"{A}-c1", f"{A}-c4"]]
        assert bench.ran == [f"{B}-c1", f"{A}-c1", f"{A}-c4"]
    else:  # cheaper to let it run through the pruned run (whose result is not reported)
        assert bench.asked == [everything] and bench.ran == everything
    assert WorkloadPoint(B, 4) not in deployment.results
    assert WorkloadPoint(B, 4) not in deployment.seconds


def test_later_passes_skip_the_pruned_points(tmp_path: Path) -> None:
    case = make_case(["ttft.p50 <= 17ms"], [B, A], [1, 4])
    bench = Replay()
    deployment = make_deployment(tmp_path, case, bench)
    deployment.passes = PassPlan(first=1, cap=2, more=lambda *args: "again", prune=True)
    deployment.measure(WorkloadPoint(A, 1))
    # the first pass runs through the short pruned run; the second leaves it out, so it needs
    # one process per concurrency set
    assert bench.asked == [[f"{B}-c1", f"{B}-c4", f"{A}-c1", f"{A}-c4"], [f"{B}-c1"],
                           [f"{A}-c1", f"{A}-c4"]]
    assert WorkloadPoint(B, 4) in deployment.pruned
    assert deployment.results[WorkloadPoint(B, 1)].passes == 2  # type: ignore[union-attr]
    assert deployment.results[WorkloadPoint(A, 4)].passes == 2  # type: ignore[union-attr]
