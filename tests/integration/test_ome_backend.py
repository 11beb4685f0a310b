"""ome mode against a real Kubernetes API server (etcd + the real apiextensions-apiserver serving
OME's full CRDs, tests/kube), with tests/kube/ome_harness.py playing what the test cluster lacks:
OME's controller, the scheduler, the kubelet (which runs the simulator) and the garbage collector.

What is end to end here: every object the backend sends passes the server's full-schema
validation; the watch, labels, status, events, deletion with foreground propagation, the sweep
and the Service URL (``--autotune-ome-access=service``) are real API traffic. What is not:
port-forward and ``pods/log`` need a kubelet, which this cluster does not have — the relay is
unit-tested (tests/plugin/test_ome.py), and the log tail comes from the pod status's termination
message, which the harness fills as a kubelet does with ``FallbackToLogsOnError``.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_autotune.backends.base import DeployContext, ServerSpec
from pytest_autotune.backends.ome import OmeBackend, OmeOptions
from pytest_autotune.backends.ome_manifest import ANNOTATION_HEARTBEAT, ANNOTATION_OWNER
from pytest_autotune.cases.case import OmeSettings
from pytest_autotune.errors import DeployError, Infeasible, ReadinessTimeout
from pytest_autotune.values import Configuration

from ..kube.cluster import CRD_DIR, SAMPLES_DIR, KubeCluster, KubeClusterError, ensure_binaries
from ..kube.ome_harness import FAULT_ANNOTATION, OmeHarness
from ..polling import wait_for
from ..standin import STANDIN_CONFTEST
from .harness import ROOT, processes

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.kube]

RUNTIME = "srt-llama-3-2-1b-instruct"
MODEL = "meta-llama/Llama-3.2-1B-Instruct"
SEED = ROOT / "fixtures" / "seed" / "docker-simple-tune.json"
G, V = "ome.io", "v1beta1"


@dataclass
class Ome:
    cluster: KubeCluster
    api: Any
    custom: Any
    core: Any
    harness: OmeHarness

    def isvcs(self, **labels: str) -> list[dict[str, Any]]:
        selector = ",".join(f"pytest-autotune.{k}={v}" for k, v in labels.items())
        found = self.custom.list_cluster_custom_object(G, V, "inferenceservices",
                                                       label_selector=selector)
        return list(found["items"])

    def pods(self, namespace: str = "default") -> list[str]:
        return [p.metadata.name for p in self.core.list_namespaced_pod(namespace).items]

    def options(self, **kwargs: Any) -> OmeOptions:
        return OmeOptions(kubeconfig=str(self.cluster.kubeconfig), access="service",
                          runtime=RUNTIME, poll=0.2, **kwargs)


def runtime_variant(sample: dict[str, Any], name: str, *, memory: str | None = None,
                    fault: str | None = None) -> dict[str, Any]:
    runtime = copy.deepcopy(sample)
    runtime["metadata"] = {"name": name}
    if fault:
        runtime["metadata"]["annotations"] = {FAULT_ANNOTATION: fault}
    if memory:
        resources = runtime["spec"]["engineConfig"]["runner"]["resources"]
        resources["limits"]["memory"] = resources["requests"]["memory"] = memory
    return runtime


@pytest.fixture(scope="session")
def ome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ome]:
    """The test cluster with OME's CRDs, the sample base model and runtimes, and the harness."""
    try:
        binaries = ensure_binaries()
    except KubeClusterError as exc:  # a failure to build is this tier's failure, not a skip
        pytest.fail(f"the test Kubernetes API server could not be built: {exc}")
    with ExitStack() as stack:
        cluster = stack.enter_context(KubeCluster(binaries, crd_dir=CRD_DIR))
        api = cluster.api_client()
        stack.callback(api.close)
        from kubernetes import client

        custom: Any = client.CustomObjectsApi(api)
        core: Any = client.CoreV1Api(api)
        model = yaml.safe_load((SAMPLES_DIR / "Llama-3.2-1B-Instruct.yaml").read_text())
        custom.create_cluster_custom_object(G, V, "clusterbasemodels", model)
        sample = yaml.safe_load((SAMPLES_DIR / "llama-3-2-1b-instruct-rt.yaml").read_text())
        for runtime in (sample, runtime_variant(sample, "srt-tiny-memory", memory="1Gi"),
                        runtime_variant(sample, "srt-never-ready", fault="never-ready")):
            custom.create_cluster_custom_object(G, V, "clusterservingruntimes", runtime)
        core.create_namespace({"metadata": {"name": "autotuner"}})
        harness = OmeHarness(api, tmp_path_factory.mktemp("ome-harness"))
        stack.enter_context(harness)
        yield Ome(cluster, api, custom, core, harness)
        assert harness.errors == []


