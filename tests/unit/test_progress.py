"""Live progress: the progress lines, the launcher's dashboard patch, the tracker, the worker
files, and the two terminal views (escape sequences, throttling, the 30 s rule)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_autotune.bench import runner
from pytest_autotune.bench.plan import Invocation
from pytest_autotune.bench.progress import (
    BenchEnded,
    Reporter,
    RequestsDone,
    RunStarted,
    compatible,
    dashboard_class,
    format_event,
    parse_line,
    parse_run_name,
)
from pytest_autotune.errors import BenchError
from pytest_autotune.plugin.progress import TerminalScreen
from pytest_autotune.report.live import (
    Board,
    FolderPublisher,
    LinesView,
    LiveView,
    Status,
    Tracker,
    clear_sequence,
    frame,
    read_folder,
)
from pytest_autotune.values import Workload

ROOT = Path(__file__).resolve().parents[2]


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- the lines ------------------------------------------------------------------------------------
def test_progress_lines_parse_and_other_lines_do_not() -> None:
    assert parse_line('autotune-progress {"done": 30, "total": 48, "errors": 1, '
                      '"ttft_p50": 0.182}') == RequestsDone(30, 48, 1, 0.182)
    assert parse_line('autotune-progress {"event": "run", "scenario": "N(480,240)/(300,150)", '
                      '"concurrency": 32, "total": 48}\n'.rstrip()) == \
        RunStarted("N(480,240)/(300,150)", 32, 48)
    assert parse_line('autotune-progress {"event": "end"}') == BenchEnded()
    assert parse_line('autotune-progress {"done": 3, "total": 8, "ttft_p50": null}') == \
        RequestsDone(3, 8, 0, None)
    for other in ("INFO genai-bench started", "autotune-progress {not json", "autotune-progress []",
                  'autotune-progress {"total": 4}', ""):
        assert parse_line(other) is None
    for event in (RunStarted("D(100,100)", 4, 16), RequestsDone(2, 16, 0, 0.25), BenchEnded()):
        assert parse_line(format_event(event)) == event


def test_run_names_give_scenario_and_concurrency() -> None:
    assert parse_run_name("Scenario: D(100,100), Concurrency: 32") == ("D(100,100)", 32)
    assert parse_run_name("Scenario: N(480,240)/(300,150), Concurrency: 1") == \
        ("N(480,240)/(300,150)", 1)
    assert parse_run_name("Scenario: E(64), Batch Size: 8") == ("E(64)", None)


# -- the launcher's dashboard ---------------------------------------------------------------------
class FakeMinimalDashboard:
    """genai-bench 0.0.5's MinimalDashboard: every method a no-op."""

    def __init__(self, metrics_time_unit: str = "s") -> None:
        self.calls: list[str] = []

    def create_benchmark_progress_task(self, run_name: str) -> None:
        self.calls.append("task")

    def start_run(self, run_time: int, start_time: float, max_requests_per_run: int) -> None:
        self.calls.append("start")

    def handle_single_request(self, live_metrics: Any, total_requests: int,
                              error_code: int | None) -> None:
        self.calls.append("request")

    def update_total_progress_bars(self, total_runs: int) -> None:
        self.calls.append("total")


def test_patched_dashboard_prints_throttled_progress_lines() -> None:
    printed: list[str] = []
    clock = Clock(0.0)
    cls = dashboard_class(FakeMinimalDashboard, lambda: Reporter(printed.append, clock))
    board = cls("s")
    board.create_benchmark_progress_task("Scenario: D(100,100), Concurrency: 32")
    board.start_run(60, 0.0, 4)
    live = {"ttft": [0.3, 0.1, 0.2], "input_throughput": [], "stats": {}}
    board.handle_single_request(live, 1, None)
    clock.now = 0.1  # throttled
    board.handle_single_request(live, 2, 500)
    clock.now = 0.2
    board.handle_single_request({"ttft": [0.3, 0.1, 0.2, 0.4]}, 4, None)  # the last one: shown
    clock.now = 0.3
    board.handle_single_request(live, 5, None)  # genai-bench overshoots: throttled again
    board.update_total_progress_bars(1)
    board.handle_single_request(live, 6, None)  # after the run is over: nothing
    assert board.calls == ["task", "start", *["request"] * 4, "total", "request"]
    assert [parse_line(line) for line in printed] == [
        RunStarted("D(100,100)", 32, 4), RequestsDone(1, 4, 0, 0.2), RequestsDone(4, 4, 1, 0.25),
        BenchEnded()]
    assert printed[1] == 'autotune-progress {"done": 1, "total": 4, "errors": 0, "ttft_p50": 0.2}'


