"""``estimate`` mode: the simulator's scheduler in virtual time, in this process.

Nothing is started: a configuration "deploys" by resolving its SGLang flags the way the simulator
does (the same automatic defaults and the same start-up failures, which are infeasible here as
they are in sim mode), and its points are measured by :class:`~pytest_autotune.bench.estimate.
EstimateRunner` on genai-bench-like workloads. A point takes milliseconds to seconds of CPU, not
minutes of GPU: estimate mode is for planning a search before GPU hours are spent, and every
report made with it says ESTIMATED.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import DeployError, Infeasible
from ..runtimes.sglang import DEFAULT_PORT
from .base import Capabilities, DeployContext, ServerHandle, ServerSpec
from .sim import sim_argv
from .wait import classify

SCHEME = "estimate://"
_ids = itertools.count(1)


class EstimateBackend:
    """Resolves each configuration in-process and hands its virtual server to the runner."""

    name = "estimate"
    capabilities = Capabilities(simulated=True, estimated=True, local_gpus=False)

    def __init__(self, *, pool_size: int = 8, slowdown: float | None = None) -> None:
        from ..bench.estimate import EstimateRunner

        self.pool_size = pool_size
        #: ``--autotune-sim-slowdown``: every case's servers this many times slower
        self.slowdown = slowdown
        #: measures the points of the servers this backend "deploys" (the session uses it in
        #: place of genai-bench)
        self.runner = EstimateRunner()

    def display_command(self, spec: ServerSpec) -> list[str]:
        return spec.argv(host="0.0.0.0", port=DEFAULT_PORT)

    def sweep(self) -> list[str]:
        return []  # nothing outlives the process

    @contextmanager
    def deploy(self, spec: ServerSpec, ctx: DeployContext) -> Iterator[ServerHandle]:
        from ..bench.estimate import CLIENT_OVERHEAD_S
        from ..sim.cli import parse_args
        from ..sim.config import resolve
        from ..sim.virtual import VirtualCluster

        started = time.monotonic()
        argv = sim_argv(spec, ctx, host="127.0.0.1", port=DEFAULT_PORT, gpus=self.pool_size,
                        slowdown=self.slowdown)
        errors = io.StringIO()
        try:
            with contextlib.redirect_stderr(errors):
                args = parse_args(argv)
            cfg = resolve(args)
        except SystemExit:
            raise DeployError("the simulator rejected the launch command",
                              log_tail=errors.getvalue()) from None
        except ValueError as exc:
            raise DeployError(f"the simulator rejected the configuration: {exc}") from None
        log_path = ctx.artifacts / "estimate.log"
        lines = [f"estimated: {' '.join(argv)}", *cfg.notes]
        if cfg.failure is not None:
            tail = "\n".join([*lines, *cfg.failure.exception])
            log_path.write_text(tail + "\n", encoding="utf-8")
            reason = classify(tail)
            if reason is not None:
                raise Infeasible(reason, log_tail=tail, log_path=str(log_path))
            raise DeployError(f"SGLang would fail to start ({cfg.failure.kind})", log_tail=tail,
                              log_path=str(log_path))
        log_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        cluster = VirtualCluster(cfg, seed=args.sim_seed, noise=args.sim_noise,
                                 client_overhead=CLIENT_OVERHEAD_S)
        url = f"{SCHEME}{spec.case}/{spec.configuration.hash}/{next(_ids)}"
        self.runner.clusters[url] = cluster
        try:
            yield ServerHandle(
                url=url, spec=spec, launch_command=self.display_command(spec),
                log_path=log_path, server_info=server_info(cfg, args),
                deploy_seconds=time.monotonic() - started, healthy=lambda: True,
            )
        finally:
            self.runner.clusters.pop(url, None)
            self.runner.passes.pop(url, None)


def server_info(cfg: Any, args: Any) -> dict[str, Any]:
    """The resolved values a record keeps, as the simulator's ``/get_server_info`` gives them."""
    return {
        "max_total_num_tokens": cfg.max_total_num_tokens,
        "mem_fraction_static": cfg.mem_fraction_static,
        "chunked_prefill_size": cfg.chunked_prefill_size,
        "cuda_graph_max_bs": cfg.cuda_graph_max_bs,
        "max_running_requests": cfg.max_running_requests,
        "schedule_policy": cfg.schedule_policy, "tp_size": cfg.tp, "dp_size": cfg.dp,
        "version": "0.5.5.post3-sim",
        "sim": {"gpu": args.sim_gpu, "model": cfg.model.name, "noise": args.sim_noise,
                "seed": args.sim_seed, "estimate": True},
    }
