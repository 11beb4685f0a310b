"""What a test cluster lacks: OME's controller, the scheduler, the kubelet and the garbage
collector, played against a real API server so that ome mode can be tested end to end.

For each InferenceService it does what those components do, through the API only:
- OME: resolves the base model (its ``storage.path`` becomes ``$(MODEL_PATH)``) and the runtime
  (named, or the first enabled one), merges the runtime's runner with the InferenceService's as
  ``MergeRuntimeContainers`` does (``args`` concatenated, ``command`` and ``image`` replaced,
  ``resources`` merged key by key), creates the engine pod (labels
  ``ome.io/inferenceservice``, ``component=engine``), and keeps the InferenceService's
  conditions (``EngineReady``, ``IngressReady``, ``Ready``) and ``status.url`` up to date; an
  unknown base model gets ``modelStatus`` ``InvalidSpec``.
- the scheduler: places a pod when the node's ``nvidia.com/gpu`` are free, else marks it
  Unschedulable with the scheduler's own message, and retries as GPUs free.
- the kubelet: runs the engine's ``sglang.launch_server`` line as the simulator (same flags) on
  a local port, reports the container running / ready / terminated (with the log tail as the
  termination message, as ``FallbackToLogsOnError`` does), pulls only images it knows
  (others: ``ErrImagePull``), and OOM-kills a container whose memory limit is below 2Gi.
- the garbage collector: deletes an InferenceService's pods and lifts ``foregroundDeletion``.

``status.url`` is the simulator's local address: inside a cluster it would be the Service's DNS
name. A runtime annotated ``pytest-autotune.test/fault: never-ready`` runs but never answers.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kubernetes import client

GROUP, VERSION = "ome.io", "v1beta1"
KNOWN_IMAGES = ("docker.io/lmsysorg/sglang:v0.5.5.post3-cu129-amd64",)
FAULT_ANNOTATION = "pytest-autotune.test/fault"
SCHEDULER_MESSAGE = ("0/1 nodes are available: 1 Insufficient nvidia.com/gpu. preemption: 0/1 "
                     "nodes are available: 1 No preemption victims found for incoming pod.")
LAUNCHER = ("python3", "-m", "sglang.launch_server")


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def memory_bytes(quantity: str) -> float:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "K": 1e3, "M": 1e6, "G": 1e9}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return float(quantity[: -len(suffix)]) * factor
    return float(quantity)


@dataclass
class Engine:
    namespace: str
    isvc: str
    pod: str
    gpus: int
    command: list[str]
    memory_limit: str | None
    image: str
    fault: str | None
    scheduled: bool = False
    process: subprocess.Popen[bytes] | None = None
    port: int = 0
    log: Path | None = None
    ready: bool = False
    done: bool = False
    #: monotonic times: the pod was created, the engine process started, it answered /health
    created_at: float = field(default_factory=time.monotonic)
    started_at: float = 0.0
    healthy_at: float = 0.0
    notes: list[str] = field(default_factory=list)


class OmeHarness:
    """Plays OME's controller and one node (``gpus`` GPUs) for every InferenceService."""

    def __init__(self, api: client.ApiClient, workdir: Path, *, gpus: int = 8,
                 sim_gpu: str = "h100", startup_scale: float = 0.02, poll: float = 0.2) -> None:
        self.api = api
        # Any: the client's stubs want model objects; the harness speaks the API's JSON
        self.custom: Any = client.CustomObjectsApi(api)
        self.core: Any = client.CoreV1Api(api)
        self.workdir = workdir
        self.gpus = gpus
        self.sim_gpu = sim_gpu
        self.startup_scale = startup_scale
        self.poll = poll
        self.engines: dict[tuple[str, str], Engine] = {}
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None
        self.errors: list[str] = []
        #: every InferenceService (namespace, name) it has served
        self.seen: list[tuple[str, str]] = []
        #: the engines of deleted InferenceServices, for their timings
        self.finished: list[Engine] = []

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> OmeHarness:
        self.thread = threading.Thread(target=self._loop, daemon=True, name="ome-harness")
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        if self.thread is not None:
            self.thread.join(timeout=10)
        for engine in list(self.engines.values()):
            self._kill(engine)

    def __enter__(self) -> OmeHarness:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _loop(self) -> None:
        while not self.stopped.is_set():
            try:
                self.reconcile()
            except Exception as exc:  # the harness keeps playing; tests read what failed
                self.errors.append(repr(exc))
            self.stopped.wait(self.poll)

    # -- one pass -------------------------------------------------------------------------------
    def reconcile(self) -> None:
        items = self.custom.list_cluster_custom_object(
            GROUP, VERSION, "inferenceservices")["items"]
        live = set()
        for isvc in items:
            name = (isvc["metadata"]["namespace"], isvc["metadata"]["name"])
            if isvc["metadata"].get("deletionTimestamp"):
                self._collect(isvc)
                continue
            live.add(name)
            engine = self.engines.get(name)
            if engine is None:
                engine = self._admit(isvc)
                if engine is None:
                    continue
            self._advance(isvc, engine)
        for name in set(self.engines) - live:
            self._kill(self.engines.pop(name))

    def _admit(self, isvc: dict[str, Any]) -> Engine | None:
        """OME's reconcile: base model + runtime → the engine pod."""
        namespace, name = isvc["metadata"]["namespace"], isvc["metadata"]["name"]
        spec = isvc["spec"]
        model_ref = spec["model"]
        try:
            model = self._get_model(namespace, model_ref)
        except client.ApiException as exc:
            if exc.status != 404:
                raise
            self._patch_isvc_status(isvc, {
                "modelStatus": {"transitionStatus": "InvalidSpec", "lastFailureInfo": {
                    "reason": "BaseModelNotFound",
                    "message": f"{model_ref.get('kind', 'ClusterBaseModel')} "
                               f"{model_ref['name']} not found"}},
                "conditions": [self._cond("Ready", "False", "BaseModelNotFound")]})
            self.engines[namespace, name] = Engine(namespace, name, "", 0, [], None, "", None,
                                                   done=True)
            return None
        runtime = self._get_runtime(namespace, spec.get("runtime"))
        runner = dict(runtime["spec"]["engineConfig"]["runner"])
        mine = (spec.get("engine") or {}).get("runner") or {}
        merged = {**runner, **{k: v for k, v in mine.items() if k != "args"}}
        merged["args"] = list(runner.get("args") or []) + list(mine.get("args") or [])
        # a strategic merge patch merges maps key by key: the GPUs asked for, the runtime's memory
        theirs, ours = runner.get("resources") or {}, mine.get("resources") or {}
        merged["resources"] = {
            key: {name: str(q) for name, q in {**(theirs.get(key) or {}),
                                                **(ours.get(key) or {})}.items()}
            for key in ("requests", "limits") if key in theirs or key in ours}
        model_path = model["spec"]["storage"]["path"]
        command = [part.replace("$(MODEL_PATH)", model_path)
                   for part in [*merged.get("command", []), *merged["args"]]]
        resources = merged.get("resources") or {}
        limits = resources.get("limits") or {}
        gpus = int(str((resources.get("requests") or limits).get("nvidia.com/gpu", 0)))
        pod_name = f"{name}-engine-{secrets.token_hex(3)}"
        container = {"name": merged.get("name", "ome-container"), "image": merged["image"],
                     "command": merged.get("command", []), "args": merged["args"],
                     "ports": merged.get("ports") or [{"containerPort": 8080}],
                     "resources": resources,
                     "terminationMessagePolicy": merged.get("terminationMessagePolicy",
                                                            "File")}
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": pod_name, "namespace": namespace,
                            "labels": {"ome.io/inferenceservice": name, "component": "engine"},
                            "ownerReferences": [{
                                "apiVersion": f"{GROUP}/{VERSION}", "kind": "InferenceService",
                                "name": name, "uid": isvc["metadata"]["uid"]}]},
               "spec": {"containers": [container]}}
        self.core.create_namespaced_pod(namespace, pod)
        fault = (runtime["metadata"].get("annotations") or {}).get(FAULT_ANNOTATION)
        engine = Engine(namespace, name, pod_name, gpus, command, limits.get("memory"),
                        merged["image"], fault)
        self.engines[namespace, name] = engine
        self.seen.append((namespace, name))
        self._patch_isvc_status(isvc, {"conditions": [
            self._cond("IngressReady", "True", "IngressDisabled"),
            self._cond("EngineReady", "False", "Deploying"),
            self._cond("Ready", "False", "EngineNotReady")]})
        return engine

    def _advance(self, isvc: dict[str, Any], engine: Engine) -> None:
        if engine.done:
            return
        if not engine.scheduled:
            used = sum(e.gpus for e in self.engines.values() if e.scheduled and not e.done)
            if engine.gpus > self.gpus - used:
                if "unschedulable" not in engine.notes:
                    engine.notes.append("unschedulable")
                    self._pod_status(engine, {"phase": "Pending", "conditions": [
                        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                         "message": SCHEDULER_MESSAGE, "lastTransitionTime": now()}]})
                    self._event(engine,  "Warning", "FailedScheduling",
                                SCHEDULER_MESSAGE)
                return
            engine.scheduled = True
            self._event(engine,  "Normal", "Scheduled",
                        f"Successfully assigned {engine.namespace}/{engine.pod} to node-0")
            if engine.image not in KNOWN_IMAGES:
                message = (f'failed to pull and unpack image "{engine.image}": failed to '
                           "resolve reference: not found")
                self._pod_status(engine, {"phase": "Pending", "conditions": [
                    {"type": "PodScheduled", "status": "True"}], "containerStatuses": [
                    self._cstatus(False, {"waiting": {"reason": "ErrImagePull",
                                                      "message": message}})]})
                self._event(engine,  "Warning", "Failed", message)
                engine.done = True
                return
            self._start(engine)
            return
        if engine.process is None:
            return
        code = engine.process.poll()
        # the engine's memory grows as it loads the model: it is killed once it has logged its
        # start (a process killed before it wrote a line would leave no log to diagnose)
        if engine.memory_limit and memory_bytes(engine.memory_limit) < 2 * 2**30 \
                and code is None and engine.log is not None and engine.log.exists() \
                and engine.log.stat().st_size > 0:
            engine.process.kill()
            engine.process.wait()
            self._terminated(isvc, engine, 137, "OOMKilled")
            return
        if code is not None:
            self._terminated(isvc, engine, code, "Error")
            return
        if not engine.ready and engine.fault != "never-ready" and self._healthy(engine):
            engine.ready = True
            engine.healthy_at = time.monotonic()
            self._pod_status(engine, {"phase": "Running", "conditions": [
                {"type": "PodScheduled", "status": "True"},
                {"type": "Ready", "status": "True"}], "containerStatuses": [
                self._cstatus(True, {"running": {"startedAt": now()}})]})
            url = f"http://127.0.0.1:{engine.port}"
            self._patch_isvc_status(isvc, {
                "url": url, "address": {"url": url},
                "components": {"engine": {"url": url, "latestReadyRevision": engine.pod}},
                "modelStatus": {"transitionStatus": "UpToDate"},
                "conditions": [self._cond("IngressReady", "True", "IngressDisabled"),
                               self._cond("EngineReady", "True"),
                               self._cond("Ready", "True")]})

    def _start(self, engine: Engine) -> None:
        argv = list(engine.command)
        if tuple(argv[:3]) != LAUNCHER:
            raise ValueError(f"not an SGLang launch line: {argv[:3]}")
        argv = argv[3:]
        engine.port = free_port()
        argv = _set_flag(argv, "--port", str(engine.port))
        argv = _set_flag(argv, "--host", "127.0.0.1")
        engine.log = self.workdir / f"{engine.pod}.log"
        command = [sys.executable, "-m", "pytest_autotune.sim", *argv,
                   "--sim-gpu", self.sim_gpu, "--sim-gpus-available", str(max(engine.gpus, 1)),
                   "--sim-startup-scale", str(self.startup_scale), "--sim-seed", "7"]
        engine.started_at = time.monotonic()
        with open(engine.log, "wb") as log:
            engine.process = subprocess.Popen(  # noqa: S603 - argv list
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        self._pod_status(engine, {"phase": "Running", "conditions": [
            {"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "False"}],
            "containerStatuses": [self._cstatus(False, {"running": {"startedAt": now()}})]})
        self._event(engine,  "Normal", "Started", "Started container ome-container")

    def _terminated(self, isvc: dict[str, Any], engine: Engine, code: int, reason: str) -> None:
        tail = ""
        if engine.log is not None and engine.log.exists():
            tail = "".join(engine.log.read_text(errors="replace").splitlines(True)[-80:])
        terminated = {"exitCode": code, "reason": reason, "finishedAt": now()}
        if tail and engine.fault != "no-termination-message":
            terminated["message"] = tail[-4000:]  # the kubelet keeps the last 4 KiB / 80 lines
        self._pod_status(engine, {"phase": "Running", "containerStatuses": [self._cstatus(
            False, {"waiting": {"reason": "CrashLoopBackOff",
                                "message": "back-off 10s restarting failed container"}},
            last={"terminated": terminated}, restarts=1)]})
        self._event(engine,  "Warning", "BackOff",
                    "Back-off restarting failed container ome-container")
        self._patch_isvc_status(isvc, {"conditions": [
            self._cond("IngressReady", "True", "IngressDisabled"),
            self._cond("EngineReady", "False", "CrashLoopBackOff"),
            self._cond("Ready", "False", "EngineNotReady")]})
        engine.done = True

    def _collect(self, isvc: dict[str, Any]) -> None:
        """The garbage collector: dependents first, then the finalizer."""
        namespace, name = isvc["metadata"]["namespace"], isvc["metadata"]["name"]
        engine = self.engines.pop((namespace, name), None)
        if engine is not None:
            self._kill(engine)
            self.finished.append(engine)
        pods = self.core.list_namespaced_pod(namespace,
                                             label_selector=f"ome.io/inferenceservice={name}")
        for pod in pods.items:
            with contextlib.suppress(client.ApiException):
                self.core.delete_namespaced_pod(pod.metadata.name, namespace,
                                                grace_period_seconds=0)
        if isvc["metadata"].get("finalizers"):
            with contextlib.suppress(client.ApiException):
                self.custom.patch_namespaced_custom_object(
                    GROUP, VERSION, namespace, "inferenceservices", name,
                    {"metadata": {"finalizers": None}})

    def _kill(self, engine: Engine) -> None:
        process = engine.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        engine.scheduled = False
        engine.done = True

    # -- API helpers ----------------------------------------------------------------------------
    def _get_model(self, namespace: str, ref: dict[str, Any]) -> Any:
        if ref.get("kind") == "BaseModel":
            return self.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, "basemodels", ref["name"])
        return self.custom.get_cluster_custom_object(
            GROUP, VERSION, "clusterbasemodels", ref["name"])

    def _get_runtime(self, namespace: str, ref: dict[str, Any] | None) -> Any:
        if ref is None:  # OME's automatic selection, reduced: the first enabled runtime
            items = self.custom.list_cluster_custom_object(
                GROUP, VERSION, "clusterservingruntimes")["items"]
            enabled = [r for r in items if not r["spec"].get("disabled")
                       and FAULT_ANNOTATION not in (r["metadata"].get("annotations") or {})]
            return enabled[0]
        if ref.get("kind") == "ServingRuntime":
            return self.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, "servingruntimes", ref["name"])
        return self.custom.get_cluster_custom_object(
            GROUP, VERSION, "clusterservingruntimes", ref["name"])

    def _patch_isvc_status(self, isvc: dict[str, Any], status: dict[str, Any]) -> None:
        with contextlib.suppress(client.ApiException):
            self.custom.patch_namespaced_custom_object_status(
                GROUP, VERSION, isvc["metadata"]["namespace"], "inferenceservices",
                isvc["metadata"]["name"],
                {"status": {"observedGeneration": isvc["metadata"].get("generation", 1),
                            **status}})

    def _pod_status(self, engine: Engine, status: dict[str, Any]) -> None:
        with contextlib.suppress(client.ApiException):
            self.core.patch_namespaced_pod_status(engine.pod, engine.namespace,
                                                  {"status": status})

    def _event(self, engine: Engine, type_: str, reason: str, message: str) -> None:
        """An event about the engine's pod, as the scheduler and the kubelet record them."""
        namespace, obj = engine.namespace, engine.pod
        event = {"apiVersion": "v1", "kind": "Event",
                 "metadata": {"name": f"{obj}.{secrets.token_hex(6)}",
                              "namespace": namespace},
                 "involvedObject": {"kind": "Pod", "name": obj, "namespace": namespace},
                 "type": type_, "reason": reason, "message": message,
                 "firstTimestamp": now(), "lastTimestamp": now(), "count": 1,
                 "source": {"component": "ome-harness"}}
        with contextlib.suppress(client.ApiException):
            self.core.create_namespaced_event(namespace, event)

    @staticmethod
    def _cond(kind: str, status: str, reason: str = "") -> dict[str, Any]:
        cond = {"type": kind, "status": status, "lastTransitionTime": now()}
        if reason:
            cond["reason"] = reason
        return cond

    @staticmethod
    def _cstatus(ready: bool, state: dict[str, Any], *, last: dict[str, Any] | None = None,
                 restarts: int = 0) -> dict[str, Any]:
        status = {"name": "ome-container", "ready": ready, "restartCount": restarts,
                  "image": KNOWN_IMAGES[0], "imageID": "", "state": state}
        if last is not None:
            status["lastState"] = last
        return status

    @staticmethod
    def _healthy(engine: Engine) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{engine.port}/health",
                                        timeout=1) as response:
                return int(response.status) == 200
        except OSError:
            return False


def _set_flag(argv: list[str], flag: str, value: str) -> list[str]:
    """``argv`` with every ``flag`` given ``value`` (appended when absent)."""
    out, i, found = [], 0, False
    while i < len(argv):
        if argv[i] == flag and i + 1 < len(argv):
            out += [flag, value]
            i += 2
            found = True
            continue
        out.append(argv[i])
        i += 1
    return out if found else [*out, flag, value]