def test_a_broken_reporter_never_reaches_genai_bench() -> None:
    class Broken(Reporter):
        def request(self, *args: Any) -> None:
            raise RuntimeError("boom")

    board = dashboard_class(FakeMinimalDashboard, lambda: Broken(lambda line: None))("s")
    board.start_run(60, 0.0, 4)
    board.handle_single_request(None, 1, None)
    assert board.calls == ["start", "request"]


def test_only_the_expected_dashboard_is_patched() -> None:
    assert compatible(FakeMinimalDashboard)

    class Renamed(FakeMinimalDashboard):
        def start_run(self, duration: int, start_time: float,
                      max_requests_per_run: int) -> None:
            pass

    assert not compatible(Renamed)
    assert not compatible(object)


LAUNCHER_CHECK = """
import os
os.environ["ENABLE_UI"] = "false"
from pytest_autotune.bench.progress import install
import genai_bench.cli.cli as cli
assert install()
board = cli.create_dashboard("s")
print(type(board).__name__, type(board).__mro__[1].__name__)
board.create_benchmark_progress_task("Scenario: D(100,100), Concurrency: 32")
board.start_run(60, 0.0, 48)
board.handle_single_request({"ttft": [0.18, 0.19, 0.17], "stats": {}}, 30, None)
"""


@pytest.mark.slow
def test_the_launcher_patches_the_installed_genai_bench() -> None:
    if importlib.util.find_spec("genai_bench") is None:  # not imported here: it patches gevent in
        pytest.skip("genai-bench is not installed")
    out = subprocess.run([sys.executable, "-c", LAUNCHER_CHECK], capture_output=True,  # noqa: S603
                         text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert "ProgressDashboard MinimalDashboard" in lines
    assert [parse_line(line) for line in lines if line.startswith("autotune-progress")] == [
        RunStarted("D(100,100)", 32, 48), RequestsDone(30, 48, 0, 0.18)]


def test_the_launcher_runs_another_genai_bench_unchanged(tmp_path: Path) -> None:
    fake = tmp_path / "genai_bench"
    (fake / "cli").mkdir(parents=True)
    (fake / "ui").mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "cli" / "__init__.py").write_text("")
    (fake / "ui" / "__init__.py").write_text("")
    (fake / "ui" / "dashboard.py").write_text("class MinimalDashboard:\n    pass\n")
    (fake / "cli" / "cli.py").write_text(textwrap.dedent("""\
        import sys
        class _Cli:
            def main(self, args, prog_name):
                print("fake genai-bench ran", args, flush=True)
                sys.exit(3)
        cli = _Cli()
        def create_dashboard(unit="s"):
            raise AssertionError("not called")
    """))
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    out = subprocess.run([sys.executable, "-m", runner.LAUNCHER_MODULE,  # noqa: S603
                          "benchmark", "--x"], capture_output=True, text=True, timeout=60,
                         env=env, check=False)
    assert out.stdout == "fake genai-bench ran ['benchmark', '--x']\n", out.stderr
    assert out.returncode == 3


# -- the runner -----------------------------------------------------------------------------------
def test_the_runner_uses_the_launcher_when_genai_bench_is_importable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name: object() if name == "genai_bench" else None)
    assert runner.default_command() == (sys.executable, "-m", "pytest_autotune.bench.progress")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    exe = tmp_path / "genai-bench"
    exe.write_text("")
    monkeypatch.setattr(runner, "genai_bench_executable", lambda: str(exe))
    assert runner.default_command() == (str(exe),)


