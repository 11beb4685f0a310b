"""The controller-side session object: trials from reports, scoring, reports, exit status.

Registered in ``pytest_configure`` and reached through :data:`SESSION_KEY`. Workers (xdist)
deploy and benchmark but write no report: records travel on test reports to the controller.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import threading
import time
from collections.abc import Generator, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .model import Configuration, PointRecord, WorkloadPoint
from .settings import Settings

if TYPE_CHECKING:
    from .backends.base import Backend
    from .cases.case import Case
    from .deploy import Deployer, Deployment
    from .gpus import GpuPool
    from .trials import Trial

SESSION_KEY = pytest.StashKey["AutotuneSession"]()


@dataclass(frozen=True)
class ItemInfo:
    """What an autotune item measures; kept in ``item.stash[ITEM_KEY]``."""

    case: Case
    config: Configuration
    point: WorkloadPoint
    infeasible: str | None = None


ITEM_KEY = pytest.StashKey[ItemInfo]()
#: partial record the item's setup/call filled in (metrics, verdicts, deployment facts)
RECORD_KEY = pytest.StashKey[dict[str, Any]]()
SENT_KEY = pytest.StashKey[bool]()
#: a duplicate of the terminal's fd, taken before pytest starts capturing (plugin.py)
TERMINAL_FD = pytest.StashKey[int]()


def new_run_id() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


def get_session(config: pytest.Config) -> AutotuneSession:
    return config.stash[SESSION_KEY]


class AutotuneSession:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.settings = Settings.from_config(config)
        workerinput = getattr(config, "workerinput", None)
        self.is_worker = workerinput is not None
        self.run_id: str = (workerinput or {}).get("autotune_run_id") or new_run_id()
        self.started = time.time()
        self._backend: Backend | None = None
        self._pool: GpuPool | None = None
        self._pool_note = ""
        self._deployer: Deployer | None = None
        self.planned: dict[str, list[WorkloadPoint]] = {}
        self.records: list[PointRecord] = []
        self._finished_keys: set[str] = set()
        self.trials: list[Trial] = []
        self.best: dict[str, Trial | None] = {}
        self.report: dict[str, Any] | None = None
        self.written: list[Path] = []
        self.swept_at_end: list[str] = []
        self._live: dict[str, tuple[ExitStack, Deployment]] = {}
        self._failed: dict[str, BaseException] = {}
        self.failures: list[str] = []
        self._sigterm: Any = None

    # -- resources ------------------------------------------------------------------------------
    @property
    def backend(self) -> Backend:
        if self._backend is None:
            backend = self.config.hook.pytest_autotune_make_backend(
                config=self.config, mode=self.settings.mode
            )
            if backend is None:
                raise pytest.UsageError(f"no backend for mode {self.settings.mode!r}")
            self._backend = backend
        return self._backend

    @property
    def pool(self) -> GpuPool | None:
        if self._pool is None and self.settings.mode != "endpoint":
            from .gpus import make_pool

            self._pool, self._pool_note = make_pool(self.settings, self.run_id)
        return self._pool

    @property
    def deployer(self) -> Deployer:
        if self._deployer is None:
            from .deploy import Deployer

            bench = self.config.hook.pytest_autotune_make_runner(config=self.config)
            self._deployer = Deployer(self.settings, self.backend, self.run_id, self.pool,
                                      sink=self._sink(), bench=bench)
        return self._deployer

    def _sink(self) -> Any:
        """``--autotune-verbose``: server and benchmark lines, written from background threads
        straight to the terminal pytest had before it started capturing (workers of an xdist run
        have no terminal: their logs stay in the results folder)."""
        fd = self.config.stash.get(TERMINAL_FD, None)
        if not self.settings.verbose or self.is_worker or fd is None:
            return None
        lock = threading.Lock()

        def write(line: str) -> None:
            with lock:
                os.write(fd, ("  | " + line.rstrip("\n") + "\n").encode("utf-8", "replace"))

        return write

    @contextmanager
    def open_deployment(self, case: Case, config: Configuration) -> Iterator[Deployment]:
        """Deploy a configuration for the duration of a ``with`` block."""
        with self.deployer.open(case, config, self.planned.get(config.key, [])) as deployment:
            yield deployment

    def acquire(self, case: Case, config: Configuration) -> Deployment:
        """The live deployment of ``config``, deploying it on first use.

        A failed deployment is remembered: the configuration's other items get the same
        error (or infeasible skip) without another attempt.
        """
        from .errors import DeployError

        key = config.key
        if key in self._failed:
            raise self._failed[key]
        if key in self._live:
            return self._live[key][1]
        stack = ExitStack()
        try:
            deployment = stack.enter_context(self.open_deployment(case, config))
        except DeployError as exc:
            stack.close()
            failure = pytest.fail.Exception(f"deployment failed: {exc.render()}", pytrace=False)
            self._failed[key] = failure
            raise failure from None
        except (Exception, pytest.skip.Exception) as exc:
            stack.close()
            self._failed[key] = exc
            raise
        except BaseException:
            stack.close()
            raise
        self._live[key] = (stack, deployment)
        return deployment

    def release(self, key: str) -> None:
        """Stop the server of ``key`` (if it runs) and forget a failed attempt."""
        self._failed.pop(key, None)
        live = self._live.pop(key, None)
        if live is not None:
            live[0].close()

    def release_all(self) -> None:
        for key in list(self._live):
            self.release(key)
        self._failed.clear()

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_teardown(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        """A configuration's server stops right after its last item (pytest groups them)."""
        info = item.stash.get(ITEM_KEY, None)
        if info is None:
            return
        following = nextitem.stash.get(ITEM_KEY, None) if nextitem is not None else None
        if following is None or following.config.key != info.config.key:
            self.release(info.config.key)

    # -- collection ---------------------------------------------------------------------------
    def check_case(self, case: Case) -> None:
        """Mode-level checks of a whole case, at collection (raises ConfigError)."""
        from .errors import ConfigError

        if self.settings.mode == "endpoint" and (
            case.base_flags or any(c.params for c in case.configurations) or case.extra_args
        ):
            raise ConfigError(
                "endpoint mode benchmarks a running server, so a case cannot set parameters, "
                "flags or extra_args there; run it with --autotune-mode sim/local/docker, or "
                "write a case without them for the endpoint",
                source=case.source, field="parameters",
            )

    def prelaunch_reason(self, case: Case, config: Configuration) -> str | None:
        from .feasibility import infeasible_before_launch

        if self.settings.mode == "endpoint":
            return None
        spec = self.deployer.spec(case, config)
        pool = self.pool
        return infeasible_before_launch(
            spec, pool_size=len(pool) if pool is not None else None,
            simulated=self.settings.simulated, pool_note=self._pool_note,
        )

    def item_marks(self, case: Case, config: Configuration) -> list[pytest.MarkDecorator]:
        marks: list[pytest.MarkDecorator] = []
        reason = self.prelaunch_reason(case, config)
        if reason:
            marks.append(pytest.mark.skip(reason=f"infeasible before launch: {reason}"))
        return marks

    def pytest_itemcollected(self, item: pytest.Item) -> None:
        """Mark marker-parametrized items as autotune items and give them ``-k`` aliases."""
        from .keywords import aliases

        info = item.stash.get(ITEM_KEY, None)
        callspec = getattr(item, "callspec", None)
        if info is None and callspec is not None:
            param = callspec.params.get("autotune_configuration")
            point = callspec.params.get("autotune_point")
            if param is not None and isinstance(point, WorkloadPoint):
                skip = item.get_closest_marker("skip")
                reason = str(skip.kwargs.get("reason", "")) if skip else None
                info = ItemInfo(param.case, param.config, point, reason)
                item.stash[ITEM_KEY] = info
        if info is not None:
            item.extra_keyword_matches.update(aliases(n.name for n in item.listchain()))

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """After every deselection (-k, --lf, ...): the points each configuration will measure
        in this process, so one genai-bench run covers them all."""
        self.planned.clear()
        for item in session.items:
            info = item.stash.get(ITEM_KEY, None)
            if info is not None:
                self.planned.setdefault(info.config.key, []).append(info.point)

    # -- records ------------------------------------------------------------------------------
    def base_record(self, info: ItemInfo, nodeid: str) -> PointRecord:
        case, config = info.case, info.config
        launch: list[str] = []
        try:
            launch = self.backend.display_command(self.deployer.spec(case, config))
        except Exception:  # a broken backend must not hide the item's own outcome
            launch = []
        return PointRecord(
            case=case.name, source=case.source, config_id=config.id, config_key=config.key,
            config_index=config.index, params=config.as_dict(), labels=dict(config.labels),
            point=info.point.to_dict(), nodeid=nodeid, mode=self.settings.mode,
            simulated=self.settings.simulated, objective=case.objective,
            steepness=case.penalty_steepness, seed=dict(case.seed),
            expected_points=len(self.planned.get(config.key, [])) or 1,
            launch_command=launch, verdicts=[], metrics=None, reason=None,
        )

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        info = item.stash.get(ITEM_KEY, None)
        if info is None or item.stash.get(SENT_KEY, False):
            return report
        if call.when == "setup" and report.passed:
            return report
        if call.when == "teardown" and not report.failed:
            return report
        from .deploy import InfeasibleSkip

        record = self.base_record(info, item.nodeid)
        record.update(item.stash.get(RECORD_KEY, {}))  # type: ignore[typeddict-item]
        excinfo = call.excinfo
        if report.skipped:
            infeasible = info.infeasible is not None or (
                excinfo is not None and excinfo.errisinstance(InfeasibleSkip)
            )
            record["outcome"] = "infeasible" if infeasible else "skipped"
            record["reason"] = _skip_reason(report)
        elif call.when == "call":
            record["outcome"] = "passed" if report.passed else "failed"
            if report.failed:
                record["reason"] = _first_lines(report.longreprtext)
        else:
            record["outcome"] = "error"
            record["reason"] = _first_lines(report.longreprtext, 30)
        item.stash[SENT_KEY] = True
        report.__dict__["autotune"] = dict(record)
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        record = report.__dict__.get("autotune")
        if self.is_worker or not record:
            return
        self.add_record(record)

    def add_record(self, record: PointRecord) -> None:
        self.records.append(record)
        self._journal(record)
        key = record["config_key"]
        from .trials import group_records

        if key in self._finished_keys:
            return
        mine = [r for r in self.records if r["config_key"] == key]
        if len(mine) >= int(record.get("expected_points", 1)):
            self._finished_keys.add(key)
            trial = group_records(mine)[0]
            self.config.hook.pytest_autotune_trial_finished(config=self.config, trial=trial)

    def _journal(self, record: PointRecord) -> None:
        """Append each record as it arrives: measured results survive a crash of the run."""
        path = self.settings.results_dir / "runs" / self.run_id / "records.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, default=str) + "\n")

    def pytest_report_teststatus(
        self, report: pytest.TestReport, config: pytest.Config
    ) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
        record = report.__dict__.get("autotune")
        if record and record.get("outcome") == "infeasible" and report.skipped:
            return "infeasible", "i", ("INFEASIBLE", {"yellow": True})
        return None

    # -- lifecycle ----------------------------------------------------------------------------
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Make SIGTERM unwind like Ctrl-C, so servers are torn down instead of orphaned."""
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return  # someone else handles it

        def on_sigterm(signum: int, frame: Any) -> None:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            raise KeyboardInterrupt("SIGTERM")

        signal.signal(signal.SIGTERM, on_sigterm)
        self._sigterm = on_sigterm

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self.release_all()  # also after Ctrl-C: no server outlives the session
        if self.is_worker or not self.records:
            return
        from .report.build import finish

        finish(self, session)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        """Restore SIGTERM; on the controller of an xdist run, sweep servers of workers that
        crashed (their process groups outlive them)."""
        if self._sigterm is not None and signal.getsignal(signal.SIGTERM) is self._sigterm:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if self.is_worker or self.settings.mode == "endpoint" or self.records == []:
            return
        if config.pluginmanager.hasplugin("xdist") and getattr(config.option, "tx", None):
            self.swept_at_end = self.backend.sweep()

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.is_worker or self.report is None:
            return
        from .report.table import render_summary

        render_summary(terminalreporter, self)


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ").removeprefix("Infeasible: ")
    return _first_lines(str(longrepr))


def _first_lines(text: str, n: int = 12) -> str:
    lines = text.strip().splitlines()
    out = "\n".join(lines[:n])
    return out + ("\n…" if len(lines) > n else "")
