"""One deployment per configuration, and the batched benchmark of its workload points."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from .backends.base import Backend, DeployContext, ServerHandle, ServerSpec
from .backends.wait import is_healthy
from .bench import runner
from .bench.plan import plan
from .cases.case import Case
from .errors import BenchError, Infeasible
from .gpus import GpuLease, GpuPool
from .model import Configuration, Metrics, WorkloadPoint
from .settings import Settings

BUILTIN_TOKENIZER = Path(__file__).resolve().parent / "data" / "tokenizer"
Sink = Callable[[str], object]


class InfeasibleSkip(pytest.skip.Exception):  # type: ignore[misc,name-defined]
    """A skip that means: this configuration cannot run on this hardware.

    Reported by pytest as ``Infeasible: <reason>`` (the name users read in skip reasons).
    """


InfeasibleSkip.__module__ = "builtins"
InfeasibleSkip.__qualname__ = "Infeasible"


def config_dirname(config: Configuration) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.=-]+", "_", config.id)
    if len(slug) > 80:
        slug = slug[:80]
    return f"{config.index:03d}-{slug}-{config.hash}"


def tokenizer_for(case: Case, settings: Settings) -> str:
    """The tokenizer genai-bench uses: the simulator's own in sim mode (it counts tokens with
    it); otherwise the case's, or the model directory."""
    if settings.simulated or case.tokenizer == "builtin":
        return str(BUILTIN_TOKENIZER)
    return case.tokenizer or case.model_path


@dataclass
class Deployment:
    """A ready server plus the benchmark results of its workload points (measured lazily, in as
    few genai-bench processes as the planned points allow)."""

    case: Case
    config: Configuration
    handle: ServerHandle
    settings: Settings
    artifacts: Path
    planned: Sequence[WorkloadPoint]
    runner: runner.Runner = field(default_factory=runner.GenaiBenchRunner)
    sink: Sink | None = None
    results: dict[WorkloadPoint, Metrics | BenchError] = field(default_factory=dict)
    seconds: dict[WorkloadPoint, float] = field(default_factory=dict)
    invocations: int = 0

    def measure(self, point: WorkloadPoint) -> Metrics:
        if point not in self.results:
            self._run_batch(point)
        result = self.results[point]
        if isinstance(result, BenchError):
            raise result
        return result

    def _run_batch(self, point: WorkloadPoint) -> None:
        pending = [p for p in self.planned if p not in self.results]
        if point not in pending:
            pending.append(point)
        invocation = next(i for i in plan(pending) if point in i.points)
        if not self.handle.alive() or not is_healthy(self.handle.url, self.handle.api_key):
            error = BenchError(
                "server is not healthy before the benchmark (/health did not answer 200)",
                output_tail=self.handle.log_tail(),
            )
            for p in invocation.points:
                self.results[p] = error
            return
        self.invocations += 1
        request = runner.BenchRequest(
            url=self.handle.url,
            api_model_name=self.case.api_model_name,
            tokenizer=tokenizer_for(self.case, self.settings),
            workload=self.case.workload,
            invocation=invocation,
            out_dir=self.artifacts / f"genai-bench-{self.invocations}",
            timeout=self.settings.bench_timeout or self.case.bench_timeout,
            api_key=self.handle.api_key,
        )
        handle = self.handle

        def server_gone() -> str | None:
            return None if handle.alive() else "the server exited during the benchmark"

        outcome = self.runner.run(request, sink=self.sink, abort=server_gone)
        died = not handle.alive()
        for p, result in outcome.results.items():
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
            self.results[p] = result
            self.seconds[p] = outcome.seconds / len(outcome.results)


class Deployer:
    """Leases GPUs, deploys through the backend, and hands out :class:`Deployment` objects."""

    def __init__(
        self,
        settings: Settings,
        backend: Backend,
        run_id: str,
        pool: GpuPool | None,
        sink: Sink | None = None,
        bench: runner.Runner | None = None,
    ) -> None:
        self.settings = settings
        self.backend = backend
        self.run_id = run_id
        self.pool = pool
        self.sink = sink
        self.bench = bench or runner.GenaiBenchRunner()
        self.swept: list[str] | None = None

    def spec(self, case: Case, config: Configuration) -> ServerSpec:
        spec = ServerSpec.from_case(case, config)
        if self.settings.deploy_timeout is not None:
            spec = replace(spec, deploy_timeout=self.settings.deploy_timeout)
        if self.settings.endpoint is not None:
            spec = replace(spec, endpoint=self.settings.endpoint)
        return spec

    def artifacts(self, case: Case, config: Configuration) -> Path:
        """A new directory for this deployment (a configuration deployed twice — on two xdist
        workers, or again after a crash — never shares one)."""
        base = self.settings.results_dir / "runs" / self.run_id / case.name / config_dirname(config)
        base.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, 1000):
            path = base if attempt == 1 else base.with_name(f"{base.name}.{attempt}")
            try:
                path.mkdir()
            except FileExistsError:
                continue
            return path
        raise OSError(f"cannot create a results directory next to {base}")

    @contextmanager
    def open(
        self, case: Case, config: Configuration, planned: Sequence[WorkloadPoint]
    ) -> Iterator[Deployment]:
        if self.swept is None:
            self.swept = self.backend.sweep()
        spec = self.spec(case, config)
        artifacts = self.artifacts(case, config)
        lease: GpuLease | None = None
        if self.pool is not None and spec.gpus > 0 and self.backend.name != "endpoint":
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
            started = time.monotonic()
            try:
                with self.backend.deploy(spec, ctx) as handle:
                    handle.deploy_seconds = handle.deploy_seconds or time.monotonic() - started
                    yield Deployment(case, config, handle, self.settings, artifacts, planned,
                                     self.bench, self.sink)
            except Infeasible as exc:
                if self.settings.strict:
                    raise
                raise InfeasibleSkip(exc.render(), pytrace=False) from None
        finally:
            if lease is not None:
                lease.release()
