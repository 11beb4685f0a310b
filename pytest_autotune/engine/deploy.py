"""The deployment service: one deployment per configuration, its batched benchmark, and the one
place that decides when a server stops.

pytest-free: the pytest layer asks :meth:`DeploymentService.acquire` for a configuration's
deployment, :meth:`Deployment.measure` for a point's metrics, and tells
:meth:`DeploymentService.item_done` when an item finished and which configuration runs next.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..backends.base import Backend, DeployContext, ServerHandle, ServerSpec, preflight
from ..backends.gpus import GpuLease, GpuPool
from ..backends.wait import is_healthy
from ..bench import runner, tokenizers
from ..bench.intervals import NoiseFloor, pool_passes
from ..bench.plan import Invocation, plan
from ..bench.samples import RequestSamples
from ..cases.case import Case
from ..decide.pruning import Pruned, Watch
from ..errors import BenchError, DeployError
from ..results.layout import RunLayout
from ..results.records import DeploymentFacts, served_by_simulator
from ..settings import Settings
from ..values import Configuration, Metrics, WorkloadPoint

Sink = Callable[[str], object]
#: server_info keys a record keeps (the resolved values that explain a result)
FACT_KEYS = ("max_total_num_tokens", "mem_fraction_static", "chunked_prefill_size",
             "cuda_graph_max_bs", "max_running_requests", "schedule_policy", "tp_size", "dp_size",
             "version", "sim")


def config_dirname(config: Configuration) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.=-]+", "_", config.id)
    if len(slug) > 80:
        slug = slug[:80]
    return f"{config.index:03d}-{slug}-{config.hash}"


def tokenizer_for(case: Case, server_info: Mapping[str, Any], *, simulated: bool) -> str:
    """The tokenizer genai-bench uses: the one the simulator counts with when it serves (it
    names it in ``/get_server_info``); otherwise the case's, or the model directory."""
    if simulated:
        sim = server_info.get("sim")
        return str(tokenizers.directory(sim.get("tokenizer") if isinstance(sim, dict) else None))
    if case.tokenizer == "builtin":
        return str(tokenizers.BUILTIN_TOKENIZER)
    return case.tokenizer or case.model_path


#: asked after each pass while more are allowed: a reason to measure the batch again, or None
MorePasses = Callable[["Deployment", Mapping[WorkloadPoint, Metrics], int], "str | None"]


#: benchmark passes per point of a run gated on a baseline, unless repeats are given
GATE_PASSES = 3


@dataclass(frozen=True)
class PassPlan:
    """How many benchmark passes each batch of points gets.

    ``first`` passes always; then, while fewer than ``cap`` ran, ``more`` decides (racing: the
    configuration is still tied with the leader, or an SLO verdict is unresolved). ``prune``:
    the first pass prunes (pruning.py); later passes skip the pruned points."""

    first: int = 1
    cap: int = 1
    more: MorePasses | None = None
    prune: bool = False