def spec(case: str, **params: Any) -> ServerSpec:
    config = Configuration(case=case, params=tuple(params.items()))
    return ServerSpec(case=case, configuration=config, model_path=MODEL,
                      flags=tuple(params.items()), api_model_name="Llama-3.2-1B-Instruct",
                      gpus=int(params.get("tp-size", 1)), deploy_timeout=120)


def context(tmp_path: Path, notes: list[str]) -> DeployContext:
    return DeployContext(run_id="20261206-000000-beef", artifacts=tmp_path / "artifacts",
                         sink=notes.append)


def test_a_configuration_deploys_serves_and_leaves_nothing(ome: Ome, tmp_path: Path) -> None:
    backend = OmeBackend(ome.options(heartbeat=0.3))
    notes: list[str] = []
    server = spec("lifecycle", **{"mem-fraction-static": 0.8, "schedule-policy": "lpm"})
    started = time.monotonic()
    with backend.deploy(server, context(tmp_path, notes)) as handle:
        ready = time.monotonic() - started
        [isvc] = ome.isvcs(case="lifecycle")
        assert isvc["metadata"]["labels"]["pytest-autotune.run"] == "20261206-000000-beef"
        assert handle.url == isvc["status"]["url"]  # the Service URL OME publishes
        # the flags reached the engine after the runtime's own (--mem-frac 0.9): the server
        # resolved the configuration's values
        assert handle.server_info["mem_fraction_static"] == 0.8
        assert handle.server_info["schedule_policy"] == "lpm"
        assert handle.server_info["served_model_name"] == "Llama-3.2-1B-Instruct"
        assert handle.alive()
        name = isvc["metadata"]["name"]
        beat = isvc["metadata"]["annotations"][ANNOTATION_HEARTBEAT]
        wait_for("the heartbeat to be renewed", lambda: ome.isvcs(case="lifecycle")[0][
            "metadata"]["annotations"][ANNOTATION_HEARTBEAT] > beat, timeout=10)
    assert ome.isvcs(case="lifecycle") == []
    assert not [p for p in ome.pods() if p.startswith(name)]
    record = json.loads((tmp_path / "artifacts" / "deploy.json").read_text())
    assert record["access"] == "service" and record["teardown_seconds"] < 30
    sent = json.loads((tmp_path / "artifacts" / "inferenceservice.json").read_text())
    assert sent["spec"]["runtime"]["name"] == RUNTIME
    assert any("created InferenceService default/" in n for n in notes)
    print(f"create → ready and answering: {ready:.2f} s; record {record}")


