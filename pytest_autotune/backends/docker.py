"""``docker`` mode: one SGLang container per configuration, through the Docker SDK for Python.

The SDK is imported, and the engine contacted, only when the first container is deployed or
leftovers are swept; collection (``display_command``) never touches the engine. Each container is
labelled with the run, case, configuration and owning pytest process, publishes SGLang's port 30000
on 127.0.0.1 only (Docker chooses the host port at start, so parallel workers never race for one),
and is stopped and removed on every way out: ready or not, benchmark failure, Ctrl-C, SIGTERM.
Containers of runs whose pytest process is gone are removed by :meth:`DockerBackend.sweep`.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from ..errors import DeployError
from .base import Capabilities, DeployContext, LineSink, ServerHandle, ServerSpec
from .container import (
    CONTAINER_PORT,
    LABEL_OWNER,
    LABEL_RUN,
    SECRET_DIR_IN_CONTAINER,
    ContainerPlan,
    DockerOptions,
    dead_owner,
    device_request_args,
    docker_run_argv,
    engine_hint,
    plan_container,
)
from .secrets import SECRET_CONFIG_NAME, Redactor, secret_config, server_api_key
from .streams import LogFile, deferred_signals, note, pump_lines, write_json
from .wait import failure_from_log, wait_ready

HOST = "127.0.0.1"


def secret_archive(api_key: str) -> bytes:
    """A tar of ``/pytest-autotune/server-args.yaml`` (root-only) to copy into the container."""
    data = secret_config(api_key).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        folder = tarfile.TarInfo(SECRET_DIR_IN_CONTAINER.strip("/"))
        folder.type, folder.mode = tarfile.DIRTYPE, 0o700
        tar.addfile(folder)
        member = tarfile.TarInfo(f"{folder.name}/{SECRET_CONFIG_NAME}")
        member.size, member.mode = len(data), 0o600
        tar.addfile(member, io.BytesIO(data))
    return out.getvalue()


class DockerBackend:
    """Deploys each configuration as a container of the case's image (``lmsysorg/sglang``)."""

    name = "docker"
    capabilities = Capabilities()

    def __init__(self, options: DockerOptions | None = None, *, api_timeout: float = 60.0) -> None:
        self.options = options or DockerOptions()
        self.api_timeout = api_timeout
        self._client: Any = None
        self._images: set[str] = set()

    # -- the engine -----------------------------------------------------------------------------
    @staticmethod
    def sdk() -> Any:
        try:
            import docker
        except ImportError:
            raise DeployError("docker mode needs the Docker SDK for Python: "
                              "pip install 'pytest-autotune[docker]'") from None
        return docker

    def client(self) -> Any:
        """The engine's client, connected (and checked) on first use."""
        if self._client is None:
            docker = self.sdk()
            where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
            client = None
            try:
                _probe_unix_socket(where)
                client = docker.from_env(timeout=int(self.api_timeout))
                client.ping()
            except Exception as exc:
                if client is not None:
                    with contextlib.suppress(Exception):
                        client.close()
                raise DeployError(
                    f"no Docker engine answers at {where} ({_short(exc)}): start dockerd "
                    "(systemctl start docker), check DOCKER_HOST, and that this user may use "
                    "the engine's socket (group docker)"
                ) from None
            self._client = client
        return self._client

    def preflight(self) -> None:
        """An engine must answer before GPUs are leased for a container."""
        self.client()

    def display_command(self, spec: ServerSpec) -> list[str]:
        return docker_run_argv(spec, self.options)

    def ensure_image(self, image: str, sink: LineSink | None = None) -> float:
        """Pull the image unless it is present (or pulling is off); seconds spent pulling."""
        if image in self._images:
            return 0.0
        client, errors = self.client(), self.sdk().errors
        started = time.monotonic()
        try:
            client.images.get(image)
        except errors.ImageNotFound:
            if not self.options.pull:
                raise DeployError(
                    f"image {image} is not in the Docker engine and --autotune-no-pull is set: "
                    f"docker pull {image} (or docker load / build it) first"
                ) from None
            note(sink, f"pulling {image} (not present locally; this can take minutes)")
            try:
                noted = time.monotonic()
                for event in client.api.pull(image, stream=True, decode=True):
                    if isinstance(event, dict) and event.get("error"):
                        raise RuntimeError(str(event["error"]))
                    if isinstance(event, dict) and time.monotonic() - noted > 10:
                        noted = time.monotonic()
                        note(sink, f"pulling {image}: {event.get('status', '')} "
                                    f"{event.get('progress', '')}".rstrip())
            except Exception as exc:
                raise DeployError(
                    f"image {image} is not in the Docker engine and pulling it failed: "
                    f"{_short(exc)}. Check the image name and registry access (docker login, "
                    "proxy), or load the image by hand (docker pull / docker load) and use "
                    "--autotune-no-pull"
                ) from None
        except errors.APIError as exc:
            raise DeployError(f"could not inspect image {image}: {_short(exc)}") from None
        self._images.add(image)
        return time.monotonic() - started

    # -- one deployment -------------------------------------------------------------------------
    @contextmanager
    def deploy(self, spec: ServerSpec, ctx: DeployContext) -> Iterator[ServerHandle]:
        ctx.artifacts.mkdir(parents=True, exist_ok=True)
        if self.options.hf_cache is not None:  # else the engine creates it, owned by root
            with contextlib.suppress(OSError):
                self.options.hf_cache.mkdir(parents=True, exist_ok=True)
        key = server_api_key(spec.api_key_env)
        plan = plan_container(spec, ctx, self.options, os.environ, api_key=key)
        redact = Redactor(plan.secrets)
        began = time.monotonic()
        pull_seconds = self.ensure_image(plan.image, ctx.sink)
        client = self.client()
        record: dict[str, Any] = {"plan": plan.summary(), "pull_seconds": round(pull_seconds, 3)}
        log = LogFile(ctx.artifacts / "server.log", redact, ctx.sink)
        container: Any = None
        stream_client: Any = None
        pump: threading.Thread | None = None
        try:
            created = time.monotonic()
            container, plan = self._create(client, plan)
            record["container"] = {"id": container.id, "name": plan.name}
            if key is not None:
                container.put_archive("/", secret_archive(key))
            port = self._start(container, plan)
            record["host_port"] = port
            stream_client = self.sdk().from_env(timeout=None)
            stream = stream_client.api.logs(container.id, stream=True, follow=True)
            pump = threading.Thread(target=pump_lines, args=(stream, log), daemon=True,
                                    name=f"logs-{plan.name}")
            pump.start()
            alive = _alive_check(container, self.sdk().errors.NotFound)

            def tail() -> str:
                if not alive():
                    self._final_logs(container, log, pump)
                return log.tail()

            what = f"container {plan.name}"
            if port is None:  # it exited before its port could be read back
                raise failure_from_log(f"{what} exited during start-up", tail(), str(log.path))
            url = f"http://{HOST}:{port}"
            info = wait_ready(url, timeout=ctx.ready_timeout or spec.deploy_timeout, alive=alive,
                              log_tail=tail, log_path=str(log.path), api_key=key, what=what)
            record["start_to_ready_seconds"] = round(time.monotonic() - created, 3)
            yield ServerHandle(
                url=url, spec=spec, launch_command=self.display_command(spec),
                log_path=log.path, server_info=redact.scrub(info),
                deploy_seconds=time.monotonic() - began, gpu_ids=ctx.gpu_ids, alive=alive,
                api_key=key,
            )
        finally:
            with deferred_signals():
                self._teardown(client, container, plan, log, pump, record)
                if stream_client is not None:
                    with contextlib.suppress(Exception):
                        stream_client.close()
                write_json(ctx.artifacts / "deploy.json", record)

    def _create(self, client: Any, plan: ContainerPlan) -> tuple[Any, ContainerPlan]:
        docker = self.sdk()
        kwargs: dict[str, Any] = {
            "image": plan.image, "command": plan.command, "labels": plan.labels,
            "environment": plan.environment, "volumes": plan.volumes,
            "ports": {f"{CONTAINER_PORT}/tcp": (HOST, None)}, "shm_size": plan.shm_size,
            "ipc_mode": "host", "detach": True,
            "ulimits": [docker.types.Ulimit(name=u.name, soft=u.soft, hard=u.hard)
                        for u in plan.ulimits],
        }
        request = device_request_args(plan)
        if request is not None:
            kwargs["device_requests"] = [docker.types.DeviceRequest(**request)]
        base = plan.name
        for attempt in range(1, 6):
            try:
                return client.containers.create(name=plan.name, **kwargs), plan
            except docker.errors.APIError as exc:
                if exc.status_code == 409 and attempt < 5:  # same configuration twice in a run
                    plan = replace(plan, name=f"{base}-{attempt + 1}")
                    continue
                raise DeployError(f"the engine refused to create container {plan.name}: "
                                  f"{_short(exc)}" + _hint(exc)) from None
        raise AssertionError("unreachable")

    def _start(self, container: Any, plan: ContainerPlan) -> int | None:
        """Start; the host port Docker bound on 127.0.0.1 (None: the container already exited)."""
        errors = self.sdk().errors
        for attempt in range(3):
            try:
                container.start()
                break
            except errors.APIError as exc:
                text = str(exc).lower()
                if attempt < 2 and ("already allocated" in text or "already in use" in text):
                    continue
                raise DeployError(f"the engine could not start container {plan.name}: "
                                  f"{_short(exc)}" + _hint(exc)) from None
        container.reload()
        for binding in container.attrs["NetworkSettings"]["Ports"].get(
                f"{CONTAINER_PORT}/tcp") or []:
            if binding.get("HostIp") == HOST and binding.get("HostPort"):
                return int(binding["HostPort"])
        return None

    def _final_logs(self, container: Any, log: LogFile, pump: threading.Thread | None) -> None:
        if pump is not None:
            pump.join(timeout=2.0)
        with contextlib.suppress(Exception):
            log.replace_all(container.logs(stdout=True, stderr=True).decode("utf-8", "replace"))

    def _teardown(self, client: Any, container: Any, plan: ContainerPlan, log: LogFile,
                  pump: threading.Thread | None, record: dict[str, Any]) -> None:
        errors = self.sdk().errors
        if container is None:  # interrupted while creating: the engine may have made it anyway
            try:
                container = client.containers.get(plan.name)
            except Exception:
                log.close()
                return
        started = time.monotonic()
        with contextlib.suppress(errors.NotFound, errors.APIError, OSError):
            container.stop(timeout=int(self.options.stop_grace))
        self._final_logs(container, log, pump)
        with contextlib.suppress(Exception):
            container.reload()
            state = container.attrs.get("State", {})
            record["exit"] = {k: state.get(k) for k in ("Status", "ExitCode", "OOMKilled")}
        for _ in range(3):
            try:
                container.remove(force=True, v=True)
                break
            except errors.NotFound:
                break
            except Exception as exc:  # the next run's sweep removes it if this never succeeds
                record["remove_error"] = _short(exc)
                time.sleep(1.0)
        record["teardown_seconds"] = round(time.monotonic() - started, 3)
        log.close()

    # -- leftovers ------------------------------------------------------------------------------
    def sweep(self) -> list[str]:
        """Remove containers of this host whose owning pytest process is gone.

        Without an engine there is nothing to sweep (a deployment then says why it failed).
        """
        try:
            client = self.client()
        except DeployError:
            return []
        removed: list[str] = []
        for container in client.containers.list(all=True, filters={"label": LABEL_OWNER}):
            owner = dead_owner(container.labels.get(LABEL_OWNER, ""))
            if owner is None:
                continue
            with contextlib.suppress(Exception):
                container.remove(force=True, v=True)
                removed.append(f"container {container.name} (run "
                               f"{container.labels.get(LABEL_RUN, '?')}, pytest pid {owner.pid} "
                               "is gone)")
        return removed


def _probe_unix_socket(where: str) -> None:
    """Connect to a unix-socket engine once ourselves: the SDK leaks the socket of a failed
    connection, and the stdlib error (no such file, permission denied) says more."""
    if not where.startswith("unix://"):
        return
    path = where[len("unix://"):]
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(10)
        probe.connect(path)


def _alive_check(container: Any, not_found: type[Exception]) -> Callable[[], bool]:
    def alive() -> bool:
        try:
            container.reload()
        except not_found:
            return False
        except Exception:  # an engine hiccup is not a dead server; readiness decides
            return True
        return str(container.status) in ("running", "restarting")

    return alive


def _short(exc: BaseException) -> str:
    explanation = getattr(exc, "explanation", None)
    text = str(explanation or exc).strip()
    return text if len(text) < 400 else text[:400] + "…"


def _hint(exc: BaseException) -> str:
    hint = engine_hint(str(exc))
    return f" ({hint})" if hint else ""
