"""Servers as local child processes (the ``sim`` and ``local`` modes).

The child runs in its own process group so that stopping it (SIGTERM, then SIGKILL) also stops
what it spawned. A pid file per live server lets a later run sweep servers left behind by a
pytest process that was killed outright.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from ..errors import DeployError
from ..procs import group_alive, kill_group, pid_alive, pump_output, terminate_group
from .base import Capabilities, DeployContext, ServerHandle, ServerSpec
from .leases import lease_port
from .secrets import SECRET_CONFIG_NAME, Redactor, secret_config
from .wait import wait_ready

HOST = "127.0.0.1"


class ProcessBackend:
    """Shared lifecycle; subclasses give the command line and environment."""

    name = "process"
    capabilities = Capabilities()

    def __init__(self, *, lock_dir: Path, stop_grace: float = 15.0) -> None:
        self.lock_dir = lock_dir
        self.stop_grace = stop_grace

    # -- what subclasses decide -------------------------------------------------------------
    def command(self, spec: ServerSpec, ctx: DeployContext, port: int) -> list[str]:
        raise NotImplementedError

    def environment(self, spec: ServerSpec, ctx: DeployContext) -> dict[str, str]:
        return dict(os.environ)

    def display_command(self, spec: ServerSpec) -> list[str]:
        return spec.argv(host="0.0.0.0", port=30000)

    def server_secret(self, spec: ServerSpec) -> str | None:
        """The server's API key, or None. It reaches the server in a private ``--config`` file
        (never on the command line), is redacted from the log and is given to health checks and
        genai-bench through the handle."""
        return None

    # -- lifecycle ----------------------------------------------------------------------------
    @contextmanager
    def deploy(self, spec: ServerSpec, ctx: DeployContext) -> Iterator[ServerHandle]:
        ctx.artifacts.mkdir(parents=True, exist_ok=True)
        port = lease_port(self.lock_dir, HOST, note=f"{ctx.run_id} {spec.configuration.key}")
        log_path = ctx.artifacts / "server.log"
        argv = self.command(spec, ctx, port.port)
        started = time.monotonic()
        log = open(log_path, "w", encoding="utf-8")
        proc: subprocess.Popen[bytes] | None = None
        pidfile: Path | None = None
        pump = None
        secret_dir: Path | None = None
        try:
            secret = self.server_secret(spec)
            redact = Redactor([secret] if secret else [])
            if secret:
                if "--config" in argv:
                    raise DeployError("the server API key is passed in a --config file; the "
                                      "case's extra_args cannot use --config as well")
                secret_dir = Path(tempfile.mkdtemp(prefix="autotune-secret-"))
                config = secret_dir / SECRET_CONFIG_NAME
                fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    f.write(secret_config(secret))
                argv = [*argv, "--config", str(config)]
            proc = subprocess.Popen(  # noqa: S603 - argv list, no shell
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=self.environment(spec, ctx),
                start_new_session=True,
            )
            pidfile = self._record(proc.pid, ctx, spec)
            def to_log(line: str) -> None:
                log.write(redact(line))
                log.flush()

            sinks: list[Callable[[str], object]] = [to_log]
            user_sink = ctx.sink
            if user_sink is not None:
                sinks.append(lambda line: user_sink(redact(line)))
            pump = pump_output(proc, sinks)
            url = f"http://{HOST}:{port.port}"
            live = proc

            def tail(n: int = 60) -> str:
                with open(log_path, encoding="utf-8", errors="replace") as f:
                    return "".join(f.readlines()[-n:])

            info = wait_ready(
                url,
                timeout=ctx.ready_timeout or spec.deploy_timeout,
                alive=lambda: live.poll() is None,
                log_tail=tail,
                log_path=str(log_path),
                api_key=secret,
                what=self.name + " server",
            )
            info = redact.scrub(info)
            if secret_dir is not None:  # read once at start-up: remove it now
                shutil.rmtree(secret_dir, ignore_errors=True)
            yield ServerHandle(
                url=url,
                spec=spec,
                launch_command=self.display_command(spec),
                log_path=log_path,
                server_info=info,
                deploy_seconds=time.monotonic() - started,
                gpu_ids=ctx.gpu_ids,
                alive=lambda: live.poll() is None,
                api_key=secret,
            )
        finally:
            if proc is not None:
                terminate_group(proc, grace=self.stop_grace)
            if pump is not None:
                pump.join(timeout=5.0)
            log.close()
            port.release()
            if pidfile is not None:
                pidfile.unlink(missing_ok=True)
            if secret_dir is not None:
                shutil.rmtree(secret_dir, ignore_errors=True)

    # -- leftovers ------------------------------------------------------------------------------
    @property
    def _pid_dir(self) -> Path:
        return self.lock_dir / "servers"

    def _record(self, pid: int, ctx: DeployContext, spec: ServerSpec) -> Path:
        self._pid_dir.mkdir(parents=True, exist_ok=True)
        path = self._pid_dir / f"{ctx.run_id}-{pid}.json"
        path.write_text(json.dumps({
            "pgid": pid, "owner": os.getpid(), "run": ctx.run_id,
            "config": spec.configuration.key, "backend": self.name,
        }))
        return path

    def sweep(self) -> list[str]:
        """Kill server process groups whose pytest process is gone."""
        removed: list[str] = []
        if not self._pid_dir.is_dir():
            return removed
        for path in self._pid_dir.glob("*.json"):
            try:
                data: Mapping[str, object] = json.loads(path.read_text())
                owner = int(str(data["owner"]))
                pgid = int(str(data["pgid"]))
            except (OSError, ValueError, KeyError):
                path.unlink(missing_ok=True)
                continue
            if pid_alive(owner):
                continue
            if group_alive(pgid):
                kill_group(pgid)
                what = f"{data.get('config')}, run {data.get('run')}"
                removed.append(f"process group {pgid} ({what})")
            path.unlink(missing_ok=True)
        return removed
