"""Reading a cluster's answer: an InferenceService's conditions and its engine pods' status,
turned into what the run does next (wait, ready, infeasible, error).

Pure functions over the API's JSON (camelCase dicts), so every fault has a unit test without a
cluster; the backend feeds them what it reads from the API server.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .container import dead_owner, parse_owner
from .ome_manifest import ANNOTATION_HEARTBEAT, ANNOTATION_OWNER
from .wait import classify

#: a sweep deletes an InferenceService of another host whose heartbeat is older than this
STALE_AFTER = 15 * 60.0

#: waiting reasons of a container whose image cannot be had: waiting longer will not help
IMAGE_REASONS = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
                 "RegistryUnavailable")
#: waiting reasons of a container the kubelet cannot create as specified
CONFIG_REASONS = ("CreateContainerConfigError", "CreateContainerError", "RunContainerError")


@dataclass(frozen=True)
class Fault:
    """Why an engine will not become ready. ``kind``: ``unschedulable`` (the scheduler found no
    node; ``gpus`` says whether for want of GPUs), ``infeasible`` (the configuration does not
    fit: out of memory), or ``error`` (something to fix: image, crash, spec)."""

    kind: str
    message: str
    log_tail: str = ""
    gpus: bool = False


def condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or ():
        if isinstance(cond, Mapping) and cond.get("type") == kind:
            return cond
    return None


def is_ready(isvc: Mapping[str, Any]) -> bool:
    cond = condition(isvc, "Ready")
    return cond is not None and cond.get("status") == "True"


def service_url(isvc: Mapping[str, Any]) -> str | None:
    """The in-cluster URL OME publishes: ``status.url``, else ``status.address.url``."""
    status = isvc.get("status") or {}
    url = status.get("url") or (status.get("address") or {}).get("url")
    return str(url).rstrip("/") if url else None


def not_ready_reason(isvc: Mapping[str, Any]) -> str:
    """What the InferenceService's conditions say is missing, for timeout messages."""
    parts = []
    for cond in (isvc.get("status") or {}).get("conditions") or ():
        if isinstance(cond, Mapping) and cond.get("status") != "True":
            detail = ": ".join(str(cond[k]) for k in ("reason", "message") if cond.get(k))
            parts.append(f"{cond.get('type')}={cond.get('status')}"
                         + (f" ({detail})" if detail else ""))
    return "; ".join(parts) or "no conditions reported yet (is OME's controller running?)"


#: OME's verdicts on an InferenceService's model and runtime that waiting will not change
FATAL_TRANSITIONS = ("InvalidSpec", "BlockedByFailedLoad")


def spec_fault(isvc: Mapping[str, Any]) -> Fault | None:
    """OME rejected the InferenceService's model or runtime (``status.modelStatus``): no such
    base model, no runtime supports it, the model failed to load."""
    model = (isvc.get("status") or {}).get("modelStatus") or {}
    if model.get("transitionStatus") not in FATAL_TRANSITIONS:
        return None
    failure = model.get("lastFailureInfo") or {}
    reason = failure.get("reason") or model["transitionStatus"]
    message = failure.get("message") or ""
    hint = {
        "BaseModelNotFound": " (name an existing ClusterBaseModel in the case's ome.base_model)",
        "NoSupportingRuntime": " (name a runtime in the case's ome.runtime or "
                               "--autotune-ome-runtime)",
        "RuntimeDisabled": " (the runtime is disabled: choose another with ome.runtime)",
    }.get(str(reason), "")
    return Fault("error", f"OME cannot serve it: {reason}"
                          + (f": {message}" if message else "") + hint)


