"""Live progress out of genai-bench: the launcher and the progress lines it prints.

``python -m pytest_autotune.bench.progress benchmark <genai-bench args…>`` runs genai-bench's own
click CLI (``genai_bench.cli.cli:cli``) after replacing its no-UI dashboard (``ENABLE_UI=false``,
``MinimalDashboard``, which shows nothing) with a subclass that prints one machine-readable line
per started run, throttled per finished request, and when a run is over::

    autotune-progress {"event": "run", "scenario": "D(100,100)", "concurrency": 32, "total": 48}
    autotune-progress {"done": 30, "total": 48, "errors": 0, "ttft_p50": 0.182}
    autotune-progress {"event": "end"}

genai-bench calls ``dashboard.handle_single_request(live_metrics, total_requests, error_code)``
for every finished request; ``live_metrics["ttft"]`` lists the run's TTFTs in seconds. If its
internals are not what this expects (another version), genai-bench runs unchanged: no progress,
never a failure. The plugin side (:func:`parse_line`) reads these lines from genai-bench's
output; the genai-bench stand-in of the tests prints the same.

Importing this module imports nothing of genai-bench (it monkey-patches the standard library
for gevent on import); only :func:`main` does, first.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PREFIX = "autotune-progress "
#: the launcher prints a request line at most this often (the last one of a run always)
MIN_INTERVAL = 0.25
_RUN_NAME = re.compile(r"^Scenario: (?P<scenario>.+), (?P<kind>[A-Za-z ]+): (?P<value>\d+)$")


# -- the lines ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunStarted:
    """A (scenario, concurrency) run began; ``total`` requests are planned."""

    scenario: str
    concurrency: int | None
    total: int


@dataclass(frozen=True)
class RequestsDone:
    done: int
    total: int
    errors: int = 0
    #: the median TTFT of the run's successful requests so far, in seconds
    ttft_p50: float | None = None


@dataclass(frozen=True)
class BenchEnded:
    """The run is over (genai-bench aggregates, plots, or exits): nothing is measured until the
    next :class:`RunStarted`."""


Event = RunStarted | RequestsDone | BenchEnded


def is_progress_line(line: str) -> bool:
    return line.startswith(PREFIX)


def format_event(event: Event) -> str:
    if isinstance(event, RunStarted):
        data: dict[str, Any] = {"event": "run", "scenario": event.scenario,
                                "concurrency": event.concurrency, "total": event.total}
    elif isinstance(event, RequestsDone):
        data = {"done": event.done, "total": event.total, "errors": event.errors,
                "ttft_p50": None if event.ttft_p50 is None else round(event.ttft_p50, 6)}
    else:
        data = {"event": "end"}
    return PREFIX + json.dumps(data)


def parse_line(line: str) -> Event | None:
    """The event of a progress line; None for any other line or a malformed one."""
    if not is_progress_line(line):
        return None
    try:
        data = json.loads(line[len(PREFIX):])
        if not isinstance(data, dict):
            return None
        kind = data.get("event")
        if kind == "end":
            return BenchEnded()
        if kind == "run":
            concurrency = data.get("concurrency")
            return RunStarted(str(data["scenario"]),
                              None if concurrency is None else int(concurrency),
                              int(data.get("total") or 0))
        ttft = data.get("ttft_p50")
        return RequestsDone(int(data["done"]), int(data.get("total") or 0),
                            int(data.get("errors") or 0), None if ttft is None else float(ttft))
    except (ValueError, KeyError, TypeError):
        return None


def median(values: Sequence[float]) -> float | None:
    ordered = sorted(v for v in values if isinstance(v, (int, float)))
    if not ordered:
        return None
    mid = len(ordered) // 2
    return float(ordered[mid]) if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0


def parse_run_name(run_name: str) -> tuple[str, int | None]:
    """genai-bench's progress task name ``Scenario: D(100,100), Concurrency: 32``."""
    m = _RUN_NAME.match(run_name.strip())
    if m is None:
        return run_name.strip(), None
    concurrency = int(m.group("value")) if m.group("kind") == "Concurrency" else None
    return m.group("scenario"), concurrency


# -- the dashboard ------------------------------------------------------------------------------
def _print(line: str) -> None:
    print(line, flush=True)


