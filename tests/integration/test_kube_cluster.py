"""The test Kubernetes API server (tests/kube) is a real one: OME's CRDs validate, the status
subresource, watch, server-side dry-run, core/v1 pods and authentication behave as in a cluster.

The server is built from Debian sid's Go sources by scripts/ensure-kube-apiserver on first use
(about 2–6 minutes, cached afterwards) and started once for this module, with OME's six CRDs
(about 10 s to establish).
"""

from __future__ import annotations

import copy
import queue
import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.kube.cluster import CRD_DIR, SAMPLES_DIR, KubeCluster, ensure_binaries

kubernetes = pytest.importorskip("kubernetes")
from kubernetes import client, dynamic, watch  # noqa: E402
from kubernetes.client.exceptions import ApiException  # noqa: E402

# Any: the client's annotations want model objects; these tests speak the API's JSON
Watch: Any = watch.Watch
DynamicClient: Any = dynamic.DynamicClient

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GROUP, VERSION, ISVCS = "ome.io", "v1beta1", "inferenceservices"
ISVC_SAMPLE = SAMPLES_DIR / "isvc-llama-3-2-1b-instruct.yaml"
RUNTIME_SAMPLE = SAMPLES_DIR / "llama-3-2-1b-instruct-rt.yaml"
MODEL_SAMPLE = SAMPLES_DIR / "Llama-3.2-1B-Instruct.yaml"


