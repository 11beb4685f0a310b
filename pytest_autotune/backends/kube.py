"""The Kubernetes API for ome mode: the official client (imported only when a cluster is
used), credentials from a kubeconfig or the pod's service account, and the API server's
refusals as messages that say what to do."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import DeployError


def in_cluster() -> bool:
    """pytest runs in a pod with a service account (and no kubeconfig was named)."""
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and Path(
        "/var/run/secrets/kubernetes.io/serviceaccount/token").exists()


def sdk() -> Any:
    try:
        import kubernetes
    except ImportError:
        raise DeployError("ome mode needs the Kubernetes client for Python: "
                          "pip install 'pytest-autotune[k8s]'") from None
    return kubernetes


def where(kubeconfig: str | None, context: str | None) -> str:
    """Where the credentials come from, for messages."""
    if kubeconfig or not in_cluster():
        path = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
        return f"kubeconfig {path}" + (f", context {context}" if context else "")
    return "the in-cluster service account"


def connect(kubeconfig: str | None, context: str | None, *, group: str, version: str) -> Any:
    """An ``ApiClient`` whose server answers and serves ``group/version``; DeployError says
    what is missing otherwise (credentials, the server, the CRDs)."""
    k8s = sdk()
    source = where(kubeconfig, context)
    try:
        if kubeconfig or not in_cluster():
            api = k8s.config.new_client_from_config(config_file=kubeconfig, context=context)
        else:
            configuration = k8s.client.Configuration()
            k8s.config.load_incluster_config(client_configuration=configuration)
            api = k8s.client.ApiClient(configuration)
    except Exception as exc:
        raise DeployError(
            f"cannot load the cluster's credentials from {source} ({short(exc)}): point "
            "--autotune-ome-kubeconfig (or KUBECONFIG) at a kubeconfig, choose its context with "
            "--autotune-ome-context, or run pytest in a pod with a service account") from None
    host = api.configuration.host
    try:
        k8s.client.CustomObjectsApi(api).get_api_resources(group, version, _request_timeout=30)
    except k8s.client.ApiException as exc:
        api.close()
        if exc.status == 404:
            raise DeployError(
                f"the cluster at {host} does not serve {group}/{version} InferenceServices: "
                "install OME (its CRDs and controller) first") from None
        raise DeployError(f"the cluster at {host} refused the API discovery of "
                          f"{group}/{version}: {exc.status} {api_reason(exc)}") from None
    except Exception as exc:
        api.close()
        raise DeployError(f"no Kubernetes API server answers at {host} ({short(exc)}), "
                          f"from {source}") from None
    return api


def api_reason(exc: Any) -> str:
    """The message of the API server's Status body, else the HTTP reason."""
    try:
        body = json.loads(exc.body)
        return str(body.get("message") or exc.reason)
    except Exception:
        return str(getattr(exc, "reason", "") or exc)


def short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) < 300 else text[:300] + "…"
