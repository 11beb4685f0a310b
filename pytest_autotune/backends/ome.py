"""``ome`` mode: each configuration as an OME ``InferenceService`` on a Kubernetes cluster.

The cluster's scheduler places the servers, so no local GPU is leased; ``--autotune-max-
parallel`` bounds how many InferenceServices this machine's runs hold at once. The official
``kubernetes`` client is imported, and the API server contacted, only when a server is deployed
or leftovers are swept; collection and ``--autotune-ome-render`` never touch a cluster.

A deployment: create the InferenceService (ome_manifest.py), watch it until OME says Ready while
reading its engine pods for faults (ome_status.py: unschedulable, image, crash, out of memory),
reach the server (``port-forward`` through the API server, or the ``service`` URL OME publishes
when pytest runs inside the cluster), check ``/health`` and ``/v1/models`` through that path,
and delete the InferenceService on every way out (ready or not, benchmark failure, Ctrl-C,
SIGTERM). InferenceServices whose owning pytest process is gone are deleted by :meth:`sweep`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DeployError, Infeasible, ReadinessTimeout
from . import kube
from .base import Capabilities, DeployContext, LineSink, ServerHandle, ServerSpec
from .container import owner_label
from .leases import FileLock
from .ome_manifest import (
    ANNOTATION_HEARTBEAT,
    COMPONENT_LABEL,
    GROUP,
    LABEL_OWNER,
    LABEL_RUN,
    PLURAL,
    POD_LABEL,
    RUNNER_NAME,
    VERSION,
    OmeTarget,
    display_argv,
    inference_service,
    isvc_name,
    utc_now,
)
from .ome_status import (
    Fault,
    abandoned,
    describe_events,
    diagnose,
    is_ready,
    not_ready_reason,
    service_url,
    spec_fault,
    termination_tail,
)
from .portforward import PortForward, relay
from .streams import deferred_signals, note, write_json
from .wait import wait_ready

#: the engine's port in OME's SGLang runtimes (the pod's declared port wins when it has one)
ENGINE_PORT = 8080
#: how long a deletion is waited for before the next run's sweep is left to finish it
DELETE_WAIT = 60.0
#: a run renews its InferenceServices' heartbeat this often (seconds; ome_status.STALE_AFTER
#: is when a sweep gives up on a silent one)
HEARTBEAT_EVERY = 60.0


@dataclass(frozen=True)
class OmeOptions:
    namespace: str | None = None
    kubeconfig: str | None = None
    context: str | None = None
    #: auto: ``service`` inside a cluster (a pod), else ``port-forward``
    access: str = "auto"
    runtime: str | None = None
    #: the most InferenceServices this machine's runs hold at once (None: no bound)
    max_parallel: int | None = None
    lock_dir: Path | None = None
    #: seconds between looks at the InferenceService and its pods while waiting
    poll: float = 1.0
    #: seconds between renewals of a held InferenceService's heartbeat annotation
    heartbeat: float = HEARTBEAT_EVERY


class OmeBackend:
    """Deploys each configuration as an InferenceService through the Kubernetes API."""

    name = "ome"
    capabilities = Capabilities(local_gpus=False, remote=True)

    def __init__(self, options: OmeOptions | None = None) -> None:
        self.options = options or OmeOptions()
        self._api: Any = None
        self._lock = threading.Lock()

    sdk = staticmethod(kube.sdk)

    def where(self) -> str:
        return kube.where(self.options.kubeconfig, self.options.context)

    def api(self) -> Any:
        """An ``ApiClient`` for the cluster, made (and checked) on first use."""
        with self._lock:
            if self._api is None:
                self._api = kube.connect(self.options.kubeconfig, self.options.context,
                                         group=GROUP, version=VERSION)
            return self._api

    def preflight(self) -> None:
        self.api()

    def close(self) -> None:
        with self._lock:
            if self._api is not None:
                with contextlib.suppress(Exception):
                    self._api.close()
                self._api = None

    def target(self, spec: ServerSpec) -> OmeTarget:
        return OmeTarget.of(spec, namespace=self.options.namespace, runtime=self.options.runtime)

    def display_command(self, spec: ServerSpec) -> list[str]:
        return display_argv(spec)

    def manifest(self, spec: ServerSpec, *, run_id: str, owned: bool = True,
                 labels: dict[str, str] | None = None) -> dict[str, Any]:
        """``owned``: labelled with this process as its owner (a deployment); False for a
        manifest rendered for review."""
        name = isvc_name(spec.case, spec.configuration.hash, run_id)
        return inference_service(spec, self.target(spec), name=name, run_id=run_id,
                                 owner=owner_label() if owned else None, labels=labels,
                                 image=spec.image)

    # -- one deployment -------------------------------------------------------------------------
    @contextmanager
    def deploy(self, spec: ServerSpec, ctx: DeployContext) -> Iterator[ServerHandle]:
        ctx.artifacts.mkdir(parents=True, exist_ok=True)
        began = time.monotonic()
        timeout = ctx.ready_timeout or spec.deploy_timeout
        record: dict[str, Any] = {}
        api = self.api()
        custom = self.sdk().client.CustomObjectsApi(api)
        body = self.manifest(spec, run_id=ctx.run_id, labels=ctx.labels)
        meta = body["metadata"]
        namespace: str = meta["namespace"]
        log_path = ctx.artifacts / "server.log"
        created: str | None = None
        attempted = False
        forward: PortForward | None = None
        heartbeat = threading.Event()
        slot = self._slot(timeout, ctx.sink, spec)
        record["slot_wait_seconds"] = round(time.monotonic() - began, 3)
        try:
            attempted = True
            created = self._create(custom, body)
            meta["name"] = created
            threading.Thread(target=self._beat, args=(custom, namespace, created, heartbeat),
                             daemon=True, name=f"heartbeat-{created}").start()
            record["inference_service"] = {"namespace": namespace, "name": created}
            write_json(ctx.artifacts / "inferenceservice.json", body)
            note(ctx.sink, f"created InferenceService {namespace}/{created}")
            isvc = self._wait_ready(api, body, timeout=timeout - (time.monotonic() - began),
                                    log_path=log_path, sink=ctx.sink)
            record["ready_seconds"] = round(time.monotonic() - began, 3)
            access = self._access_mode()
            record["access"] = access
            if access == "service":
                url = service_url(isvc)
                if url is None:
                    raise DeployError(f"InferenceService {namespace}/{created} is Ready but "
                                      "publishes no status.url: use --autotune-ome-access="
                                      "port-forward")
            else:
                pod, port = self._serving_pod(api, namespace, created)
                forward = PortForward(api, namespace, pod, port)
                url = forward.start()
                record["port_forward"] = {"pod": pod, "port": port, "local": url}
            alive = self._alive_check(custom, namespace, created)
            info = wait_ready(url, timeout=max(timeout - (time.monotonic() - began), 30.0),
                              alive=alive, log_tail=lambda: self._log_tail(api, namespace,
                                                                          created),
                              log_path=str(log_path), api_key=None,
                              what=f"InferenceService {namespace}/{created}")
            record["deploy_seconds"] = round(time.monotonic() - began, 3)
            yield ServerHandle(
                url=url, spec=spec, launch_command=self.display_command(spec),
                log_path=log_path, server_info=info,
                deploy_seconds=time.monotonic() - began, alive=alive,
            )
        finally:
            heartbeat.set()
            with deferred_signals():
                if forward is not None:
                    forward.stop()
                if created is not None:
                    self._save_logs(api, namespace, created, log_path)
                    record.update(self._delete(custom, namespace, created))
                elif attempted:  # interrupted while creating: it may exist anyway
                    record.update(self._delete(custom, namespace, meta["name"]))
                if slot is not None:
                    slot.release()
                write_json(ctx.artifacts / "deploy.json", record)

    def _beat(self, custom: Any, namespace: str, name: str, stop: threading.Event) -> None:
        """Renew the heartbeat annotation until ``stop`` (the deployment's end)."""
        while not stop.wait(self.options.heartbeat):
            with contextlib.suppress(Exception):  # a missed beat is not an error
                custom.patch_namespaced_custom_object(
                    GROUP, VERSION, namespace, PLURAL, name,
                    {"metadata": {"annotations": {ANNOTATION_HEARTBEAT: utc_now()}}},
                    _request_timeout=30)

    def _slot(self, timeout: float, sink: LineSink | None, spec: ServerSpec) -> FileLock | None:
        """One of ``max_parallel`` machine-wide slots (a lock file each), waited for."""
        bound = self.options.max_parallel
        if not bound:
            return None
        folder = (self.options.lock_dir or Path("/tmp")) / "ome-slots"
        deadline = time.monotonic() + timeout
        noted = False
        while True:
            for index in range(bound):
                lock = FileLock(folder / f"slot-{index}.lock")
                if lock.try_acquire(note=f"{spec.case} {spec.configuration.id}"):
                    return lock
            if time.monotonic() > deadline:
                raise DeployError(f"no InferenceService slot came free in {timeout:.0f} s "
                                  f"(--autotune-max-parallel {bound})")
            if not noted:
                note(sink, f"waiting for one of {bound} InferenceService slots "
                            "(--autotune-max-parallel)")
                noted = True
            time.sleep(0.5)

    def _create(self, custom: Any, body: dict[str, Any]) -> str:
        k8s = self.sdk()
        meta = body["metadata"]
        base = meta["name"]
        for attempt in range(1, 6):
            try:
                custom.create_namespaced_custom_object(GROUP, VERSION, meta["namespace"], PLURAL,
                                                       body, _request_timeout=60)
                return str(meta["name"])
            except k8s.client.ApiException as exc:
                if exc.status == 409 and attempt < 5:  # the configuration again in this run
                    meta["name"] = f"{base[:50]}-{attempt + 1}"
                    continue
                raise DeployError(_refusal(exc, meta["namespace"], meta["name"])) from None
        raise AssertionError("unreachable")

    def _wait_ready(self, api: Any, body: dict[str, Any], *, timeout: float, log_path: Path,
                    sink: LineSink | None) -> dict[str, Any]:
        """Watch the InferenceService until OME reports Ready; read its pods for faults between
        watch windows. Raises Infeasible, DeployError or ReadinessTimeout."""
        k8s = self.sdk()
        custom = k8s.client.CustomObjectsApi(api)
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        deadline = time.monotonic() + timeout
        isvc: dict[str, Any] = body
        waiting_for_gpus = ""
        while True:
            window = max(1, min(int(self.options.poll * 5), int(deadline - time.monotonic())))
            watch = k8s.watch.Watch()
            try:
                for event in watch.stream(custom.list_namespaced_custom_object, GROUP, VERSION,
                                          namespace, PLURAL,
                                          field_selector=f"metadata.name={name}",
                                          timeout_seconds=window, _request_timeout=window + 30):
                    if event["type"] == "DELETED":
                        raise DeployError(f"InferenceService {namespace}/{name} was deleted "
                                          "while it started (by someone else)")
                    if event["type"] in ("ADDED", "MODIFIED"):
                        isvc = event["object"]
                        if is_ready(isvc):
                            watch.stop()
                            return isvc
                        rejected = spec_fault(isvc)
                        if rejected is not None:
                            self._raise(api, namespace, name, rejected, log_path)
                    if time.monotonic() > deadline:
                        break
            except k8s.client.ApiException as exc:
                if exc.status != 410:  # 410: the watch expired; start another
                    raise DeployError(f"watching InferenceService {namespace}/{name} failed: "
                                      f"{exc.status} {kube.api_reason(exc)}") from None
            finally:
                watch.stop()
            fault = self._fault(api, namespace, name)
            if fault is not None:
                if fault.kind == "unschedulable" and fault.gpus and \
                        self._others_of_run(custom, body) > 0:
                    if fault.message != waiting_for_gpus:  # ours hold them: they will free
                        note(sink, f"{fault.message} — waiting for this run's other servers")
                        waiting_for_gpus = fault.message
                else:
                    self._raise(api, namespace, name, fault, log_path)
            if time.monotonic() > deadline:
                tail = self._log_tail(api, namespace, name)
                raise ReadinessTimeout(
                    f"InferenceService {namespace}/{name} was not Ready after {timeout:.0f} s: "
                    f"{not_ready_reason(isvc)}" + self._events_text(api, namespace, name),
                    log_tail=tail, log_path=str(log_path))

    def _raise(self, api: Any, namespace: str, name: str, fault: Fault, log_path: Path) -> None:
        events = self._events_text(api, namespace, name)
        tail = fault.log_tail or self._log_tail(api, namespace, name)
        if fault.kind in ("infeasible", "unschedulable"):
            reason = fault.message
            if fault.kind == "unschedulable" and fault.gpus:
                reason = f"the cluster has no node with the GPUs this configuration asks for: " \
                         f"{fault.message}"
            raise Infeasible(reason + events, log_tail=tail, log_path=str(log_path))
        raise DeployError(fault.message + events, log_tail=tail, log_path=str(log_path))

    def _pods(self, api: Any, namespace: str, name: str) -> list[dict[str, Any]]:
        core = self.sdk().client.CoreV1Api(api)
        try:
            pods = core.list_namespaced_pod(namespace, label_selector=f"{POD_LABEL}={name}",
                                            _request_timeout=30)
        except Exception:
            return []
        return [api.sanitize_for_serialization(p) for p in pods.items]

    def _fault(self, api: Any, namespace: str, name: str) -> Fault | None:
        return diagnose(self._pods(api, namespace, name))

    def _others_of_run(self, custom: Any, body: dict[str, Any]) -> int:
        """This run's other InferenceServices in the namespace (they hold GPUs that will free)."""
        meta = body["metadata"]
        try:
            found = custom.list_namespaced_custom_object(
                GROUP, VERSION, meta["namespace"], PLURAL,
                label_selector=f"{LABEL_RUN}={meta['labels'][LABEL_RUN]}", _request_timeout=30)
        except Exception:
            return 0
        return sum(1 for item in found.get("items", ())
                   if item["metadata"]["name"] != meta["name"])

    def _events_text(self, api: Any, namespace: str, name: str) -> str:
        core = self.sdk().client.CoreV1Api(api)
        events: list[dict[str, Any]] = []
        names = [name, *[p["metadata"]["name"] for p in self._pods(api, namespace, name)]]
        for involved in names:
            with contextlib.suppress(Exception):
                found = core.list_namespaced_event(
                    namespace, field_selector=f"involvedObject.name={involved}",
                    _request_timeout=30)
                events += [api.sanitize_for_serialization(e) for e in found.items]
        text = describe_events(events)
        return f"\n--- events ---\n{text}" if text else ""

    def _log_tail(self, api: Any, namespace: str, name: str, lines: int = 60) -> str:
        """The engine's log through the API server (a kubelet serves it), else the last lines
        a crashed container left in its status."""
        core = self.sdk().client.CoreV1Api(api)
        pods = self._pods(api, namespace, name)
        for pod in pods:
            crashed = bool(termination_tail(pod))
            with contextlib.suppress(Exception):
                return str(core.read_namespaced_pod_log(
                    pod["metadata"]["name"], namespace, container=RUNNER_NAME,
                    tail_lines=lines, previous=crashed, _request_timeout=30))
        for pod in pods:
            tail = termination_tail(pod)
            if tail:
                return tail
        return ""

    def _save_logs(self, api: Any, namespace: str, name: str, path: Path) -> None:
        with contextlib.suppress(Exception):
            text = self._log_tail(api, namespace, name, lines=10_000)
            if text:
                path.write_text(text, encoding="utf-8")

    def _access_mode(self) -> str:
        mode = self.options.access
        if mode == "auto":
            return "service" if kube.in_cluster() else "port-forward"
        return mode

    def _serving_pod(self, api: Any, namespace: str, name: str) -> tuple[str, int]:
        """The pod that serves the InferenceService (its router if it has one, else an engine
        pod) and its port."""
        pods = [p for p in self._pods(api, namespace, name)
                if (p.get("status") or {}).get("phase") == "Running"]
        pods.sort(key=lambda p: (p["metadata"].get("labels", {}).get(COMPONENT_LABEL)
                                 != "router", p["metadata"]["name"]))
        if not pods:
            raise DeployError(f"InferenceService {namespace}/{name} is Ready but none of its "
                              "pods runs: cannot port-forward")
        pod = pods[0]
        port = ENGINE_PORT
        for container in (pod.get("spec") or {}).get("containers") or ():
            for declared in container.get("ports") or ():
                port = int(declared.get("containerPort", port))
                break
        return pod["metadata"]["name"], port

    def _alive_check(self, custom: Any, namespace: str, name: str) -> Callable[[], bool]:
        checked = [0.0, True]

        def alive() -> bool:
            if time.monotonic() - float(checked[0]) < 2.0:
                return bool(checked[1])
            try:
                isvc = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL,
                                                           name, _request_timeout=10)
                state = isvc.get("metadata", {}).get("deletionTimestamp") is None
            except self.sdk().client.ApiException as exc:
                state = exc.status != 404
            except Exception:  # an API hiccup is not a dead server; readiness decides
                state = True
            checked[:] = [time.monotonic(), state]
            return state

        return alive

    def _delete(self, custom: Any, namespace: str, name: str) -> dict[str, Any]:
        k8s = self.sdk()
        started = time.monotonic()
        outcome: dict[str, Any] = {}
        try:
            custom.delete_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name, propagation_policy="Foreground",
                _request_timeout=30)
        except k8s.client.ApiException as exc:
            if exc.status != 404:
                outcome["delete_error"] = f"{exc.status} {kube.api_reason(exc)}"
                return outcome
        except Exception as exc:  # the next run's sweep deletes it if this never succeeds
            outcome["delete_error"] = kube.short(exc)
            return outcome
        while time.monotonic() - started < DELETE_WAIT:
            try:
                custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name,
                                                    _request_timeout=10)
            except k8s.client.ApiException as exc:
                if exc.status == 404:
                    break
            except Exception:
                break
            time.sleep(0.1)
        outcome["teardown_seconds"] = round(time.monotonic() - started, 3)
        return outcome

    # -- leftovers ------------------------------------------------------------------------------
    def sweep(self) -> list[str]:
        """Delete InferenceServices whose owning run is gone (:func:`abandoned`).

        Without a cluster there is nothing to sweep (a deployment then says why it failed).
        """
        try:
            api = self.api()
        except DeployError:
            return []
        k8s = self.sdk()
        custom = k8s.client.CustomObjectsApi(api)
        try:
            found = custom.list_cluster_custom_object(GROUP, VERSION, PLURAL,
                                                      label_selector=LABEL_OWNER,
                                                      _request_timeout=30)
        except k8s.client.ApiException:  # no cluster-wide list right: the namespace only
            try:
                found = custom.list_namespaced_custom_object(
                    GROUP, VERSION, self.options.namespace or "default", PLURAL,
                    label_selector=LABEL_OWNER, _request_timeout=30)
            except Exception:
                return []
        removed = []
        for item in found.get("items", ()):
            meta = item.get("metadata", {})
            why = abandoned(meta.get("annotations") or {})
            if why is None or meta.get("deletionTimestamp"):
                continue
            result = self._delete(custom, meta["namespace"], meta["name"])
            if "delete_error" not in result:
                removed.append(f"InferenceService {meta['namespace']}/{meta['name']} (run "
                               f"{meta.get('labels', {}).get(LABEL_RUN, '?')}, {why})")
        return removed


def _refusal(exc: Any, namespace: str, name: str) -> str:
    reason = kube.api_reason(exc)
    text = f"the API server refused InferenceService {namespace}/{name}: {exc.status} {reason}"
    if exc.status == 403:
        text += (" (the runner needs create, get, list, watch, patch and delete on "
                 "inferenceservices.ome.io in this namespace; see docs/backends.md)")
    if exc.status == 404:
        text += f" (does namespace {namespace} exist? --autotune-ome-namespace)"
    return text


__all__ = ["OmeBackend", "OmeOptions", "PortForward", "relay"]