@pytest.mark.parametrize(("case", "change", "error", "says"), [
    ("gpus", {"params": {"tp-size": 16}}, Infeasible, "Insufficient nvidia.com/gpu"),
    ("kv-memory", {"params": {"mem-fraction-static": 0.02}}, Infeasible,
     "not enough memory for the KV cache"),
    ("oom-killed", {"runtime": "srt-tiny-memory"}, Infeasible, "OOMKilled"),
    ("image", {"image": "registry.invalid/sglang:missing"}, DeployError, "ErrImagePull"),
    ("never-ready", {"runtime": "srt-never-ready", "timeout": 4}, ReadinessTimeout,
     "EngineReady=False"),
    ("no-model", {"model": "no-such-model"}, DeployError, "BaseModelNotFound"),
])
def test_cluster_faults_become_outcomes_and_leave_nothing(
    ome: Ome, tmp_path: Path, case: str, change: dict[str, Any], error: type[Exception],
    says: str,
) -> None:
    server = spec(case, **change.get("params", {"mem-fraction-static": 0.8}))
    server = replace(server, image=change.get("image"),
                     deploy_timeout=change.get("timeout", 60),
                     ome=OmeSettings(base_model=change.get("model")))
    options = ome.options()
    if "runtime" in change:
        options = replace(options, runtime=change["runtime"])
    started = time.monotonic()
    with pytest.raises(error) as raised:
        with OmeBackend(options).deploy(server, context(tmp_path, [])):
            pytest.fail("it became ready")
    took = time.monotonic() - started
    text = str(raised.value)
    assert says in text
    if error is Infeasible:
        assert type(raised.value) is Infeasible
    elif error is DeployError:
        assert not isinstance(raised.value, Infeasible)
    if case in ("kv-memory", "oom-killed"):  # the log tail, from the pod's status
        assert raised.value.log_tail  # type: ignore[attr-defined]
    if case == "image":
        assert "--- events ---" in text and "Warning Failed" in text
    assert ome.isvcs(case=case) == []
    print(f"{case}: {type(raised.value).__name__} after {took:.1f} s")


def test_deleted_while_serving_is_seen_as_dead(ome: Ome, tmp_path: Path) -> None:
    with OmeBackend(ome.options()).deploy(spec("deleted", **{"mem-fraction-static": 0.8}),
                                           context(tmp_path, [])) as handle:
        [isvc] = ome.isvcs(case="deleted")
        ome.custom.delete_namespaced_custom_object(G, V, "default", "inferenceservices",
                                                   isvc["metadata"]["name"])
        wait_for("the backend to see the deletion", lambda: not handle.alive(), timeout=15)
    assert ome.isvcs(case="deleted") == []


def test_the_sweep_deletes_what_a_silent_run_of_another_host_left(
        ome: Ome, tmp_path: Path) -> None:
    """A CI pod killed with its runner leaves InferenceServices owned by a host that never comes
    back: once their heartbeat is older than 15 minutes the next run deletes them; one whose
    owner still beats (another live run) is left alone."""
    backend = OmeBackend(ome.options())
    names = {}
    for state, minutes in (("silent", 20), ("beating", 1)):
        body = backend.manifest(spec(f"sweep-{state}"), run_id=f"20261206-000000-{state[:4]}")
        body["metadata"]["annotations"].update({
            ANNOTATION_OWNER: "ci-runner-7f9c:41:1",
            ANNOTATION_HEARTBEAT: time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                time.gmtime(time.time() - minutes * 60))})
        ome.custom.create_namespaced_custom_object(G, V, "default", "inferenceservices", body)
        names[state] = body["metadata"]["name"]
    try:
        removed = backend.sweep()
        assert f"InferenceService default/{names['silent']} (run 20261206-000000-sile, owned " \
            "by ci-runner-7f9c, no heartbeat for 20 min)" in removed
        assert not [line for line in removed if names["beating"] in line]
        assert ome.isvcs(case="sweep-silent") == []
        assert len(ome.isvcs(case="sweep-beating")) == 1
    finally:
        ome.custom.delete_namespaced_custom_object(G, V, "default", "inferenceservices",
                                                   names["beating"])


