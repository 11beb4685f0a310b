"""The backend contract: what to deploy (:class:`ServerSpec`), what a deployment gives back
(:class:`ServerHandle`), and the :class:`Backend` protocol every mode implements."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ..cases.case import Case, OmeSettings, SimSettings
from ..runtimes import sglang
from ..values import Configuration, FlagValue

LineSink = Callable[[str], object]


@dataclass(frozen=True)
class ServerSpec:
    """One configuration of one case, ready to deploy."""

    case: str
    configuration: Configuration
    model_path: str
    flags: tuple[tuple[str, FlagValue], ...]
    served_name: str | None = None
    extra_args: tuple[str, ...] = ()
    image: str | None = None
    launcher: tuple[str, ...] = sglang.DEFAULT_LAUNCHER
    env_names: tuple[str, ...] = ()
    api_key_env: str | None = None
    endpoint: str | None = None
    gpus: int = 1
    sim: SimSettings = field(default_factory=SimSettings)
    ome: OmeSettings = field(default_factory=OmeSettings)
    deploy_timeout: float = 600.0
    #: the model name clients send (``Case.api_model_name``)
    api_model_name: str | None = None

    @classmethod
    def from_case(cls, case: Case, config: Configuration) -> ServerSpec:
        flags = (*case.base_flags, *config.params)
        return cls(
            case=case.name,
            configuration=config,
            model_path=case.model_path,
            flags=tuple(flags),
            served_name=case.served_name,
            extra_args=case.extra_args,
            image=case.image,
            launcher=case.launcher or sglang.DEFAULT_LAUNCHER,
            env_names=case.env,
            api_key_env=case.api_key_env,
            endpoint=case.endpoint,
            gpus=(case.gpus_per_server if case.gpus_per_server is not None
                  else sglang.gpus_needed(dict(flags))),
            sim=case.sim,
            ome=case.ome,
            deploy_timeout=case.deploy_timeout,
            api_model_name=case.api_model_name,
        )

    @property
    def flag_dict(self) -> dict[str, FlagValue]:
        return dict(self.flags)

    def argv(self, *, host: str, port: int, launcher: Sequence[str] | None = None) -> list[str]:
        return sglang.launch_argv(
            model_path=self.model_path,
            host=host,
            port=port,
            flags=self.flags,
            extra_args=self.extra_args,
            served_model_name=self.served_name,
            launcher=self.launcher if launcher is None else launcher,
        )


@dataclass
class DeployContext:
    """Per-deployment resources the session hands to a backend."""

    run_id: str
    artifacts: Path
    gpu_ids: tuple[str, ...] = ()
    sink: LineSink | None = None
    labels: dict[str, str] = field(default_factory=dict)
    ready_timeout: float | None = None
    #: 1 for a configuration's first deployment, 2… when a repeated pass redeploys it
    attempt: int = 1


@dataclass
class ServerHandle:
    """A running, ready server."""

    url: str
    spec: ServerSpec
    launch_command: list[str]
    log_path: Path | None = None
    server_info: dict[str, Any] = field(default_factory=dict)
    deploy_seconds: float = 0.0
    gpu_ids: tuple[str, ...] = ()
    alive: Callable[[], bool] = lambda: True
    api_key: str | None = field(default=None, repr=False)
    #: whether the server answers (default: ``GET /health`` is 200); an in-process one says so
    healthy: Callable[[], bool] | None = None

    def log_tail(self, lines: int = 40) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:])


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do; callers ask these instead of testing a mode's name."""

    #: starts a server per configuration (False: benchmarks a server that already runs)
    deploys: bool = True
    #: applies a configuration's SGLang flags (False: a case cannot tune parameters)
    tunes_flags: bool = True
    #: needs GPUs of this machine, leased per configuration from the run's pool
    local_gpus: bool = True
    #: the numbers come from the simulator; reports made with it say SIMULATED
    simulated: bool = False
    #: servers run elsewhere (a cluster): their GPUs are not this machine's
    remote: bool = False
    #: a model in virtual time, no server at all: reports made with it say ESTIMATED
    estimated: bool = False


@runtime_checkable
class Backend(Protocol):
    """A deployment mode. ``deploy`` is a context manager: ready handle in, torn down out —
    also when readiness fails, the benchmark fails or the run is interrupted."""

    name: str
    capabilities: Capabilities

    def deploy(self, spec: ServerSpec, ctx: DeployContext) -> AbstractContextManager[ServerHandle]:
        ...

    def display_command(self, spec: ServerSpec) -> list[str]:
        """The command a user would run to deploy this configuration for real."""
        ...

    def sweep(self) -> list[str]:
        """Remove leftovers of earlier runs whose pytest process is gone; describe them."""
        ...


def preflight(backend: Backend) -> None:
    """Raise :class:`~pytest_autotune.errors.DeployError` when ``backend`` cannot deploy at all
    (no Docker engine, no cluster), before GPUs are leased for it: that reason comes first.

    Optional for a backend: one that has nothing to check defines no ``preflight`` method."""
    check = getattr(backend, "preflight", None)
    if callable(check):
        check()