def test_progress_lines_reach_the_sink_and_the_log_but_not_the_error_tail(
    tmp_path: Path
) -> None:
    script = tmp_path / "bench.py"
    script.write_text(textwrap.dedent("""\
        print('autotune-progress {"done": 1, "total": 2, "errors": 0, "ttft_p50": 0.1}')
        print("Traceback: it broke")
        raise SystemExit(1)
    """))
    w = Workload(scenarios=("D(10,10)",), concurrency=(1,))
    req = runner.BenchRequest(url="http://127.0.0.1:9", api_model_name="m", tokenizer="/tok",
                              workload=w, invocation=Invocation(("D(10,10)",), (1,)),
                              out_dir=tmp_path / "out", timeout=30)
    seen: list[str] = []
    outcome = runner.run(req, sink=seen.append, poll=0.05, command=(sys.executable, str(script)))
    [error] = outcome.results.values()
    assert isinstance(error, BenchError)
    assert "Traceback: it broke" in error.output_tail and "autotune-progress" not in \
        error.output_tail
    assert "autotune-progress" in (tmp_path / "out" / "genai-bench.out").read_text()
    assert [line.split()[0] for line in seen] == ["autotune-progress", "Traceback:"]


# -- the tracker and the worker files -------------------------------------------------------------
def test_tracker_turns_lines_into_the_running_items_status() -> None:
    published: list[Status | None] = []
    clock = Clock(100.0)
    tracker = Tracker(published.append, worker="gw1", clock=clock)
    assert tracker.feed("autotune-progress {\"event\": \"end\"}\n")  # no item: consumed, ignored
    assert published == []
    tracker.begin(lambda: ("chat-1b · bs=160", "D(100,100)-c1"))
    assert not tracker.feed("INFO something else\n")
    tracker.feed(format_event(RunStarted("D(100,100)", 32, 48)) + "\n")
    clock.now = 112.0
    tracker.feed(format_event(RequestsDone(30, 48, 0, 0.182)) + "\n")
    status = published[-1]
    assert status is not None and status.worker == "gw1" and status.pid == os.getpid()
    assert status.text(clock.now) == \
        "autotune ▸ [gw1] chat-1b · bs=160 · D(100,100)-c32  30/48 req  12 s  p50 TTFT 182.0ms"
    tracker.feed(format_event(BenchEnded()))
    assert published[-1] is None
    tracker.feed(format_event(RequestsDone(2, 8, 1, None)))  # without a run line: the item's point
    status = published[-1]
    assert status is not None
    assert status.text(clock.now) == \
        "autotune ▸ [gw1] chat-1b · bs=160 · D(100,100)-c1  2/8 req  0 s  1 err"
    tracker.end()
    assert published[-1] is None


def test_board_keeps_one_status_per_worker() -> None:
    board = Board()
    a, b = Status("x", "p", 0.0, worker="gw1"), Status("y", "q", 0.0, worker="gw0")
    board.replace([a, b])
    assert board.snapshot() == [b, a]
    board.set("gw0", None)
    assert board.snapshot() == [a]


def test_worker_files_are_atomic_throttled_and_removed(tmp_path: Path) -> None:
    clock = Clock(0.0)
    folder = tmp_path / "progress"
    publish = FolderPublisher(folder, "gw0", interval=1.0, clock=clock)
    first = Status("chat · a", "D(1,1)-c1", 50.0, done=1, total=8, worker="gw0", pid=os.getpid())
    publish(first)
    assert read_folder(folder) == [first]
    second = Status("chat · a", "D(1,1)-c1", 50.0, done=2, total=8, worker="gw0", pid=os.getpid())
    third = Status("chat · a", "D(1,1)-c1", 50.0, done=3, total=8, worker="gw0", pid=os.getpid())
    clock.now = 0.4
    publish(second)
    publish(third)
    assert read_folder(folder) == [first]  # within the second: waits for the timer
    clock.now = 1.0
    publish.flush()
    assert read_folder(folder) == [third]  # the newest one
    assert [p.name for p in folder.iterdir()] == ["gw0.json"]  # no temporary file left
    publish(None)  # the item ended
    assert list(folder.iterdir()) == []


def test_a_crashed_workers_file_is_dropped(tmp_path: Path) -> None:
    (tmp_path / "gw3.json").write_text(json.dumps(Status("x", "p", 0.0, pid=999999).to_dict()))
    (tmp_path / "gw4.json").write_text("{torn")
    assert read_folder(tmp_path, alive=lambda pid: False) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gw4.json"]


