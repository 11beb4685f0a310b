"""ome mode without a cluster: the manifests it renders, how it reads pod status into outcomes,
its port-forward relay, ``--autotune-ome-render``, and its errors when no cluster answers.
The same paths against a real API server: tests/integration/test_ome_backend.py."""

from __future__ import annotations

import json
import shutil
import socket
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_autotune.backends.base import ServerSpec
from pytest_autotune.backends.ome import OmeBackend, OmeOptions, PortForward, relay
from pytest_autotune.backends.ome_manifest import (
    ANNOTATION_OWNER,
    LABEL_OWNER,
    MAX_NAME,
    base_model_name,
    isvc_name,
    label_value,
)
from pytest_autotune.backends.ome_status import diagnose, not_ready_reason, spec_fault
from pytest_autotune.cases.case import OmeSettings
from pytest_autotune.errors import DeployError
from pytest_autotune.values import Configuration

SEEDS = Path(__file__).resolve().parents[2] / "fixtures" / "seed"
GPU_MESSAGE = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."


def spec(**params: Any) -> ServerSpec:
    config = Configuration(case="chat-1b", params=tuple(params.items()))
    return ServerSpec(case="chat-1b", configuration=config,
                      model_path="meta-llama/Llama-3.2-1B-Instruct",
                      flags=tuple(params.items()), api_model_name="Llama-3.2-1B-Instruct",
                      gpus=int(params.get("tp-size", 1)))


@pytest.mark.parametrize("text", ["a" * 200, "host.example.com:1234:99", "-x-", "Ab_9.z"])
def test_label_values_are_valid_kubernetes_label_values(text: str) -> None:
    value = label_value(text)
    assert len(value) <= 63 and all(c.isalnum() or c in "-_." for c in value)
    assert value == "" or (value[0].isalnum() and value[-1].isalnum())


def test_long_label_values_stay_distinct() -> None:
    assert label_value("x" * 100 + "1") != label_value("x" * 100 + "2")


def test_names_fit_the_services_ome_derives() -> None:
    name = isvc_name("A_Very.Long-Case_Name" * 5, "0123456789abcdef", "20261206-040350-ab12")
    assert len(name) <= MAX_NAME and name.startswith("at-") and name.endswith("-ab12")
    assert all(c.islower() or c.isdigit() or c == "-" for c in name)
    assert len(name + "-decoder") <= 63


def test_base_model_names_follow_omes_catalogue() -> None:
    assert base_model_name("meta-llama/Llama-3.2-1B-Instruct") == "llama-3-2-1b-instruct"
    assert base_model_name("Qwen/Qwen3-8B/") == "qwen3-8b"


def test_the_manifest_adds_the_configuration_to_the_runtimes_engine() -> None:
    backend = OmeBackend(OmeOptions(namespace="tuning", runtime="srt-llama-3-2-1b-instruct"))
    body = backend.manifest(spec(**{"tp-size": 2, "mem-fraction-static": 0.8,
                                    "enable-torch-compile": True}),
                            run_id="20261206-040350-ab12",
                            labels={"pytest-autotune.case": "ignored", "app": "dropped"})
    assert body["apiVersion"] == "ome.io/v1beta1" and body["kind"] == "InferenceService"
    meta = body["metadata"]
    assert meta["namespace"] == "tuning"
    assert meta["labels"]["pytest-autotune.run"] == "20261206-040350-ab12"
    assert meta["labels"]["pytest-autotune.case"] == "chat-1b" and "app" not in meta["labels"]
    assert ":" not in meta["labels"][LABEL_OWNER]
    assert meta["annotations"][ANNOTATION_OWNER].count(":") == 2  # host:pid:start, in full
    runner = body["spec"]["engine"]["runner"]
    assert runner["name"] == "ome-container"  # merges into the runtime's runner by name
    assert runner["args"] == ["--tp-size", "2", "--mem-fraction-static", "0.8",
                              "--enable-torch-compile",
                              "--served-model-name", "Llama-3.2-1B-Instruct"]
    assert "command" not in runner  # the runtime's launch line stays; the flags come after it
    assert runner["resources"]["limits"] == {"nvidia.com/gpu": "2"}
    assert runner["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert body["spec"]["model"] == {"name": "llama-3-2-1b-instruct",
                                     "kind": "ClusterBaseModel", "apiGroup": "ome.io"}
    assert body["spec"]["runtime"]["name"] == "srt-llama-3-2-1b-instruct"