def load(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        doc: dict[str, Any] = yaml.safe_load(handle)
    return doc


@pytest.fixture(scope="module")
def cluster() -> Iterator[KubeCluster]:
    binaries = ensure_binaries()
    with KubeCluster(binaries, crd_dir=CRD_DIR) as started:
        yield started


@pytest.fixture(scope="module")
def api(cluster: KubeCluster) -> Iterator[Any]:
    with cluster.api_client() as api_client:
        yield api_client


@pytest.fixture
def namespace(api: Any) -> str:
    """A fresh namespace (no namespace controller runs: it is never emptied, only unique)."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    core_api(api).create_namespace({"metadata": {"name": name}})
    return name


def custom_api(api: Any) -> Any:
    return client.CustomObjectsApi(api)


def core_api(api: Any) -> Any:
    return client.CoreV1Api(api)


def isvc(name: str, namespace: str) -> dict[str, Any]:
    doc = copy.deepcopy(load(ISVC_SAMPLE))
    doc["metadata"] = {"name": name, "namespace": namespace}
    return doc


def test_ome_sample_inference_service_is_created(api: Any) -> None:
    doc = load(ISVC_SAMPLE)
    ns = doc["metadata"]["namespace"]
    core_api(api).create_namespace({"metadata": {"name": ns}})
    custom = custom_api(api)
    created = custom.create_namespaced_custom_object(GROUP, VERSION, ns, ISVCS, doc)
    assert created["metadata"]["uid"]
    assert created["metadata"]["generation"] == 1
    # the schema's defaults are applied, as OME's API server would
    assert created["spec"]["model"] == {
        "name": "llama-3-2-1b-instruct", "apiGroup": "ome.io", "kind": "ClusterBaseModel"}
    assert created["spec"]["runtime"]["kind"] == "ClusterServingRuntime"
    found = custom.get_namespaced_custom_object(GROUP, VERSION, ns, ISVCS, doc["metadata"]["name"])
    assert found["spec"]["engine"] == {"minReplicas": 1, "maxReplicas": 1}


def test_unknown_fields_are_pruned(api: Any, namespace: str) -> None:
    doc = isvc("pruned", namespace)
    doc["spec"]["notAnOmeField"] = {"x": 1}
    doc["spec"]["engine"]["alsoUnknown"] = True
    created = custom_api(api).create_namespaced_custom_object(
        GROUP, VERSION, namespace, ISVCS, doc)
    assert "notAnOmeField" not in created["spec"]
    assert created["spec"]["engine"] == {"minReplicas": 1, "maxReplicas": 1}


def test_schema_validation_rejects_a_bad_inference_service(api: Any, namespace: str) -> None:
    doc = isvc("bad", namespace)
    doc["spec"]["engine"] = {"minReplicas": "one"}
    with pytest.raises(ApiException) as raised:
        custom_api(api).create_namespaced_custom_object(
            GROUP, VERSION, namespace, ISVCS, doc)
    assert raised.value.status == 422
    assert "spec.engine.minReplicas" in str(raised.value.body)
    # a required field missing is rejected too
    doc = isvc("no-model", namespace)
    del doc["spec"]["model"]["name"]
    with pytest.raises(ApiException) as raised:
        custom_api(api).create_namespaced_custom_object(
            GROUP, VERSION, namespace, ISVCS, doc)
    assert raised.value.status == 422
    assert "spec.model.name" in str(raised.value.body)


def test_status_only_through_the_status_subresource(api: Any, namespace: str) -> None:
    custom = custom_api(api)
    doc = isvc("status", namespace)
    doc["status"] = {"url": "http://ignored"}
    created = custom.create_namespaced_custom_object(GROUP, VERSION, namespace, ISVCS, doc)
    assert "status" not in created or "url" not in created["status"]

    ready = {"status": {"url": "http://status.example", "conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": "2025-01-01T00:00:00Z"}]}}
    # status sent to the main resource is ignored ...
    patched = custom.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, ISVCS, "status", ready,
        _content_type="application/merge-patch+json")
    assert "url" not in (patched.get("status") or {})
    # ... and the /status subresource sets it, without bumping the generation
    patched = custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, ISVCS, "status", ready,
        _content_type="application/merge-patch+json")
    assert patched["status"]["url"] == "http://status.example"
    assert patched["status"]["conditions"][0]["type"] == "Ready"
    assert patched["metadata"]["generation"] == 1
    # a spec change bumps the generation; spec sent to /status is ignored
    patched = custom.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, ISVCS, "status", {"spec": {"engine": {"maxReplicas": 2}}},
        _content_type="application/merge-patch+json")
    assert patched["metadata"]["generation"] == 2
    patched = custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, ISVCS, "status", {"spec": {"engine": {"maxReplicas": 9}}},
        _content_type="application/merge-patch+json")
    assert patched["spec"]["engine"]["maxReplicas"] == 2
    assert patched["status"]["url"] == "http://status.example"


def test_a_watch_sees_an_update(api: Any, namespace: str) -> None:
    custom = custom_api(api)
    created = custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, ISVCS, isvc("watched", namespace))
    since = created["metadata"]["resourceVersion"]
    events: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
    watcher = Watch()

    def follow() -> None:
        try:
            for event in watcher.stream(custom.list_namespaced_custom_object, GROUP, VERSION,
                                        namespace, ISVCS, resource_version=since,
                                        timeout_seconds=5):
                events.put((event["type"], event["object"]))
                watcher.stop()
        except Exception as exc:  # reported by the assertions below
            events.put(("ERROR", {"error": repr(exc)}))

    # the watch starts from the version before the update: it sees it even if it connects late
    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    try:
        custom.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, ISVCS, "watched",
            {"metadata": {"labels": {"tuned": "yes"}}},
            _content_type="application/merge-patch+json")
        kind, obj = events.get(timeout=20)
        assert kind == "MODIFIED", obj
        assert obj["metadata"]["name"] == "watched"
        assert obj["metadata"]["labels"] == {"tuned": "yes"}
    finally:
        watcher.stop()
        thread.join(timeout=15)
    # label selectors select
    selected = custom.list_namespaced_custom_object(
        GROUP, VERSION, namespace, ISVCS, label_selector="tuned=yes")["items"]
    assert [item["metadata"]["name"] for item in selected] == ["watched"]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_server_side_dry_run_creates_nothing(cluster: KubeCluster, api: Any) -> None:
    applied = cluster.kubectl("apply", "--dry-run=server", "-f", str(RUNTIME_SAMPLE),
                              "-f", str(MODEL_SAMPLE), check=False)
    assert applied.returncode == 0, applied.stderr
    assert "(server dry run)" in applied.stdout
    custom = custom_api(api)
    for plural, path in (("clusterservingruntimes", RUNTIME_SAMPLE),
                         ("clusterbasemodels", MODEL_SAMPLE)):
        with pytest.raises(ApiException) as raised:
            custom.get_cluster_custom_object(GROUP, VERSION, plural, load(path)["metadata"]["name"])
        assert raised.value.status == 404
    # the server validates in a dry run as well
    bad = load(RUNTIME_SAMPLE)
    bad["spec"]["disabled"] = "nope"
    rejected = cluster.kubectl("apply", "--dry-run=server", "-f", "-", check=False,
                               input_text=yaml.safe_dump(bad))
    assert rejected.returncode != 0
    assert "spec.disabled" in rejected.stderr


def test_pod_status_is_set_through_its_subresource(api: Any, namespace: str) -> None:
    core = core_api(api)
    pod = {"metadata": {"name": "engine-0", "labels": {"component": "engine"}},
           "spec": {"containers": [{"name": "engine", "image": "sglang:test"}]},
           "status": {"phase": "Running"}}
    created = core.create_namespaced_pod(namespace, pod)
    assert created.status.phase == "Pending"  # status is not the client's to set
    core.patch_namespaced_pod_status("engine-0", namespace, {"status": {
        "phase": "Running", "podIP": "127.0.0.1",
        "conditions": [{"type": "Ready", "status": "True"}]}})
    found = core.read_namespaced_pod("engine-0", namespace)
    assert found.status.phase == "Running"
    assert found.status.pod_ip == "127.0.0.1"
    assert found.spec.containers[0].image == "sglang:test"
    running = core.list_namespaced_pod(namespace, label_selector="component=engine",
                                       field_selector="status.phase=Running")
    assert [p.metadata.name for p in running.items] == ["engine-0"]
    core.delete_namespaced_pod("engine-0", namespace)
    assert core.list_namespaced_pod(namespace).items == []


def test_requests_need_the_token(cluster: KubeCluster) -> None:
    assert cluster.request("GET", "/api/v1/namespaces", token=None)[0] == 401
    assert cluster.request("GET", "/api/v1/namespaces", token="wrong")[0] == 401
    assert cluster.request("GET", "/readyz", token=None)[0] == 401
    status, found = cluster.request("GET", "/api/v1/namespaces/default")
    assert status == 200
    assert found["metadata"]["name"] == "default"


def test_discovery_answers_the_python_client(api: Any) -> None:
    """The Python client asks for /api/, /apis/ and /version/ (trailing slashes)."""
    apis: Any = client.ApisApi(api)
    core: Any = client.CoreApi(api)
    version: Any = client.VersionApi(api)
    assert {"apiextensions.k8s.io", GROUP} <= {g.name for g in apis.get_api_versions().groups}
    assert core.get_api_versions().versions == ["v1"]
    assert version.get_code().git_version.startswith("v1.")
    resource = DynamicClient(api).resources.get(api_version=f"{GROUP}/{VERSION}",
                                                kind="InferenceService")
    assert resource.namespaced and resource.name == ISVCS