def test_every_example_configuration_passes_omes_full_schema(ome: Ome,
                                                              pytester: pytest.Pytester) -> None:
    """What --autotune-ome-render writes is what the backend sends; the server's dry run
    validates it against the full InferenceService CRD, as kubectl apply --dry-run=server."""
    for path in (ROOT / "tuning_cases").glob("*.yaml"):
        shutil.copy(path, pytester.path / path.name)
    task = json.loads(SEED.read_text())
    task["deployment_mode"] = "ome"
    (pytester.path / "ome-task.json").write_text(json.dumps(task))
    result = pytester.runpytest_subprocess(".", "--autotune-ome-render=out", "-p",
                                           "no:cacheprovider")
    assert result.ret == 0, result.stdout.str()
    files = sorted((pytester.path / "out").rglob("*.yaml"))
    assert len(files) >= 10
    applied = ome.cluster.kubectl("apply", "--dry-run=server", "-R", "-f",
                                  str(pytester.path / "out"))
    assert applied.stdout.count("created (server dry run)") == len(files), applied.stdout
    assert ome.isvcs(run="render") == []  # a dry run creates nothing
    # the same server rejects what OME would reject
    broken = yaml.safe_load(files[0].read_text())
    broken["spec"]["engine"]["minReplicas"] = "one"
    rejected = ome.cluster.kubectl("apply", "--dry-run=server", "-f", "-", check=False,
                                   input_text=yaml.safe_dump(broken))
    assert rejected.returncode != 0 and "minReplicas" in rejected.stderr


# -- pytest as a user runs it ----------------------------------------------------------------------
def run_argv(ome: Ome, *args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly",
            "--autotune-mode=ome", f"--autotune-ome-kubeconfig={ome.cluster.kubeconfig}",
            "--autotune-ome-access=service", f"--autotune-ome-runtime={RUNTIME}", *args]


def run_pytest(ome: Ome, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(run_argv(ome, *args), cwd=cwd, capture_output=True,  # noqa: S603
                          text=True, timeout=600, check=False)


def start_pytest(ome: Ome, cwd: Path, *args: str) -> subprocess.Popen[bytes]:
    """Started in its own session, like a terminal's foreground job (signal the group)."""
    with open(cwd / "pytest.out", "wb") as out:
        return subprocess.Popen(run_argv(ome, *args), cwd=cwd, stdout=out,  # noqa: S603
                                stderr=subprocess.STDOUT, start_new_session=True)


def seed_task(path: Path, *, requests: int = 24, standin: bool = True,
              conftest: str = "") -> Path:
    """The earlier tool's task for ome mode, its namespace, model and tokenizer fields as they
    were (genai-bench counts with the simulator's own tokenizer once the server says it is the
    simulator: the hub's is out of reach here). ``standin``: points are measured by the
    genai-bench stand-in (tests/standin: the same requests, without genai-bench's start-up)
    where the test is about the servers' lifecycle, not the measurement."""
    if standin or conftest:
        (path / "conftest.py").write_text((STANDIN_CONFTEST if standin else "") + conftest)
    task = json.loads(SEED.read_text())
    task["deployment_mode"] = "ome"
    task["benchmark"]["max_requests_per_iteration"] = requests
    out = path / "ome-task.json"
    out.write_text(json.dumps(task))
    return out


@pytest.mark.e2e
def test_a_seed_ome_task_runs_end_to_end(ome: Ome, tmp_path: Path) -> None:
    """docker-simple-tune.json with deployment_mode "ome": InferenceServices in the task's
    namespace (model.namespace: autotuner) for its ClusterBaseModel (model.id_or_path), real
    genai-bench through the Service URL, the earlier tool's results file."""
    task = seed_task(tmp_path, standin=False)
    proc = run_pytest(ome, tmp_path, task.name, "-q")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "4 passed" in proc.stdout
    results = json.loads((tmp_path / "results" / "docker-simple-tune_results.json").read_text())
    assert results["successful_experiments"] == 2
    assert (results["mode"], results["simulated"]) == ("ome", True)  # the harness's node
    assert "SIMULATED: numbers come from the pytest-autotune simulator" in proc.stdout
    served = [name for namespace, name in ome.harness.seen if namespace == "autotuner"]
    assert len(served) >= 2
    assert ome.isvcs(case="docker-simple-tune") == []


@pytest.mark.parametrize(("workers", "how"), [(0, "sigint-group"), (2, "sigterm-pytest")],
                         ids=["serial-ctrl-c", "xdist-2-sigterm"])
def test_an_interrupt_deletes_the_runs_inference_services(
        ome: Ome, tmp_path: Path, workers: int, how: str) -> None:
    """Ctrl-C in a terminal (SIGINT to the process group) or a CI job cancelled (SIGTERM to
    pytest alone, here with two xdist workers each holding a server)."""
    task = seed_task(tmp_path, requests=2000)
    proc = start_pytest(ome, tmp_path, task.name, *(["-n", str(workers)] if workers else []))
    try:
        wait_for(f"{max(workers, 1)} ready InferenceService(s) of the run", lambda: sum(
            1 for i in ome.isvcs(case="docker-simple-tune")
            if (i.get("status") or {}).get("url")) >= max(workers, 1), timeout=120)
        time.sleep(2)  # into the benchmark
        interrupted = time.monotonic()
        if how == "sigint-group":
            os.killpg(proc.pid, signal.SIGINT)
        else:
            os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=120)
        cleanup = time.monotonic() - interrupted
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode in (1, 2, -signal.SIGTERM), \
        (tmp_path / "pytest.out").read_bytes()[-3000:].decode(errors="replace")
    assert ome.isvcs(case="docker-simple-tune") == []
    assert not [cmd for _, cmd in processes(str(tmp_path)) if "genai" in cmd]  # the benchmark
    print(f"{how}: nothing left {cleanup:.2f} s after the signal")


