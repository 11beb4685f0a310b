"""The session object: pytest's hooks translated into calls on the core services.

Registered in ``pytest_configure`` and reached through :data:`SESSION_KEY`. It builds the run's
:class:`~pytest_autotune.plugin.context.RunContext` once and gives it to the plugins it makes
(the baseline gate, the live progress, the xdist hooks), which :meth:`AutotuneSession.plugins`
lists for registration. The
:class:`~pytest_autotune.engine.deploy.DeploymentService` deploys and measures, the
:class:`~pytest_autotune.results.store.ResultsStore` collects records into trials and scores
each as it completes, strategies propose configurations, report writers render the report.
Workers (xdist) deploy and benchmark but write nothing: records travel to the controller on test
reports.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Generator, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ..errors import ConfigError, DeployError, Infeasible
from ..results.layout import RunLayout
from ..results.records import (
    Completeness,
    ConfigIdentity,
    DeploymentFacts,
    Outcome,
    PointRecord,
    RunReport,
    Trial,
)
from ..search.base import SearchExhausted, UnknownStrategy
from ..search.strategies import Strategies
from ..values import Configuration, WorkloadPoint
from .context import CONTEXT_KEY, TERMINAL_FD, RunContext
from .items import (
    ITEM_KEY,
    MEASUREMENT_KEY,
    PROBES_KEY,
    REPORT_KEY,
    SENT_KEY,
    InfeasibleSkip,
    ItemInfo,
    Measurement,
    Probe,
    judge,
    junit_properties,
)
from .options import settings_from_config
from .progress import ProgressPlugin
from .workers import RUN_ID_KEY, XdistHooks

if TYPE_CHECKING:
    from ..backends.base import Backend, Capabilities
    from ..backends.gpus import GpuPool
    from ..cases.case import Case
    from ..decide.scoring import Score
    from ..engine.deploy import Deployment, DeploymentService
    from ..report.writers import ReportWriter, WriteContext
    from ..results.store import ResultsStore
    from ..search.base import Strategy
    from ..settings import Settings
    from .baseline import BaselineGate

SESSION_KEY = pytest.StashKey["AutotuneSession"]()


def new_run_id() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


def get_session(config: pytest.Config) -> AutotuneSession:
    return config.stash[SESSION_KEY]


class AutotuneSession:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        settings = settings_from_config(config)
        workerinput = getattr(config, "workerinput", None)
        run_id: str = (workerinput or {}).get(RUN_ID_KEY) or new_run_id()
        #: what the run's plugins and the default hooks are given (not this object)
        self.run = RunContext(
            config, settings, run_id, workerinput is not None,
            RunLayout.of(settings.results_dir, run_id), time.time(),
            configuration_of=self.configuration_of,
            capabilities=lambda: self.backend.capabilities,
            pool_size=self._pool_size, workerinput=dict(workerinput or {}))
        config.stash[CONTEXT_KEY] = self.run  # before the backend: the default hook reads it
        self.backend: Backend = self._make_backend()
        self._pool: GpuPool | None = None
        self._pool_note = ""
        self._service: DeploymentService | None = None
        self._store: ResultsStore | None = None
        self.strategies = Strategies(self._make_strategy, search=self.settings.search,
                                     trials=self.settings.trials)
        self.expected: dict[str, int] = {}
        #: autotune items this run plans to report (after deselection); deselected ones
        self.planned_items = 0
        self.deselected_items = 0
        self.report: RunReport | None = None
        self.context: WriteContext | None = None
        self.written: list[Path] = []
        self.swept_at_end: list[str] = []
        self.failures: list[str] = []
        #: ``--autotune-baseline``: the gate plugin (baseline.py), when one is set
        self.gate: BaselineGate | None = None
        if self.settings.baseline is not None:
            from .baseline import BaselineGate

            self.gate = BaselineGate(self.run)
        #: ``--autotune-progress``: the live status plugin (progress.py)
        self.progress = ProgressPlugin(self.run)
        #: pytest-xdist's scheduling and the run id handed to workers, when xdist is active
        self.xdist: XdistHooks | None = None
        if config.pluginmanager.hasplugin("xdist"):
            self.xdist = XdistHooks(self.run)
        #: lines shown after collection (configurations constraints excluded, ...)
        self.notes: list[str] = []
        #: collectors that failed (a case that does not load): ``(nodeid, first line)``
        self.collect_failures: list[tuple[str, str]] = []
        #: lines shown at the end, under the table (a --lf rerun not merged, ...)
        self.summary_notes: list[str] = []

    @property
    def settings(self) -> Settings:
        return self.run.settings

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @property
    def is_worker(self) -> bool:
        return self.run.is_worker

    @property
    def layout(self) -> RunLayout:
        return self.run.layout

    @property
    def started(self) -> float:
        return self.run.started

    def plugins(self) -> list[tuple[str, object]]:
        """The run's plugins by the names they are registered under (``pytest_configure``) and
        unregistered (``pytest_unconfigure``): this session first, then those it made."""
        found: list[tuple[str, object]] = [("autotune-session", self)]
        if self.gate is not None:
            found.append(("autotune-baseline", self.gate))
        found.append(("autotune-progress", self.progress))
        if self.xdist is not None:
            found.append(("autotune-xdist", self.xdist))
        return found

    # -- services -----------------------------------------------------------------------------
    def _make_backend(self) -> Backend:
        from ..settings import MODES

        mode = self.settings.mode
        backend = self.config.hook.pytest_autotune_make_backend(config=self.config, mode=mode)
        if backend is None:
            raise pytest.UsageError(
                f"--autotune-mode: unknown mode {mode!r}; valid modes: {', '.join(MODES)} "
                "(a plugin adds others through pytest_autotune_make_backend)"
            )
        return backend  # type: ignore[no-any-return]

    @property
    def capabilities(self) -> Capabilities:
        return self.backend.capabilities

    def _pool_size(self) -> int | None:
        pool = self.pool
        return len(pool) if pool is not None else None

    @property
    def pool(self) -> GpuPool | None:
        if self._pool is None and self.capabilities.local_gpus:
            from ..backends.gpus import make_pool

            self._pool, self._pool_note = make_pool(
                self.settings, self.run_id, virtual=self.capabilities.simulated
            )
        return self._pool

    @property
    def service(self) -> DeploymentService:
        if self._service is None:
            from ..decide.racing import Racing
            from ..engine.deploy import DeploymentService

            # a backend that measures in-process (estimate mode) brings its own runner
            bench = getattr(self.backend, "runner", None) or \
                self.config.hook.pytest_autotune_make_runner(config=self.config)
            racing = Racing(self._scored_trials)
            sink = self._sink()
            self._service = DeploymentService(self.settings, self.backend, self.run_id,
                                              self.pool, sink=sink, bench=bench,
                                              more_passes=racing,
                                              bench_sink=self.progress.sink(sink))
        return self._service

    @property
    def store(self) -> ResultsStore:
        """Every process keeps one (a worker's scores the trial slots it ran, for their
        strategies); only the controller's journals records and reports."""
        if self._store is None:
            from ..results.store import ResultsStore

            journal = None if self.is_worker else self.layout.records
            self._store = ResultsStore(journal, on_complete=self._trial_completed,
                                       score=self._score)
        return self._store

    def _scored_trials(self, case: Case) -> list[Trial]:
        """The completed, scored trials of ``case`` this process has seen (racing's field)."""
        from ..decide import scoring

        if self._store is None:
            return []
        field = []
        for trial in self._store.trials():
            if trial.case != case.name or trial.source != case.source or not trial.complete:
                continue
            if trial.score is None and self.is_worker:  # workers do not score for the report
                trial = scoring.with_builtin_score(trial)
            if trial.score is not None:
                field.append(trial)
        return field

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

    def _make_strategy(self, case: Case, name: str) -> Strategy | None:
        strategy: Strategy | None = self.config.hook.pytest_autotune_make_strategy(
            config=self.config, case=case, name=name)
        return strategy

    def strategy_for(self, case: Case) -> Strategy:
        try:
            return self.strategies.for_case(case)
        except UnknownStrategy as exc:
            raise ConfigError(exc.message(), source=case.source, field="search.strategy",
                              line=None if exc.option else case.search.line) from None

    # -- collection ---------------------------------------------------------------------------
    def check_case(self, case: Case) -> None:
        """Checks of a whole case against what the backend can do, at collection."""
        if not self.capabilities.tunes_flags and (
            case.base_flags or case.space.axes or case.extra_args
        ):
            raise ConfigError(
                f"{self.settings.mode} mode benchmarks a running server, so a case cannot set "
                "parameters, flags or extra_args there; run it with --autotune-mode "
                "sim/local/docker, or write a case without them for the endpoint",
                source=case.source, field="parameters",
            )
        if self.capabilities.tunes_flags:
            from ..runtimes.release import check_flags, release_for

            image = self.settings.backend_options.get("image")
            release = release_for(case, mode=self.settings.mode,
                                  option=self.settings.sglang_version, image=image)
            if release is not None:
                check_flags(case, release)

    def shortlisted(self, case: Case, plan: Sequence[Configuration] | None) -> \
            Sequence[Configuration] | None:
        """``--autotune-shortlist=K``: the K best configurations of the case's space by estimate
        (shortlist.py), in grid order; the estimate is made once per run and case. A space a
        grid cannot list keeps its strategy's plan, with a warning."""
        import warnings

        from ..errors import AutotuneWarning
        from ..search import shortlist
        from ..search.base import SearchContext, admission

        pool = len(self.pool) if self.pool is not None else 0
        admit = admission(case, SearchContext(pool_size=lambda: pool or self.settings.sim_gpus))
        configs = list(plan) if plan is not None else [
            c for c in case.configurations if admit is None or admit(c.as_dict())]
        if not configs:
            warnings.warn(AutotuneWarning(
                f"{case.source}: --autotune-shortlist needs a space a grid can list, and this "
                "one has a range without a step (or too many configurations): the case runs its "
                "search without a shortlist"), stacklevel=1)
            return plan
        k = self.settings.shortlist
        assert k is not None

        def score(trial: Trial) -> Score | float | None:
            value: Score | float | None = self.config.hook.pytest_autotune_score_trial(
                config=self.config, trial=trial)
            return value

        made = shortlist.cached(shortlist.path_for(self.layout, case), lambda: shortlist.build(
            case, configs, k, self.settings, self.run_id, score, pool or self.settings.sim_gpus))
        chosen = set(made.chosen)
        return [c for c in configs if c.key in chosen]

    def prelaunch_reason(self, case: Case, config: Configuration) -> str | None:
        pool = self.pool  # discovers the pool and its note first
        del pool
        return self.service.prelaunch_reason(case, config, self._pool_note)

    def item_marks(self, case: Case, config: Configuration) -> list[pytest.MarkDecorator]:
        reason = self.prelaunch_reason(case, config)
        return [pytest.mark.skip(reason=f"infeasible before launch: {reason}")] if reason else []

    def pytest_itemcollected(self, item: pytest.Item) -> None:
        """Mark marker-parametrized items as autotune items and give them ``-k`` aliases."""
        from ..cases.grammar import aliases

        info = item.stash.get(ITEM_KEY, None)
        callspec = getattr(item, "callspec", None)
        if info is None and callspec is not None:
            param = callspec.params.get("autotune_configuration")
            point = callspec.params.get("autotune_point")
            if param is not None and isinstance(point, WorkloadPoint):
                skip = item.get_closest_marker("skip")
                reason = str(skip.kwargs.get("reason", "")) if skip else None
                info = ItemInfo(param.case, point, param.config.key, param.config, reason)
                item.stash[ITEM_KEY] = info
        if info is not None:
            item.extra_keyword_matches.update(aliases(n.name for n in item.listchain()))

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            lines = [line.strip() for line in report.longreprtext.splitlines() if line.strip()]
            why = next((line for line in lines if "invalid tuning case" in line),
                       lines[-1] if lines else "")
            self.collect_failures.append((report.nodeid or ".", why))

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """After every deselection (-k, --lf, ...): the points each deployment will measure in
        this process, so one benchmark run covers them all."""
        infos = [i for i in (item.stash.get(ITEM_KEY, None) for item in session.items) if i]
        render = self.settings.backend_options.get("ome-render")
        if render:
            self.render_ome(infos, Path(render))
        if not infos:
            return
        self.expected.clear()
        self.planned_items = len(infos)
        for info in infos:
            self.service.plan(info.group, info.point)
            self.expected[info.group] = self.expected.get(info.group, 0) + 1

    def render_ome(self, infos: Sequence[ItemInfo], folder: Path) -> None:
        """``--autotune-ome-render=DIR``: each collected configuration's InferenceService as
        ``DIR/<case>/<name>.yaml``, then stop: nothing is deployed (a trial slot renders its
        case's whole grid, the configurations it may choose from)."""
        from ..backends.base import ServerSpec
        from ..backends.ome import OmeBackend
        from ..backends.ome_manifest import render_yaml
        from ..backends.registry import make_backend

        if self.collect_failures:
            # a GitOps job would otherwise publish an incomplete set and report success
            failed = "; ".join(f"{node}: {why}" if why else node
                               for node, why in self.collect_failures)
            pytest.exit(f"--autotune-ome-render: {len(self.collect_failures)} collection "
                        f"error(s), no manifest written: {failed}",
                        returncode=pytest.ExitCode.INTERRUPTED)
        backend = make_backend(self.settings, "ome")
        assert isinstance(backend, OmeBackend)
        if not folder.is_absolute():
            folder = self.config.rootpath / folder
        chosen: dict[tuple[str, str], tuple[Case, Configuration]] = {}
        for info in infos:
            for config in [info.config] if info.config else info.case.configurations:
                chosen.setdefault((info.case.name, config.hash), (info.case, config))
        written = []
        for case, config in chosen.values():
            spec = ServerSpec.from_case(case, config)
            manifest = backend.manifest(spec, run_id="render", owned=False)
            path = folder / case.name / f"{manifest['metadata']['name']}.yaml"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render_yaml(manifest, case_source=case.source), encoding="utf-8")
            written.append(path)
        cases = len({case.name for case, _ in chosen.values()})
        pytest.exit(f"--autotune-ome-render: wrote {len(written)} InferenceService manifest(s) "
                    f"of {cases} case(s) to {folder}; nothing was deployed", returncode=0)

    def pytest_report_collectionfinish(self, config: pytest.Config, start_path: Path,
                                       items: Sequence[pytest.Item]) -> list[str]:
        return self.notes

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.deselected_items += sum(1 for item in items if ITEM_KEY in item.stash)

    # -- running ------------------------------------------------------------------------------
    def configuration_of(self, info: ItemInfo) -> Configuration | None:
        return info.config or self.strategies.configuration(info.group)

    def choose(self, case: Case, group: str, slot: int) -> Configuration:
        """A trial slot's configuration, asked of the strategy once, at the slot's setup."""
        self.strategy_for(case)  # an unknown strategy name is the case's error
        exhausted: SearchExhausted | None = None
        try:
            config = self.strategies.choose(case, group, slot)
        except SearchExhausted as exc:
            exhausted = exc  # skipped outside ``except``: pytest shows no chain
        if exhausted is not None:
            pytest.skip(f"search space exhausted: {exhausted}")
        reason = self.prelaunch_reason(case, config)
        if reason:  # as a fixed configuration would have been skipped at collection
            raise InfeasibleSkip(f"infeasible before launch: {reason}", pytrace=False)
        return config

    def acquire(self, case: Case, group: str, config: Configuration | None = None,
                slot: int | None = None) -> Deployment:
        """The group's deployment (a slot's configuration is chosen first); failures become
        pytest outcomes: an error, or an infeasible skip."""
        if config is None:
            assert slot is not None, "an item without a configuration must be a trial slot"
            config = self.choose(case, group, slot)
        try:
            return self.service.acquire(group, case, config)
        except Infeasible as exc:
            error: Exception = exc
            if not self.settings.strict:
                raise InfeasibleSkip(exc.render(), pytrace=False) from None
        except DeployError as exc:
            error = exc
        # raised outside ``except``: pytest shows the message once, without the chain
        pytest.fail(f"deployment failed: {error}", pytrace=False)

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_teardown(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        """The one place a server stops: right after the last item of its deployment group."""
        info = item.stash.get(ITEM_KEY, None)
        if info is None or self._service is None:
            return
        following = nextitem.stash.get(ITEM_KEY, None) if nextitem is not None else None
        self._service.item_done(info.group, following.group if following is not None else None)

    # -- records ------------------------------------------------------------------------------
    def record(self, item: pytest.Item, info: ItemInfo, outcome: Outcome,
               reason: str | None) -> PointRecord | None:
        config = self.configuration_of(info)
        if config is None:  # a trial slot that failed before it chose a configuration
            return None
        case = info.case
        measured = item.stash.get(MEASUREMENT_KEY, None) or Measurement()
        # the simulator may serve in any mode (an image of it, an InferenceService running it):
        # its numbers say so whatever deployed it
        simulated = self.capabilities.simulated or (
            measured.facts is not None and measured.facts.simulator)
        identity = ConfigIdentity.of(case, config, mode=self.settings.mode,
                                     simulated=simulated,
                                     launch_command=self.service.launch_command(case, config))
        expected = self.expected.get(info.group, 1) + len(self.other_probes(info, measured))
        return PointRecord(
            config=identity, point=measured.point or info.point, outcome=outcome,
            nodeid=item.nodeid, reason=reason, metrics=measured.metrics,
            verdicts=measured.verdicts, bench_seconds=measured.bench_seconds,
            deployment=measured.facts or DeploymentFacts(),
            expected_points=expected, baseline=measured.baseline,
        )

    def other_probes(self, info: ItemInfo, measured: Measurement) -> list[Probe]:
        """A capacity item's probes other than the one its own record stands for, and other
        than points the configuration's other items measure (each point reports once)."""
        if info.capacity is None:
            return []
        planned = self._service.planned.get(info.group, []) if self._service else []
        others = {p for p in planned if p != info.point}
        own = measured.point or info.point
        return [p for p in measured.probes if p.point != own and p.point not in others]

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        info = item.stash.get(ITEM_KEY, None)
        if info is None or item.stash.get(SENT_KEY, False):
            return report
        judged = judge(info, call, report)
        if judged is None:
            return report
        item.stash[SENT_KEY] = True
        record = self.record(item, info, *judged)
        if record is not None:
            report.__dict__[REPORT_KEY] = record.to_dict()
            probes = self.other_probes(info, item.stash.get(MEASUREMENT_KEY, Measurement()))
            if probes:  # each a record of its own, the item's record otherwise
                report.__dict__[PROBES_KEY] = [replace(
                    record, point=p.point, outcome=p.outcome, reason=p.reason,
                    metrics=p.metrics, verdicts=p.verdicts, bench_seconds=p.bench_seconds,
                    baseline=()).to_dict() for p in probes]
            # on the item: pytest's JUnit writer reads them from the teardown report
            item.user_properties.extend(junit_properties(record))
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        data = report.__dict__.get(REPORT_KEY)
        if data:
            for probe in report.__dict__.get(PROBES_KEY) or ():  # before: they complete it
                self.store.add(PointRecord.from_dict(probe))
            self.store.add(PointRecord.from_dict(data))

    def _score(self, trial: Trial) -> Score | float | None:
        """A completed trial's score, once per process: for the strategy that proposed it (in
        the process that ran it) and, on the controller, for the report and the hooks (the
        store records it)."""
        if self.is_worker and not self.strategies.proposed(trial.config_key):
            return None
        score: Score | float | None = self.config.hook.pytest_autotune_score_trial(
            config=self.config, trial=trial)
        return score

    def _trial_completed(self, trial: Trial) -> None:
        """Tell the strategy that proposed a scored trial and, on the controller, the hooks."""
        proposed = self.strategies.proposed(trial.config_key)
        if self.is_worker and not proposed:
            return
        hook = self.config.hook
        if proposed:
            self.strategies.observe(trial)
        if not self.is_worker:
            hook.pytest_autotune_trial_finished(config=self.config, trial=trial)

    def pytest_report_teststatus(
        self, report: pytest.TestReport, config: pytest.Config
    ) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
        record = report.__dict__.get(REPORT_KEY)
        if record and record.get("outcome") == "infeasible" and report.skipped:
            return "infeasible", "i", ("INFEASIBLE", {"yellow": True})
        return None

    # -- lifecycle ----------------------------------------------------------------------------
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        from . import signals

        signals.sigterm_as_interrupt(self.config)
        self._check_outputs()

    def _check_outputs(self) -> None:
        """A results directory or run store that cannot be written is a usage error now,
        before anything is deployed, not an INTERNALERROR once every point is measured."""
        from ..results.writable import check_outputs

        option = self.config.option
        if self.is_worker or option.collectonly or self.settings.backend_options.get(
                "ome-render"):
            return
        s = self.settings
        outputs = [("--autotune-results-dir", s.results_dir), ("--autotune-storage", s.storage)]
        outputs += [(name, path.parent) for name, path in (
            ("--autotune-html", s.html), ("--autotune-markdown", s.markdown),
            ("--autotune-benchmark-json", s.benchmark_json)) if path is not None]
        problems = check_outputs(outputs)
        if problems:
            raise pytest.UsageError(
                "pytest-autotune cannot write its results, so nothing is deployed: "
                + "; ".join(problems) + " (choose a writable directory with the option named, "
                "or its autotune_* ini key)")

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self._service is not None:
            self._service.release_all()  # also after Ctrl-C: no server outlives the session
        if not self.is_worker and self._store:
            self.finish(session)
        self.strategies.close()  # after finish: trials cut short have been scored and told

    def finish(self, session: pytest.Session) -> None:
        """Pick each case's best, build the report, and write it with every file writer."""
        from ..decide.scoring import adopt
        from ..report.writers import WriteContext, run_writers
        from ..results.records import by_case

        hook = self.config.hook
        trials = self.store.finish()
        completeness = self._completeness(session)
        if not completeness.complete and self.config.getoption("lf", False):
            trials, completeness = self._merge_last_failed(trials, completeness)
        decisions = {
            case: adopt(hook.pytest_autotune_select_best(config=self.config, trials=case_trials),
                        case_trials)
            for case, case_trials in by_case(trials).items()
        }
        best = {case: decision.best for case, decision in decisions.items()}
        report = hook.pytest_autotune_generate_report(config=self.config, trials=trials,
                                                      best=best, decisions=decisions)
        report.completeness = completeness
        hook.pytest_autotune_update_report(config=self.config, report=report)
        self.report = report
        self.context = WriteContext(
            results_dir=self.settings.results_dir, storage=self.settings.storage,
            run_dir=self.layout.dir,
            rootpath=self.config.rootpath,
        )
        if self.gate is not None:
            self.failures += self.gate.judge_run(report, self.store.records)
        failed = run_writers(self.writers(), "files", report, self.context)
        self.written = self.context.written
        if failed:
            from ..results.writable import rescue

            try:
                kept = f"the run's report is kept in {rescue(report.to_dict(), self.run_id)}"
            except OSError as exc:
                kept = f"nor could the report be kept in a temporary file ({exc})"
            self.failures += [*failed, kept]
        for case in report.cases:
            if case.best is None and not any(t.status == "ok" for t in case.trials):
                self.failures.append(
                    f"{case.name}: no configuration could run (all infeasible or errored)"
                )
        if self.failures and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _completeness(self, session: pytest.Session) -> Completeness:
        from ..results.integrity import RunFacts, assess

        option = self.config.option
        narrowed = [name for name, on in (
            ("-k", getattr(option, "keyword", "")), ("-m", getattr(option, "markexpr", "")),
            ("--lf", getattr(option, "lf", False)),
            ("--deselect", getattr(option, "deselect", None)),
            ("node ids", any("::" in str(a) for a in self.config.args)),
        ) if on]
        if self.deselected_items and not narrowed:
            narrowed.append(f"a plugin that deselected {self.deselected_items} items")
        stopped = session.shouldfail or session.shouldstop
        maxfail = getattr(option, "maxfail", 0)
        if session.shouldfail and maxfail:  # pytest's "stopping after 1 failures", in words
            stopped = ("-x, at the first failure" if maxfail == 1 else
                       f"--maxfail={maxfail}, after {maxfail} failures")
        records = self.store.records
        return assess(RunFacts(
            planned=max(self.planned_items, len(records)), reported=len(records),
            measured=sum(1 for r in records if r.metrics is not None),
            interrupted=session.exitstatus == pytest.ExitCode.INTERRUPTED,
            stopped_early=str(stopped) if stopped else None, narrowed_by=narrowed,
        ))

    def _merge_last_failed(self, trials: list[Trial], completeness: Completeness) -> \
            tuple[list[Trial], Completeness]:
        """``--lf``: this run's points replace theirs in the latest complete run of the same
        kind (an estimate is never merged into a measurement, nor the simulator's numbers into
        a real server's)."""
        from ..results.integrity import merge
        from ..results.records import KindMismatch, ReportFormatError, kind_text, measuring_kind
        from ..results.runs import latest_complete, load_run

        if completeness.measured_nothing:
            return trials, completeness
        kind = measuring_kind(self.settings.mode, any(t.kind == "simulated" for t in trials))
        cases = {t.case for t in trials}
        storage = self.settings.storage
        path = latest_complete(storage, cases, kind=kind, passed_gate=False,
                               notice=lambda m: self.summary_notes.append(f"warning: {m}"))
        newest = latest_complete(storage, cases, passed_gate=False, notice=None)
        if newest is not None and newest != path:
            other = kind_text(load_run(newest).kind)
            into = (f"merged into {path.name}, the newest complete run of its kind" if path else
                    "left partial: run the whole suite for a complete run of its kind")
            self.summary_notes.append(
                f"this --lf rerun is {kind_text(kind)} and {newest.name} is {other}: runs of "
                f"different kinds never mix, so it is {into}")
        if path is None:
            return trials, completeness
        try:
            merged = merge(load_run(path), trials)
        except (KindMismatch, ReportFormatError) as exc:  # a run of servers of mixed kinds
            self.summary_notes.append(f"this --lf rerun is not merged: {exc}")
            return trials, completeness
        for trial in merged:
            self.store.record_score(trial)
        return merged, replace(completeness, complete=True, merged_from=path.name, reasons=())

    def writers(self) -> list[ReportWriter]:
        groups = self.config.hook.pytest_autotune_report_writers(config=self.config)
        return [w for group in groups if group for w in group]

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        """On the controller of an xdist run, sweep servers of workers that crashed (their
        process groups outlive them)."""
        from . import signals

        signals.restore(config)
        if self.is_worker or not self.capabilities.deploys or not self._store:
            return
        if config.pluginmanager.hasplugin("xdist") and getattr(config.option, "tx", None):
            self.swept_at_end = self.backend.sweep()

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.is_worker:
            return
        swept = (self._service.swept or []) if self._service is not None else []
        for line in [*swept, *self.swept_at_end]:  # what dead runs and crashed workers left
            terminalreporter.write_line(f"autotune: removed {line}")
        if self.report is None or self.context is None:
            return
        from ..report.writers import run_writers

        self.context.terminal = terminalreporter
        run_writers(self.writers(), "terminal", self.report, self.context)
        for note in self.summary_notes:
            terminalreporter.write_line(f"autotune: {note}", yellow=True)
        for failure in self.failures:
            terminalreporter.write_line(f"autotune: {failure}", red=True)