@dataclass
class Deployment:
    """A ready server plus the benchmark results of its workload points (measured lazily, in as
    few genai-bench processes as the planned points allow, one or more passes each)."""

    case: Case
    config: Configuration
    handle: ServerHandle
    settings: Settings
    artifacts: Path
    planned: Sequence[WorkloadPoint]
    runner: runner.Runner = field(default_factory=runner.GenaiBenchRunner)
    sink: Sink | None = None
    simulated: bool = False
    passes: PassPlan = field(default_factory=PassPlan)
    floor: NoiseFloor = field(default_factory=NoiseFloor)
    #: deploys the configuration anew and returns the new handle (``workload.redeploy``)
    restart: Callable[[], ServerHandle] | None = None
    results: dict[WorkloadPoint, Metrics | BenchError] = field(default_factory=dict)
    #: points not measured because a hard SLO was already missed below them, with the reason
    pruned: dict[WorkloadPoint, str] = field(default_factory=dict)
    seconds: dict[WorkloadPoint, float] = field(default_factory=dict)
    #: why each pass after the first ran, in order ("tied with the leader", ...)
    extra_passes: list[str] = field(default_factory=list)
    invocations: int = 0

    def facts(self) -> DeploymentFacts:
        info = self.handle.server_info
        return DeploymentFacts(
            deploy_seconds=self.handle.deploy_seconds, gpus=tuple(self.handle.gpu_ids),
            server_info={k: info[k] for k in FACT_KEYS if k in info},
            artifacts=str(self.artifacts), extra_passes=tuple(self.extra_passes),
            pass_cap=self.passes.cap,
        )

    def measure(self, point: WorkloadPoint) -> Metrics:
        """The point's metrics; raises BenchError, or Pruned for a point pruned unmeasured."""
        if point not in self.results and point not in self.pruned:
            self._run_batch(point)
        if point in self.pruned:
            raise Pruned(self.pruned[point])
        result = self.results[point]
        if isinstance(result, BenchError):
            raise result
        return result

    def _run_batch(self, point: WorkloadPoint) -> None:
        """Measure the batch holding ``point`` in passes until the plan says stop; each point's
        metrics pool every pass, with intervals. A failed pass ends the batch."""
        pending = [p for p in self.planned if p not in self.results and p not in self.pruned]
        if point not in pending:
            pending.append(point)
        invocation = next(i for i in plan(pending) if point in i.points)
        runs: dict[WorkloadPoint, list[tuple[Metrics, RequestSamples]]] = {}
        combined: dict[WorkloadPoint, Metrics] = {}
        started = time.monotonic()
        count = 0
        while True:
            if count and self.redeploys:
                assert self.restart is not None
                self.handle = self.restart()
            failed = self._pass(invocation.points, runs, prune=self.passes.prune and not count)
            count += 1
            combined = {p: pool_passes(r, self.floor, redeployed=self.redeploys)
                        for p, r in runs.items()
                        if p not in failed and p not in self.pruned and len(r) == count}
            if failed:
                self.results.update(failed)
                break
            if count < self.passes.first:
                continue
            if count >= self.passes.cap or self.passes.more is None:
                break
            reason = self.passes.more(self, combined, count)
            if not reason:
                break
            self.extra_passes.append(reason)
        for p, metrics in combined.items():
            self.results[p] = metrics
        measured = [p for p in invocation.points if p not in self.pruned]
        for p in measured:
            self.seconds[p] = (time.monotonic() - started) / len(measured)

    @property
    def redeploys(self) -> bool:
        """Each pass after the first deploys the server anew (``workload.redeploy``)."""
        return self.case.workload.redeploy and self.restart is not None

    def _pass(self, points: Sequence[WorkloadPoint],
              runs: dict[WorkloadPoint, list[tuple[Metrics, RequestSamples]]], *,
              prune: bool) -> dict[WorkloadPoint, BenchError]:
        """One pass over the points not pruned: one genai-bench process, or more where pruning
        stopped one early (the rest then run in a new one); returns the points that failed."""
        todo = [p for p in points if p not in self.pruned]
        while todo:
            invocation = plan(todo)[0]
            failed, left = self._one_pass(invocation, runs, prune=prune)
            if failed:
                return failed
            todo = [p for p in todo if (p not in invocation.points or p in left)
                    and p not in self.pruned]
        return {}

    def _one_pass(self, invocation: Invocation,
                  runs: dict[WorkloadPoint, list[tuple[Metrics, RequestSamples]]], *,
                  prune: bool = False) -> \
            tuple[dict[WorkloadPoint, BenchError], list[WorkloadPoint]]:
        """One genai-bench process over the invocation; returns the points that failed and
        those a pruning stop left unmeasured (neither failed nor pruned)."""
        healthy = self.handle.healthy or (lambda: is_healthy(self.handle.url, self.handle.api_key))
        if not self.handle.alive() or not healthy():
            error = BenchError(
                "server is not healthy before the benchmark (/health did not answer 200)",
                output_tail=self.handle.log_tail(),
            )
            return dict.fromkeys(invocation.points, error), []
        self.invocations += 1
        request = runner.BenchRequest(
            url=self.handle.url,
            api_model_name=self.case.api_model_name,
            tokenizer=tokenizer_for(self.case, self.handle.server_info, simulated=self.simulated),
            workload=self.case.workload,
            invocation=invocation,
            out_dir=self.artifacts / f"genai-bench-{self.invocations}",
            timeout=self.settings.bench_timeout or self.case.bench_timeout,
            api_key=self.handle.api_key,
        )
        handle = self.handle
        known = {p: m for p, m in self.results.items() if isinstance(m, Metrics)}
        watch = Watch(request.out_dir, invocation.points, self.case.slos, self.case.workload,
                      self.floor, known) if prune else None

        def abort() -> str | None:
            if not handle.alive():
                return "the server exited during the benchmark"
            return watch.poll() if watch is not None else None

        outcome = self.runner.run(request, sink=self.sink, abort=abort)
        died = not handle.alive()
        if watch is not None and not died:  # a dead server's errors prune nothing
            watch.update()  # runs that ended between the last poll and genai-bench's exit
            self.pruned.update(watch.pruned)
        failed: dict[WorkloadPoint, BenchError] = {}
        left: list[WorkloadPoint] = []
        for p, result in outcome.results.items():
            if p in self.pruned:
                continue  # reported as pruned, whether or not genai-bench reached it
            if watch is not None and watch.stopped and not died and \
                    isinstance(result, BenchError):
                left.append(p)  # not a failure: the rest of a process stopped for pruning
                continue
            if died and isinstance(result, Metrics) and result.num_errors:
                # genai-bench finished before the abort poll saw the server go: the requests
                # that failed fast were the dead server's, not this configuration's error rate
                result = BenchError(
                    f"the server exited during the benchmark ({result.num_errors} of "
                    f"{result.num_requests} requests at {p.id} failed)"
                )
            if died and isinstance(result, BenchError):
                result = BenchError(
                    result.message,
                    output_tail=result.output_tail + "\n--- server log (last lines) ---\n"
                    + handle.log_tail(),
                )
            if isinstance(result, BenchError):
                failed[p] = result
            else:
                runs.setdefault(p, []).append((result, outcome.samples.get(p, RequestSamples())))
        return failed, left