CRASHING_WORKER = """
import os

def pytest_runtest_call(item):
    # an xdist worker dies mid-benchmark (OOM killer, segfault): no teardown at all
    if os.environ.get("PYTEST_XDIST_WORKER") == "gw0":
        os._exit(3)
"""


def test_a_crashed_xdist_workers_servers_are_deleted_by_the_controller(
        ome: Ome, tmp_path: Path) -> None:
    task = seed_task(tmp_path, conftest=CRASHING_WORKER)
    proc = run_pytest(ome, tmp_path, task.name, "-n", "2")
    assert proc.returncode != 0  # the crashed worker's items failed
    assert "crashed" in proc.stdout or "worker 'gw0' crashed" in proc.stdout, proc.stdout[-3000:]
    # xdist replaces the worker: the new one's first deployment, or the controller at the
    # end, deletes what the dead one left
    assert ome.isvcs(case="docker-simple-tune") == [], proc.stdout[-3000:]


def test_a_killed_runs_inference_services_are_swept_by_the_next_run(
        ome: Ome, tmp_path: Path) -> None:
    first = tmp_path / "first"
    first.mkdir()
    task = seed_task(first, requests=2000)
    proc = start_pytest(ome, first, task.name)
    try:
        wait_for("a ready InferenceService of the run", lambda: any(
            (i.get("status") or {}).get("url") for i in ome.isvcs(case="docker-simple-tune")),
            timeout=120)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # no teardown at all
        proc.wait(timeout=30)
    for pid, cmd in processes(str(first)):  # the benchmark runs in its own session
        if "genai" in cmd:
            os.kill(pid, signal.SIGKILL)
    [orphan] = ome.isvcs(case="docker-simple-tune")
    second = tmp_path / "second"
    second.mkdir()
    task = seed_task(second, requests=8)
    result = run_pytest(ome, second, task.name)
    assert result.returncode == 0, result.stdout[-3000:]
    names = [i["metadata"]["name"] for i in ome.isvcs(case="docker-simple-tune")]
    assert orphan["metadata"]["name"] not in names and names == []
    assert f"autotune: removed InferenceService autotuner/{orphan['metadata']['name']}" \
        in result.stdout