def test_without_a_runtime_ome_selects_one_and_the_case_may_name_its_model() -> None:
    case_spec = spec()
    case_spec = ServerSpec(**{**case_spec.__dict__, "ome": OmeSettings(
        base_model="my-llama", base_model_kind="BaseModel", namespace="team-a")})
    body = OmeBackend().manifest(case_spec, run_id="r-1")
    assert "runtime" not in body["spec"]
    assert body["spec"]["model"]["name"] == "my-llama"
    assert body["spec"]["model"]["kind"] == "BaseModel"
    assert body["metadata"]["namespace"] == "team-a"


def pod(*, conditions: list[dict[str, Any]] | None = None,
        statuses: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": "at-x-engine-1"},
            "status": {"conditions": conditions or [], "containerStatuses": statuses or []}}


def test_a_pod_the_scheduler_cannot_place_for_gpus() -> None:
    fault = diagnose([pod(conditions=[{"type": "PodScheduled", "status": "False",
                                       "reason": "Unschedulable", "message": GPU_MESSAGE}])])
    assert fault is not None and fault.kind == "unschedulable" and fault.gpus
    assert GPU_MESSAGE in fault.message


def test_an_image_that_cannot_be_pulled_is_an_error() -> None:
    fault = diagnose([pod(statuses=[{"name": "ome-container", "state": {"waiting": {
        "reason": "ImagePullBackOff", "message": "Back-off pulling image \"x\""}}}])])
    assert fault is not None and fault.kind == "error" and "ImagePullBackOff" in fault.message


def test_oom_killed_is_infeasible() -> None:
    fault = diagnose([pod(statuses=[{"name": "ome-container", "restartCount": 1,
                                     "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                                     "lastState": {"terminated": {"exitCode": 137,
                                                                  "reason": "OOMKilled"}}}])])
    assert fault is not None and fault.kind == "infeasible" and "OOMKilled" in fault.message


def test_a_crash_whose_log_shows_sglangs_memory_error_is_infeasible() -> None:
    log = "RuntimeError: Not enough memory. Please try to increase --mem-fraction-static."
    crashed = pod(statuses=[{"name": "ome-container", "restartCount": 2,
                             "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                             "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                                                          "message": log}}}])
    fault = diagnose([crashed])
    assert fault is not None and fault.kind == "infeasible" and fault.log_tail == log
    other = diagnose([pod(statuses=[{"name": "ome-container", "restartCount": 2,
                                     "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                                     "lastState": {"terminated": {
                                         "exitCode": 1, "message": "ImportError: no flash"}}}])])
    assert other is not None and other.kind == "error" and "CrashLoopBackOff" in other.message


def test_a_starting_pod_is_no_fault() -> None:
    assert diagnose([pod(statuses=[{"name": "ome-container",
                                    "state": {"running": {}}}])]) is None
    assert diagnose([]) is None


def test_omes_verdict_on_the_model_ends_the_wait() -> None:
    isvc = {"status": {"modelStatus": {"transitionStatus": "InvalidSpec", "lastFailureInfo": {
        "reason": "BaseModelNotFound", "message": "ClusterBaseModel llama-x not found"}},
        "conditions": [{"type": "Ready", "status": "False", "reason": "BaseModelNotFound"}]}}
    fault = spec_fault(isvc)
    assert fault is not None and "BaseModelNotFound" in fault.message
    assert "ome.base_model" in fault.message
    assert not_ready_reason(isvc) == "Ready=False (BaseModelNotFound)"
    assert spec_fault({"status": {"modelStatus": {"transitionStatus": "InProgress"}}}) is None