class DeploymentService:
    """Leases GPUs, deploys through the backend, and keeps each configuration's deployment
    alive from its first item to its last.

    Deployments are keyed by *group*: a configuration's key for fixed items, a trial slot's id for
    slot items. A failed deployment is remembered, so the group's other items get the same
    error (or infeasible outcome) without another attempt.
    """

    def __init__(
        self,
        settings: Settings,
        backend: Backend,
        run_id: str,
        pool: GpuPool | None,
        *,
        sink: Sink | None = None,
        bench: runner.Runner | None = None,
        more_passes: MorePasses | None = None,
        bench_sink: Sink | None = None,
    ) -> None:
        self.settings = settings
        self.more_passes = more_passes
        self.backend = backend
        self.run_id = run_id
        self.pool = pool
        self.sink = sink
        #: where the benchmark's output lines go (default: ``sink``, the servers' lines' too)
        self.bench_sink = bench_sink or sink
        self.bench = bench or runner.GenaiBenchRunner()
        self.swept: list[str] | None = None
        self.planned: dict[str, list[WorkloadPoint]] = {}
        self._live: dict[str, tuple[ExitStack, Deployment]] = {}
        self._failed: dict[str, BaseException] = {}
        #: whether the backend's preflight passed (None: not asked yet)
        self._deployable: bool | None = None

    # -- what a configuration is -----------------------------------------------------------------
    def pass_plan(self, case: Case) -> PassPlan:
        """``repeats`` passes each (option, else the case's, else 1); with racing, one pass and
        then more, up to the repeats (or ``--autotune-max-repeats``), while the policy asks.

        A run gated on a baseline measures every point alike, :data:`GATE_PASSES` times unless
        repeats are given: one pass per side false-alarms about one run in nine at realistic
        noise (docs/ci.md, benchmarks/gate_accuracy.py). The first pass prunes (pruning.py)
        unless ``--autotune-no-prune``, a gate, or repeats above 1 ask for every point."""
        gated = self.settings.baseline is not None
        base = self.settings.repeats or case.workload.repeats or (GATE_PASSES if gated else 1)
        cap = max(base, self.settings.max_repeats or base)
        # a gate compares every point, and repeats ask for every point measured that often
        prune = self.settings.prune and not gated and base == 1 and \
            not self.backend.capabilities.estimated  # nothing to save in virtual time
        if gated or not self.settings.race or self.more_passes is None:
            return PassPlan(first=base, cap=base, prune=prune)
        return PassPlan(first=1, cap=cap, more=self.more_passes, prune=prune)

    def spec(self, case: Case, config: Configuration) -> ServerSpec:
        spec = ServerSpec.from_case(case, config)
        if self.settings.deploy_timeout is not None:
            spec = replace(spec, deploy_timeout=self.settings.deploy_timeout)
        if self.settings.endpoint is not None:
            spec = replace(spec, endpoint=self.settings.endpoint)
        return spec

    def launch_command(self, case: Case, config: Configuration) -> tuple[str, ...]:
        """The command a user would run to deploy this configuration (empty if unknown)."""
        try:
            return tuple(self.backend.display_command(self.spec(case, config)))
        except Exception:  # a broken backend must not hide the item's own outcome
            return ()

    def prelaunch_reason(self, case: Case, config: Configuration, pool_note: str = "") -> \
            str | None:
        """Why this configuration cannot start here at all (checked before any deploy)."""
        from ..backends.feasibility import infeasible_before_launch

        if not self.backend.capabilities.deploys:
            return None
        reason = infeasible_before_launch(
            self.spec(case, config), pool_size=len(self.pool) if self.pool is not None else None,
            simulated=self.backend.capabilities.simulated, pool_note=pool_note,
        )
        if reason is not None and not self._can_deploy():
            return None  # not this configuration's fault: its deployment says what is missing
        return reason

    def _can_deploy(self) -> bool:
        if self._deployable is None:
            try:
                preflight(self.backend)
                self._deployable = True
            except DeployError:
                self._deployable = False
        return self._deployable

    def artifacts(self, case: Case, config: Configuration) -> Path:
        """A new directory for this deployment (a configuration deployed twice — on two xdist
        workers, or again after a crash — never shares one)."""
        base = RunLayout.of(self.settings.results_dir, self.run_id).deployment(
            case.name, config_dirname(config))
        base.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, 1000):
            path = base if attempt == 1 else base.with_name(f"{base.name}.{attempt}")
            try:
                path.mkdir()
            except FileExistsError:
                continue
            return path
        raise OSError(f"cannot create a results directory next to {base}")

    # -- lifetime ----------------------------------------------------------------------------
    def plan(self, group: str, point: WorkloadPoint) -> None:
        """Announce a point the group's deployment will measure (one benchmark covers them)."""
        points = self.planned.setdefault(group, [])
        if point not in points:
            points.append(point)

    def acquire(self, group: str, case: Case, config: Configuration) -> Deployment:
        """The live deployment of ``group``, deploying ``config`` on first use."""
        if group in self._failed:
            raise self._failed[group]
        if group in self._live:
            return self._live[group][1]
        stack = ExitStack()
        try:
            deployment = stack.enter_context(self.open(case, config, self.planned.get(group, [])))
        except BaseException as exc:
            stack.close()
            if isinstance(exc, Exception):  # not Ctrl-C: that ends the run
                self._failed[group] = exc
            raise
        self._live[group] = (stack, deployment)
        return deployment

    def item_done(self, group: str, next_group: str | None) -> None:
        """An item of ``group`` finished; its server stops unless the next item shares it."""
        if next_group != group:
            self.release(group)

    def fail(self, group: str, error: Exception) -> None:
        """Record that ``group`` cannot deploy (found before trying): its items get ``error``."""
        self._failed[group] = error

    def release(self, group: str) -> None:
        """Stop the server of ``group`` (if it runs) and forget a failed attempt."""
        self._failed.pop(group, None)
        live = self._live.pop(group, None)
        if live is not None:
            live[0].close()

    def release_all(self) -> None:
        for group in list(self._live):
            self.release(group)
        self._failed.clear()

    @contextmanager
    def open(
        self, case: Case, config: Configuration, planned: Sequence[WorkloadPoint] = ()
    ) -> Iterator[Deployment]:
        """Deploy ``config`` for the duration of a ``with`` block (GPU lease included)."""
        if self.swept is None:
            self.swept = self.backend.sweep()
        spec = self.spec(case, config)
        artifacts = self.artifacts(case, config)
        caps = self.backend.capabilities
        preflight(self.backend)
        lease: GpuLease | None = None
        if self.pool is not None and spec.gpus > 0 and caps.local_gpus:
            lease = self.pool.lease(spec.gpus, timeout=spec.deploy_timeout,
                                    note=f"{self.run_id} {config.key}")
        try:
            ctx = DeployContext(
                run_id=self.run_id,
                artifacts=artifacts,
                gpu_ids=lease.ids if lease else (),
                sink=self.sink,
                labels={"pytest-autotune.run": self.run_id, "pytest-autotune.case": case.name,
                        "pytest-autotune.config": config.hash},
            )
            with ExitStack() as server:
                handle = self._start(server, spec, ctx)
                attempts = [1]

                def restart() -> ServerHandle:
                    """The same configuration deployed anew (its logs in deploy-N/)."""
                    server.close()
                    attempts[0] += 1
                    again = replace(ctx, artifacts=artifacts / f"deploy-{attempts[0]}",
                                    attempt=attempts[0])
                    again.artifacts.mkdir(parents=True, exist_ok=True)
                    return self._start(server, spec, again)

                central, tail = self.settings.noise_floor
                simulated = caps.simulated or served_by_simulator(handle.server_info)
                yield Deployment(case, config, handle, self.settings, artifacts, planned,
                                 self.bench, self.bench_sink, simulated,
                                 passes=self.pass_plan(case), floor=NoiseFloor(central, tail),
                                 restart=restart)
        finally:
            if lease is not None:
                lease.release()

    def _start(self, stack: ExitStack, spec: ServerSpec, ctx: DeployContext) -> ServerHandle:
        started = time.monotonic()
        handle = stack.enter_context(self.backend.deploy(spec, ctx))
        handle.deploy_seconds = handle.deploy_seconds or time.monotonic() - started
        return handle
