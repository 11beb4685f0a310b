"""What ``ome`` mode sends to the cluster: one OME ``InferenceService`` per configuration.

Pure functions (no cluster, no SDK), shared by the backend and ``--autotune-ome-render``.

How a configuration's SGLang flags reach the engine: the InferenceService names a serving
runtime (or lets OME select one) and adds the flags as ``engine.runner.args``. OME merges the
runtime's runner container with the InferenceService's (``MergeRuntimeContainers``): ``args``
are concatenated after the runtime's, and SGLang's runtimes put the whole ``launch_server`` line
in ``command``, so the configuration's flags come last and argparse lets the last occurrence of
a flag win. The runtime the cluster's owners maintain (image, model path, port, probes, metrics)
stays as it is; the run creates no cluster-scoped objects and needs no rights on runtimes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..runtimes import sglang
from .base import ServerSpec

GROUP = "ome.io"
VERSION = "v1beta1"
PLURAL = "inferenceservices"
KIND = "InferenceService"
API_VERSION = f"{GROUP}/{VERSION}"
#: OME's runner container name: the InferenceService's runner merges into the runtime's by it
RUNNER_NAME = "ome-container"
GPU_RESOURCE = "nvidia.com/gpu"
#: labels OME puts on the pods of an InferenceService's engine
POD_LABEL = "ome.io/inferenceservice"
COMPONENT_LABEL = "component"

LABEL_RUN = "pytest-autotune.run"
LABEL_CASE = "pytest-autotune.case"
LABEL_CONFIG = "pytest-autotune.config"
LABEL_OWNER = "pytest-autotune.owner"
#: the owner in full (``host:pid:start``; a label value cannot hold ':')
ANNOTATION_OWNER = "pytest-autotune.io/owner"
ANNOTATION_CONFIG = "pytest-autotune.io/configuration"
#: renewed by the owning run while it holds the InferenceService (UTC, RFC 3339): a run on
#: another host (a CI pod gone with its runner) is judged by it, not by its pid
ANNOTATION_HEARTBEAT = "pytest-autotune.io/heartbeat"
#: OME derives ``<name>-engine``, ``-router``, ``-decoder`` Services (63 characters at most)
MAX_NAME = 63 - len("-decoder")

_LABEL_VALUE = re.compile(r"[^A-Za-z0-9_.-]+")
_DNS = re.compile(r"[^a-z0-9-]+")


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def label_value(text: str) -> str:
    """``text`` as a Kubernetes label value: [A-Za-z0-9_.-], 63 at most, alphanumeric ends;
    a long value keeps its start and a hash of the whole, so distinct values stay distinct."""
    value = _LABEL_VALUE.sub("-", text).strip("-_.")
    if len(value) > 63:
        digest = hashlib.sha256(text.encode()).hexdigest()[:8]
        value = value[:54].rstrip("-_.") + "-" + digest
    return value


def dns_label(text: str) -> str:
    """``text`` in lower case with only letters, digits and '-' (a DNS-1035 label's alphabet)."""
    return re.sub(r"-+", "-", _DNS.sub("-", text.lower())).strip("-")


def base_model_name(model_path: str) -> str:
    """OME's ClusterBaseModel name for a model path, as OME's own catalogue names them:
    ``meta-llama/Llama-3.2-1B-Instruct`` → ``llama-3-2-1b-instruct``."""
    return dns_label(model_path.rstrip("/").split("/")[-1])[:63].strip("-") or "model"


def isvc_name(case: str, config_hash: str, run_id: str) -> str:
    """``at-<case>-<config hash>-<run suffix>``: unique per run and configuration, a DNS-1035
    label short enough for the Services OME derives from it."""
    run = dns_label(run_id.rsplit("-", 1)[-1])[:6] or "run"
    tail = f"-{config_hash[:10]}-{run}"
    slug = dns_label(case)[: MAX_NAME - len("at-") - len(tail)].strip("-") or "case"
    return f"at-{slug}{tail}"


@dataclass(frozen=True)
class OmeTarget:
    """Where and with what an InferenceService is created (options over the case's ``ome:``)."""

    namespace: str
    base_model: str
    base_model_kind: str = "ClusterBaseModel"
    runtime: str | None = None
    runtime_kind: str = "ClusterServingRuntime"

    @classmethod
    def of(cls, spec: ServerSpec, *, namespace: str | None = None,
           runtime: str | None = None) -> OmeTarget:
        ome = spec.ome
        return cls(
            namespace=namespace or ome.namespace or "default",
            base_model=ome.base_model or base_model_name(spec.model_path),
            base_model_kind=ome.base_model_kind,
            runtime=runtime or ome.runtime,
            runtime_kind=ome.runtime_kind,
        )


def engine_args(spec: ServerSpec) -> list[str]:
    """The flags appended to the runtime's ``launch_server`` line: the configuration's flags,
    the case's extra arguments, and the served model name clients will send."""
    args = sglang.flag_args(spec.flags) + list(spec.extra_args)
    name = spec.api_model_name or spec.served_name
    if name:
        args += ["--served-model-name", name]
    return args


def labels_for(spec: ServerSpec, run_id: str, owner: str | None,
               extra: Mapping[str, str] | None = None) -> dict[str, str]:
    labels = {k: label_value(v) for k, v in (extra or {}).items()
              if k.startswith("pytest-autotune.")}
    labels.update({
        LABEL_RUN: label_value(run_id),
        LABEL_CASE: label_value(spec.case),
        LABEL_CONFIG: label_value(spec.configuration.hash),
    })
    if owner is not None:
        labels[LABEL_OWNER] = label_value(owner)
    return labels


def inference_service(spec: ServerSpec, target: OmeTarget, *, name: str, run_id: str,
                      owner: str | None, labels: Mapping[str, str] | None = None,
                      image: str | None = None) -> dict[str, Any]:
    """The InferenceService manifest of one configuration (a plain dict, ready to send).

    ``owner``: the pytest process that deletes it (``host:pid:start``); None for a manifest
    rendered for review, which no run owns."""
    runner: dict[str, Any] = {
        "name": RUNNER_NAME,
        "args": engine_args(spec),
        # without a kubelet's logs API at hand, a crashed engine's last lines are still in the
        # pod's status (containerStatuses[].lastState.terminated.message)
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if image:
        runner["image"] = image
    if spec.gpus > 0:
        gpus = str(spec.gpus)
        runner["resources"] = {"requests": {GPU_RESOURCE: gpus}, "limits": {GPU_RESOURCE: gpus}}
    engine: dict[str, Any] = {"minReplicas": 1, "maxReplicas": 1, "runner": runner}
    body: dict[str, Any] = {
        "model": {"name": target.base_model, "kind": target.base_model_kind,
                  "apiGroup": GROUP},
        "engine": engine,
    }
    if target.runtime:
        body["runtime"] = {"name": target.runtime, "kind": target.runtime_kind,
                           "apiGroup": GROUP}
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": name,
            "namespace": target.namespace,
            "labels": labels_for(spec, run_id, owner, labels),
            "annotations": {
                **({ANNOTATION_OWNER: owner, ANNOTATION_HEARTBEAT: utc_now()}
                   if owner is not None else {}),
                ANNOTATION_CONFIG: spec.configuration.id,
            },
        },
        "spec": body,
    }


def display_argv(spec: ServerSpec) -> list[str]:
    """The engine's command line as the runtime will run it, for reports: OME's SGLang runtimes
    launch with ``--model-path $(MODEL_PATH) --host 0.0.0.0 --port 8080`` and their own flags;
    the configuration's flags come after them."""
    return sglang.launch_argv(model_path="$(MODEL_PATH)", host="0.0.0.0", port=8080,
                              flags=(), extra_args=engine_args(spec))


def render_yaml(manifest: Mapping[str, Any], *, case_source: str) -> str:
    """A manifest as a kubectl-apply-able YAML document, headed by where it came from."""
    import yaml

    meta = manifest["metadata"]
    header = (f"# pytest-autotune: {meta['annotations'][ANNOTATION_CONFIG]} of case "
              f"{meta['labels'][LABEL_CASE]} ({case_source})\n"
              f"# kubectl apply -f this file; kubectl delete -f it when done\n")
    return header + yaml.safe_dump(dict(manifest), sort_keys=False)