def test_the_relay_copies_both_ways_until_one_side_closes() -> None:
    client_side, local = socket.socketpair()
    remote, pod_side = socket.socketpair()
    closed = threading.Event()
    worker = threading.Thread(target=relay, args=(local, remote, closed), daemon=True)
    worker.start()
    client_side.sendall(b"GET /health HTTP/1.1\r\n\r\n")
    assert pod_side.recv(100) == b"GET /health HTTP/1.1\r\n\r\n"
    pod_side.sendall(b"HTTP/1.1 200 OK\r\n\r\n")
    assert client_side.recv(100) == b"HTTP/1.1 200 OK\r\n\r\n"
    pod_side.close()
    assert client_side.recv(100) == b""  # the pod's side closed: so does the local one
    worker.join(timeout=5)
    assert not worker.is_alive()
    client_side.close()


def test_render_writes_one_manifest_per_configuration_and_deploys_nothing(
        project: pytest.Pytester) -> None:
    project.makefile(".yaml", chat="""\
        name: chat
        model: {path: meta-llama/Llama-3.2-1B-Instruct}
        ome: {runtime: srt-llama-3-2-1b-instruct, namespace: tuning}
        parameters:
          tp-size: [1, 2]
          schedule-policy: [fcfs, lpm]
        workload: {scenarios: ["D(100,100)"], concurrency: [1, 8]}
    """)
    result = project.runpytest("chat.yaml", "--autotune-ome-render=out", "-p",
                               "no:cacheprovider")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*wrote 4 InferenceService manifest(s) of 1 case(s)*"
                                 "nothing was deployed*"])
    files = sorted((project.path / "out" / "chat").glob("*.yaml"))
    assert len(files) == 4
    docs = [yaml.safe_load(f.read_text()) for f in files]
    assert {d["metadata"]["namespace"] for d in docs} == {"tuning"}
    assert {tuple(d["spec"]["engine"]["runner"]["args"][:2]) for d in docs} == {
        ("--tp-size", "1"), ("--tp-size", "2")}
    assert all(LABEL_OWNER not in d["metadata"]["labels"] for d in docs)  # no run owns them
    assert not (project.path / "results").exists()


def test_render_fails_when_a_case_does_not_load(project: pytest.Pytester) -> None:
    """Exit 0 with "wrote 0 manifest(s)" would let a GitOps job publish nothing and pass."""
    project.makefile(".yaml", good="""\
        name: good
        model: {path: meta-llama/Llama-3.2-1B-Instruct}
        workload: {scenarios: ["D(100,100)"], concurrency: [1]}
    """, bad="""\
        name: bad
        model: {path: meta-llama/Llama-3.2-1B-Instruct}
        parameters: {schedule-policy: [fifo]}
        workload: {scenarios: ["D(100,100)"], concurrency: [1]}
    """)
    result = project.runpytest(".", "--autotune-ome-render=out", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*--autotune-ome-render: 1 collection error(s), no manifest "
                                 "written: bad.yaml: *invalid tuning case*schedule-policy*"])
    assert not (project.path / "out").exists()


def test_a_seed_ome_task_renders_in_its_namespace(project: pytest.Pytester) -> None:
    task = json.loads((SEEDS / "docker-simple-tune.json").read_text())
    task["deployment_mode"] = "ome"
    (project.path / "ome-task.json").write_text(json.dumps(task))
    result = project.runpytest("ome-task.json", "--autotune-ome-render=out", "-p",
                               "no:cacheprovider")
    assert result.ret == 0
    docs = [yaml.safe_load(f.read_text()) for f in (project.path / "out").rglob("*.yaml")]
    assert len(docs) == 2
    assert {d["metadata"]["namespace"] for d in docs} == {"autotuner"}  # model.namespace
    assert {d["spec"]["model"]["name"] for d in docs} == {"llama-3-2-1b-instruct"}


def test_bad_ome_options_name_the_option(project: pytest.Pytester) -> None:
    shutil.copy(SEEDS / "docker-simple-tune.json", project.path / "task.json")
    result = project.runpytest("task.json", "--autotune-ome-access=tunnel")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--autotune-ome-access*expected auto, port-forward or "
                                 "service*"])
    result = project.runpytest("task.json", "--autotune-ome-namespace=Team_A")
    result.stderr.fnmatch_lines(["*--autotune-ome-namespace*not a Kubernetes name*"])