# -- the views ------------------------------------------------------------------------------------
class FakeScreen:
    def __init__(self, column: int = 11, width: int = 60) -> None:
        self.lock = threading.RLock()
        self.col = column
        self.cols = width
        self.out: list[str] = []

    def write(self, text: str) -> None:
        self.out.append(text)

    def column(self) -> int:
        return self.col

    def width(self) -> int:
        return self.cols

    def write_lines(self, lines: Sequence[str]) -> None:
        self.out.extend(lines)


def test_frame_draws_below_the_line_and_returns_to_its_column() -> None:
    assert frame(["a", "bb"], 10, 80) == "\n\x1b[Ka\n\x1b[Kbb\x1b[J\x1b[2A\x1b[11G"
    assert frame(["x" * 30], 0, 20) == "\n\x1b[K" + "x" * 18 + "…\x1b[J\x1b[1A\x1b[1G"
    assert clear_sequence(10) == "\n\x1b[J\x1b[1A\x1b[11G"


def test_live_view_redraws_at_most_twice_a_second_and_clears() -> None:
    screen, clock = FakeScreen(), Clock(100.0)
    view = LiveView(screen, clock=clock)
    status = [Status("chat · a", "D(1,1)-c4", 90.0, done=3, total=8)]
    view.show(status)
    assert screen.out == [frame(["autotune ▸ chat · a · D(1,1)-c4  3/8 req  10 s"], 11, 60)]
    clock.now = 100.3
    view.show(status)
    assert len(screen.out) == 1  # throttled
    clock.now = 100.5
    view.show(status)
    assert len(screen.out) == 2
    screen.col = 12  # pytest wrote a dot: the lines are erased from where they were drawn
    view.clear()
    assert screen.out[-1] == clear_sequence(11)
    view.clear()
    assert len(screen.out) == 3  # nothing drawn: nothing to erase
    view.show(status)  # after an erase: at once, from the new column
    assert screen.out[-1].endswith("\x1b[13G")
    view.pause()
    clock.now = 200.0
    view.show(status)
    assert screen.out[-1] == clear_sequence(12)
    view.resume()
    view.show([])
    assert screen.out[-1] == clear_sequence(12)  # nothing running


def test_lines_view_prints_only_points_running_longer_than_the_interval() -> None:
    screen, clock = FakeScreen(), Clock(0.0)
    view = LinesView(screen, clock=clock)
    slow = Status("chat · a", "D(1,1)-c4", 0.0, done=3, total=8)
    quick = Status("chat · a", "D(1,1)-c8", 5.0, done=3, total=8)
    for now in (10.0, 29.0):
        clock.now = now
        view.show([slow, quick])
    assert screen.out == []  # the quick point finished before 30 s
    clock.now = 30.0
    view.show([slow])
    assert screen.out == ["autotune ▸ chat · a · D(1,1)-c4  3/8 req  30 s"]
    clock.now = 59.0
    view.show([slow])
    assert len(screen.out) == 1
    clock.now = 60.0
    view.show([slow])
    assert screen.out[-1].endswith("60 s")
    nxt = Status("chat · a", "D(1,1)-c16", 60.0)
    clock.now = 80.0
    view.show([nxt])
    assert len(screen.out) == 2  # a new point starts its own 30 s


class FakeWriter:
    def __init__(self) -> None:
        self.width_of_current_line = 0
        self.fullwidth = 80
        self.written: list[str] = []

    def write(self, msg: str, **kwargs: Any) -> None:
        self.width_of_current_line = len(msg)
        self.write_raw(msg)

    def write_raw(self, msg: str, **kwargs: Any) -> None:
        self.written.append(msg)


def test_terminal_lines_start_on_a_fresh_line_and_pytest_writes_erase_first() -> None:
    read, write = os.pipe()
    try:
        reporter = type("Reporter", (), {"_tw": FakeWriter()})()
        screen = TerminalScreen(write, reporter)
        erased: list[int] = []
        screen.guard(lambda: erased.append(1))
        tw = reporter._tw
        tw.write("chat.yaml ..")
        assert erased == [1, 1]  # write, then its write_raw
        screen.write_lines(["a"])
        screen.write_lines(["b"])
        tw.write(".")
        screen.write_lines(["c"])
        assert os.read(read, 1000).decode() == "\na\nb\n\nc\n"
        screen.unguard()
        tw.write("x")
        assert len(erased) == 4 and "write" not in vars(tw)
    finally:
        os.close(read)
        os.close(write)