class Reporter:
    """What the patched dashboard prints: a line per started run, throttled request lines."""

    def __init__(self, out: Callable[[str], None] = _print,
                 clock: Callable[[], float] = time.monotonic,
                 min_interval: float = MIN_INTERVAL) -> None:
        self.out = out
        self.clock = clock
        self.min_interval = min_interval
        self.run: tuple[str, int | None] = ("", None)
        self.total = 0
        self.count = 0
        self.errors = 0
        self.last = float("-inf")
        self.reached = False  # the line of the run's planned last request was printed

    def named(self, run_name: str) -> None:
        self.run = parse_run_name(str(run_name))

    def start(self, max_requests_per_run: int) -> None:
        self.total = int(max_requests_per_run)
        self.count = self.errors = 0
        self.last = float("-inf")
        self.reached = False
        self.out(format_event(RunStarted(self.run[0], self.run[1], self.total)))

    def request(self, live_metrics: Mapping[str, Any], total_requests: Any,
                error_code: int | None) -> None:
        if not self.total:
            return  # no run in progress: a late request of the last one
        self.count += 1
        if error_code is not None:
            self.errors += 1
        done = total_requests if isinstance(total_requests, int) else self.count
        now = self.clock()
        final = done >= self.total and not self.reached
        if now - self.last < self.min_interval and not final:
            return
        self.reached = self.reached or final
        self.last = now
        ttfts = live_metrics.get("ttft") if isinstance(live_metrics, Mapping) else None
        p50 = median(ttfts) if isinstance(ttfts, list) else None
        self.out(format_event(RequestsDone(done, self.total, self.errors, p50)))

    def end(self) -> None:
        self.total = 0
        self.out(format_event(BenchEnded()))


#: the methods (and their parameters) genai-bench 0.0.5's cli calls that the patch relies on
EXPECTED = {
    "create_benchmark_progress_task": ("run_name",),
    "start_run": ("run_time", "start_time", "max_requests_per_run"),
    "handle_single_request": ("live_metrics", "total_requests", "error_code"),
    "update_total_progress_bars": ("total_runs",),
}


def compatible(base: type[Any]) -> bool:
    import inspect

    for name, params in EXPECTED.items():
        method = getattr(base, name, None)
        if method is None:
            return False
        try:
            names = tuple(inspect.signature(method).parameters)[1:]
        except (TypeError, ValueError):
            return False
        if names != params:
            return False
    return True


def dashboard_class(base: type[Any], reporter: Callable[[], Reporter] = Reporter) -> type[Any]:
    """``base`` (genai-bench's MinimalDashboard) that also reports progress; a failure to report
    never reaches genai-bench."""

    class ProgressDashboard(base):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.autotune_progress = reporter()

        def create_benchmark_progress_task(self, run_name: str) -> Any:
            result = super().create_benchmark_progress_task(run_name)
            _quietly(self.autotune_progress.named, run_name)
            return result

        def start_run(self, run_time: int, start_time: float, max_requests_per_run: int) -> Any:
            result = super().start_run(run_time, start_time, max_requests_per_run)
            _quietly(self.autotune_progress.start, max_requests_per_run)
            return result

        def handle_single_request(self, live_metrics: Any, total_requests: int,
                                  error_code: int | None) -> Any:
            result = super().handle_single_request(live_metrics, total_requests, error_code)
            _quietly(self.autotune_progress.request, live_metrics, total_requests, error_code)
            return result

        def update_total_progress_bars(self, total_runs: int) -> Any:
            """Called when a run is over (after its results are saved)."""
            result = super().update_total_progress_bars(total_runs)
            _quietly(self.autotune_progress.end)
            return result

    return ProgressDashboard


def _quietly(fn: Callable[..., None], *args: Any) -> None:
    try:
        fn(*args)
    except Exception:  # progress is never worth failing a benchmark for
        pass


def install() -> bool:
    """Make genai-bench's CLI create the reporting dashboard where it would create the minimal
    one. False (nothing changed) when genai-bench is not the version this expects."""
    import importlib

    try:
        cli_module = importlib.import_module("genai_bench.cli.cli")
        ui = importlib.import_module("genai_bench.ui.dashboard")
        base = ui.MinimalDashboard
        original = cli_module.create_dashboard
        if not isinstance(base, type) or not callable(original) or not compatible(base):
            return False
        patched = dashboard_class(base)

        def create_dashboard(metrics_time_unit: str = "s") -> Any:
            made = original(metrics_time_unit)
            return patched(metrics_time_unit) if type(made) is base else made

        setattr(cli_module, "create_dashboard", create_dashboard)  # noqa: B010
        return True
    except Exception:
        return False


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        import genai_bench  # noqa: F401 - first: it monkey-patches the standard library (gevent)
    except ImportError:
        print("genai-bench is not installed: pip install 'genai-bench>=0.0.5,<0.1'", flush=True)
        return 1
    reporting = install()
    from genai_bench.cli.cli import cli

    try:
        cli.main(args=args, prog_name="genai-bench")
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    finally:
        if reporting:
            _quietly(Reporter().end)
    return 0


if __name__ == "__main__":
    sys.exit(main())