def test_no_cluster_is_one_clear_error_per_configuration(project: pytest.Pytester) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    (project.path / "kubeconfig").write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "test",
        "clusters": [{"name": "c", "cluster": {"server": f"https://127.0.0.1:{port}",
                                               "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "test", "context": {"cluster": "c", "user": "u"}}]}))
    shutil.copy(SEEDS / "docker-simple-tune.json", project.path / "task.json")
    result = project.runpytest("task.json", "--autotune-mode=ome",
                               "--autotune-ome-kubeconfig=kubeconfig", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=4)
    result.stdout.fnmatch_lines([f"*no Kubernetes API server answers at https://127.0.0.1:{port}*"
                                 "kubeconfig kubeconfig*"])
    result.stdout.no_fnmatch_line("*Traceback*")


def test_max_parallel_bounds_the_inference_services_held_at_once(tmp_path: Path) -> None:
    backend = OmeBackend(OmeOptions(max_parallel=1, lock_dir=tmp_path))
    first = backend._slot(5.0, None, spec())
    assert first is not None
    notes: list[str] = []
    with pytest.raises(DeployError, match="no InferenceService slot came free in 1 s"):
        backend._slot(1.0, notes.append, spec())
    assert any("waiting for one of 1 InferenceService slots" in n for n in notes)
    first.release()
    again = backend._slot(1.0, None, spec())
    assert again is not None
    again.release()
    assert OmeBackend(OmeOptions(lock_dir=tmp_path))._slot(1.0, None, spec()) is None  # no bound


def test_access_follows_where_pytest_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_autotune.backends import kube

    monkeypatch.setattr(kube, "in_cluster", lambda: True)
    assert OmeBackend(OmeOptions())._access_mode() == "service"
    assert OmeBackend(OmeOptions(access="port-forward"))._access_mode() == "port-forward"
    assert OmeBackend(OmeOptions()).where() == "the in-cluster service account"
    monkeypatch.setattr(kube, "in_cluster", lambda: False)
    assert OmeBackend(OmeOptions())._access_mode() == "port-forward"


class LocalForward(PortForward):
    """A port-forward whose stream to the pod is a plain connection to a local server (the
    API server's pods/portforward needs a kubelet)."""

    def __init__(self, port: int) -> None:
        super().__init__(api=None, namespace="default", pod="at-x-engine-1", port=port)

    def open(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=5)


def test_port_forward_serves_http_through_its_local_port() -> None:
    import http.server
    import urllib.request

    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = self.path.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    forward = LocalForward(server.server_address[1])
    try:
        url = forward.start()
        for path in ("/health", "/v1/models"):  # one stream per connection
            with urllib.request.urlopen(url + path, timeout=5) as response:
                assert response.read() == path.encode()
    finally:
        forward.stop()
        server.shutdown()
        server.server_close()


def test_a_run_is_abandoned_when_its_process_or_its_heartbeat_is_gone() -> None:
    import subprocess
    import sys
    import time as clock

    from pytest_autotune.backends.container import owner_label
    from pytest_autotune.backends.ome_manifest import ANNOTATION_HEARTBEAT
    from pytest_autotune.backends.ome_status import abandoned

    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True).stdout.strip()
    here = socket.gethostname()
    now = clock.time()

    def beat(minutes_ago: float) -> str:
        return clock.strftime("%Y-%m-%dT%H:%M:%SZ", clock.gmtime(now - minutes_ago * 60))

    assert abandoned({ANNOTATION_OWNER: f"{here}:{ended}:1"}) == f"pytest pid {ended} is gone"
    assert abandoned({ANNOTATION_OWNER: owner_label(), ANNOTATION_HEARTBEAT: beat(60)}) is None
    other = "ci-runner-7f9c:41:1"
    assert abandoned({ANNOTATION_OWNER: other, ANNOTATION_HEARTBEAT: beat(20)}, now=now) == \
        "owned by ci-runner-7f9c, no heartbeat for 20 min"
    assert abandoned({ANNOTATION_OWNER: other, ANNOTATION_HEARTBEAT: beat(2)}, now=now) is None
    assert abandoned({ANNOTATION_OWNER: other}) is None  # no heartbeat: never judged
    assert abandoned({}) is None