def _statuses(pod: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    status = pod.get("status") or {}
    yield from status.get("initContainerStatuses") or ()
    yield from status.get("containerStatuses") or ()


def termination_tail(pod: Mapping[str, Any]) -> str:
    """The last lines a crashed container left in its status (``FallbackToLogsOnError``)."""
    for cs in _statuses(pod):
        for key in ("state", "lastState"):
            terminated = (cs.get(key) or {}).get("terminated")
            if terminated and terminated.get("message"):
                return str(terminated["message"])
    return ""


def diagnose(pods: Sequence[Mapping[str, Any]], log_tail: str = "") -> Fault | None:
    """The first fault among an InferenceService's pods, or None while it may still come up.

    ``log_tail``: the engine's log, when the API server could give it (else the termination
    message in the pod status is used)."""
    for pod in pods:
        name = (pod.get("metadata") or {}).get("name", "?")
        scheduled = condition(pod, "PodScheduled")
        if scheduled is not None and scheduled.get("status") == "False" \
                and scheduled.get("reason") == "Unschedulable":
            message = str(scheduled.get("message") or "no node fits the pod")
            return Fault("unschedulable", f"pod {name} is unschedulable: {message}",
                         gpus="nvidia.com/gpu" in message)
        for cs in _statuses(pod):
            container = cs.get("name", "?")
            waiting = (cs.get("state") or {}).get("waiting") or {}
            reason = waiting.get("reason")
            if reason in IMAGE_REASONS:
                return Fault("error", f"pod {name}: container {container} cannot get its "
                                      f"image ({reason}: {waiting.get('message', '')})".rstrip())
            if reason in CONFIG_REASONS:
                return Fault("error", f"pod {name}: container {container} cannot be created "
                                      f"({reason}: {waiting.get('message', '')})".rstrip())
            for key in ("state", "lastState"):
                terminated = (cs.get(key) or {}).get("terminated")
                if not terminated or terminated.get("exitCode", 0) == 0:
                    continue
                tail = log_tail or str(terminated.get("message") or "")
                exit_code = terminated.get("exitCode")
                if terminated.get("reason") == "OOMKilled":
                    return Fault("infeasible",
                                 f"the engine was OOMKilled (pod {name}, exit code {exit_code}): "
                                 "the container's memory limit is too small for this "
                                 "configuration", log_tail=tail)
                found = classify(tail)
                if found is not None:
                    return Fault("infeasible", found, log_tail=tail)
                restarts = cs.get("restartCount", 0)
                crash = "CrashLoopBackOff" if reason == "CrashLoopBackOff" else \
                    f"{terminated.get('reason') or 'Error'}, exit code {exit_code}"
                return Fault("error", f"the engine crashed during start-up (pod {name}: {crash}"
                                      f", {restarts} restart(s))", log_tail=tail)
    return None


def describe_events(events: Sequence[Mapping[str, Any]], limit: int = 8) -> str:
    """The last events as ``Type Reason (object): message`` lines, newest last."""
    def when(event: Mapping[str, Any]) -> str:
        return str(event.get("lastTimestamp") or event.get("eventTime")
                   or (event.get("metadata") or {}).get("creationTimestamp") or "")

    lines = []
    for event in sorted(events, key=when)[-limit:]:
        obj = event.get("involvedObject") or {}
        lines.append(f"{event.get('type', '')} {event.get('reason', '')} "
                     f"({obj.get('kind', '')}/{obj.get('name', '')}): "
                     f"{event.get('message', '')}".strip())
    return "\n".join(lines)


def abandoned(annotations: Mapping[str, str], *, now: float | None = None) -> str | None:
    """Why an InferenceService's owning run is gone, or None while it may live: its pytest
    process ended on this host, or its heartbeat stopped (a run on another host: a CI pod gone
    with its runner) more than STALE_AFTER ago."""
    text = annotations.get(ANNOTATION_OWNER, "")
    owner = dead_owner(text)
    if owner is not None:
        return f"pytest pid {owner.pid} is gone"
    found = parse_owner(text)
    if found is None or found.host == socket.gethostname():
        return None  # a live process of this host (or no owner at all): never swept
    try:
        beat = datetime.strptime(annotations[ANNOTATION_HEARTBEAT], "%Y-%m-%dT%H:%M:%SZ")
    except (KeyError, ValueError):
        return None
    silent = (now if now is not None else time.time()) - \
        beat.replace(tzinfo=timezone.utc).timestamp()
    if silent <= STALE_AFTER:
        return None
    return f"owned by {found.host}, no heartbeat for {silent / 60:.0f} min"
