"""Start a throwaway Kubernetes API server (etcd + tests/kube/apiserver) for tests.

    binaries = ensure_binaries()            # builds once (minutes), then instant
    with KubeCluster(binaries, crd_dir=CRD_DIR) as cluster:
        api = cluster.api_client()          # kubernetes.client.ApiClient
        subprocess.run(["kubectl", "--kubeconfig", str(cluster.kubeconfig), "get", "ns"])

The server is the real apiextensions-apiserver (CRD schema validation and pruning, status
subresource, watch, selectors, server-side apply and dry-run) plus core/v1 namespaces, pods,
services, events, configmaps, secrets, serviceaccounts and endpoints. Nothing else runs: no
scheduler, kubelet, controllers, garbage collector or namespace finalizer, so a test plays
those parts itself (e.g. it sets status through the /status subresource). Namespaces need not
exist to hold objects; "default", "kube-system" and "kube-public" are made at start.

Both processes listen on 127.0.0.1 only, on free ports, and run in their own process groups;
``stop()`` (also on leaving the ``with`` block, or when ``start()`` fails) terminates them,
kills what is left and removes the temporary directory with etcd's data.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
ENSURE_SCRIPT = ROOT / "scripts" / "ensure-kube-apiserver"
#: the OME CRDs vendored for the tests (sgl-project/ome, Apache-2.0)
CRD_DIR = Path(__file__).resolve().parent / "crds"
SAMPLES_DIR = Path(__file__).resolve().parent / "samples"
CONTEXT = "autotune-test"
#: util-linux's setpriv execs the server with PR_SET_PDEATHSIG: the kernel kills it when the
#: thread that started it ends, even if the test process is killed outright (a timeout's
#: os._exit, SIGKILL), so stop() is not the only guard against leaking etcd or the server
_SETPRIV = shutil.which("setpriv")
_DIE_WITH_PARENT = [_SETPRIV, "--pdeathsig", "KILL", "--"] if _SETPRIV else []


class KubeClusterError(RuntimeError):
    """The server could not be built, started or set up."""


@dataclass(frozen=True)
class KubeBinaries:
    apiserver: Path
    etcd: Path


def ensure_binaries(timeout: float = 1800.0) -> KubeBinaries:
    """Build (or find in the cache) the API server and etcd: scripts/ensure-kube-apiserver."""
    proc = subprocess.run(  # noqa: S603 - argv list
        [sys.executable, str(ENSURE_SCRIPT)], capture_output=True, text=True,
        timeout=timeout, check=False,
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise KubeClusterError(
            f"{ENSURE_SCRIPT.name} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
        )
    found = json.loads(lines[-1])
    return KubeBinaries(apiserver=Path(found["apiserver"]), etcd=Path(found["etcd"]))


def free_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1 now (held together while chosen, so they differ)."""
    with contextlib.ExitStack() as stack:
        sockets = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]


def _tail(path: Path, limit: int = 4000) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-limit:]
    except OSError:
        return ""


class KubeCluster:
    """etcd and the API server on 127.0.0.1, with a kubeconfig for clients.

    Parameters: ``binaries`` (default: ``ensure_binaries()``), ``crd_dir`` (every *.yaml in it
    is created and waited for after start; or call ``create_crds``), ``token`` (default: a
    random one), ``start_timeout`` (seconds for each of etcd and the server to answer),
    ``crd_timeout`` (seconds for the CRDs to be established and discoverable).
    """

    def __init__(
        self,
        binaries: KubeBinaries | None = None,
        *,
        crd_dir: Path | None = None,
        token: str | None = None,
        start_timeout: float = 60.0,
        crd_timeout: float = 120.0,
    ) -> None:
        self._binaries = binaries
        self.crd_dir = crd_dir
        self.token = token or secrets.token_hex(16)
        self.start_timeout = start_timeout
        self.crd_timeout = crd_timeout
        self.workdir: Path | None = None
        self.port = 0
        self.etcd_url = ""
        self._etcd: subprocess.Popen[bytes] | None = None
        self._apiserver: subprocess.Popen[bytes] | None = None
        self._logs: list[IO[bytes]] = []
        #: seconds from starting etcd to the server's /readyz answering 200, and to the CRDs
        #: of crd_dir being established and discoverable
        self.ready_seconds = 0.0
        self.crd_seconds = 0.0

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> KubeCluster:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> KubeCluster:
        if self.workdir is not None:
            raise KubeClusterError("already started")
        binaries = self._binaries or ensure_binaries()
        self._binaries = binaries
        self.workdir = Path(tempfile.mkdtemp(prefix="autotune-kube-"))
        try:
            for attempt in range(3):  # a port taken between choosing and binding: new ports
                started = time.monotonic()
                etcd_port, peer_port, self.port = free_ports(3)
                if self._start_etcd(binaries.etcd, etcd_port, peer_port):
                    self._start_apiserver(binaries.apiserver, etcd_port)
                    if self._wait_readyz():
                        break
                logs = self.logs()
                self._stop_processes()
                if attempt == 2:
                    raise KubeClusterError("etcd or the API server exited at start:\n" + logs)
            self.ready_seconds = time.monotonic() - started
            self._write_kubeconfig()
            if self.crd_dir is not None:
                started = time.monotonic()
                self.create_crds(sorted(self.crd_dir.glob("*.yaml")))
                self.crd_seconds = time.monotonic() - started
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Terminate both process groups (kill after 10 s), remove the temporary directory."""
        self._stop_processes()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def _stop_processes(self) -> None:
        for proc in (self._apiserver, self._etcd):  # the server first: it talks to etcd
            if proc is not None:
                _stop_group(proc)
        self._apiserver = self._etcd = None
        for handle in self._logs:
            handle.close()
        self._logs.clear()

    # -- processes -------------------------------------------------------------------------
    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        assert self.workdir is not None
        log = (self.workdir / f"{name}.log").open("ab")
        self._logs.append(log)
        return subprocess.Popen(  # noqa: S603 - argv list
            [*_DIE_WITH_PARENT, *argv], stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, cwd=self.workdir, start_new_session=True,
        )

    def _start_etcd(self, etcd: Path, port: int, peer_port: int) -> bool:
        """True once etcd is healthy; False if it exited (a port clash, maybe)."""
        assert self.workdir is not None
        client, peer = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{peer_port}"
        self._etcd = self._spawn("etcd", [
            str(etcd), "--name", "default", "--data-dir", str(self.workdir / f"etcd-{port}"),
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"default={peer}", "--unsafe-no-fsync", "--log-level", "warn",
        ])
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._etcd.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{client}/health", timeout=2) as reply:
                    if json.loads(reply.read()).get("health") == "true":
                        self.etcd_url = client
                        return True
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        raise KubeClusterError("etcd did not become healthy:\n" + self.logs())

    def _start_apiserver(self, apiserver: Path, etcd_port: int) -> None:
        assert self.workdir is not None
        self._apiserver = self._spawn("apiserver", [
            str(apiserver), "--etcd-servers", f"http://127.0.0.1:{etcd_port}",
            "--etcd-prefix", "/registry", "--bind-address", "127.0.0.1",
            "--secure-port", str(self.port), "--cert-dir", str(self.workdir / "certs"),
            "--token", self.token,
        ])

    def _wait_readyz(self) -> bool:
        """True once /readyz answers 200; False if the server exited (a port clash, maybe)."""
        assert self._apiserver is not None
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the self-signed cert is read only afterwards
        request = urllib.request.Request(
            f"{self.server}/readyz", headers={"Authorization": f"Bearer {self.token}"}
        )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._apiserver.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(request, timeout=2, context=context) as reply:
                    if reply.status == 200:
                        return True
            except (OSError, urllib.error.HTTPError):
                pass
            time.sleep(0.05)
        raise KubeClusterError("the API server's /readyz did not answer 200 in "
                               f"{self.start_timeout:.0f} s:\n" + self.logs())

    # -- clients ---------------------------------------------------------------------------
    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def kubeconfig(self) -> Path:
        if self.workdir is None:
            raise KubeClusterError("not started")
        return self.workdir / "kubeconfig"

    @property
    def ca_file(self) -> Path:
        """The server's self-signed certificate (with its CA), written at its start."""
        if self.workdir is None:
            raise KubeClusterError("not started")
        return self.workdir / "certs" / "apiserver.crt"

    @property
    def apiserver_pid(self) -> int | None:
        return self._apiserver.pid if self._apiserver is not None else None

    def _write_kubeconfig(self) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            # the server's self-signed certificate as the CA: clients verify it (skipping the
            # check makes urllib3 warn on every request, an error under filterwarnings=error)
            "clusters": [{"name": CONTEXT, "cluster": {
                "server": self.server, "certificate-authority": str(self.ca_file)}}],
            "users": [{"name": CONTEXT, "user": {"token": self.token}}],
            "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT}}],
            "current-context": CONTEXT,
        }
        self.kubeconfig.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        self.kubeconfig.chmod(0o600)

    def api_client(self) -> Any:
        """A ``kubernetes.client.ApiClient`` for this server (the kubeconfig's server and
        token). It checks the server's self-signed certificate instead of skipping the check
        as the kubeconfig does, so urllib3 raises no InsecureRequestWarning (an error under
        this repository's ``filterwarnings = error``)."""
        from kubernetes import client, config

        configuration = client.Configuration()
        load_kube_config: Any = config.load_kube_config  # untyped in the client
        load_kube_config(config_file=str(self.kubeconfig), context=CONTEXT,
                         client_configuration=configuration)
        configuration.verify_ssl = True
        configuration.ssl_ca_cert = str(self.ca_file)
        return client.ApiClient(configuration)

    def kubectl(self, *args: str, check: bool = True, input_text: str | None = None,
                timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this server (output captured as text)."""
        return subprocess.run(  # noqa: S603 - argv list
            ["kubectl", "--kubeconfig", str(self.kubeconfig), *args], input=input_text,
            capture_output=True, text=True, check=check, timeout=timeout,
        )

    # -- raw requests ------------------------------------------------------------------------
    def request(self, method: str, path: str, body: Any = None, *,
                token: str | None = "", timeout: float = 30.0) -> tuple[int, Any]:
        """One HTTPS request (the server's certificate checked): (status, decoded JSON or
        text). ``token`` "" sends the cluster's token, None sends none."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token or self.token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(
            self.server + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=context) as reply:
                status, raw = reply.status, reply.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode("utf-8", errors="replace")

    # -- CRDs ------------------------------------------------------------------------------
    def create_crds(self, paths: Iterable[Path]) -> list[str]:
        """Create the CustomResourceDefinitions in these YAML files, then wait until each is
        Established and its resource is discoverable and answers a list (not 429 while its
        watch cache fills). Returns the CRD names."""
        crds: list[dict[str, Any]] = []
        for path in paths:
            with path.open(encoding="utf-8") as handle:
                for doc in yaml.safe_load_all(handle):
                    if doc and doc.get("kind") == "CustomResourceDefinition":
                        status, reply = self.request(
                            "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                            doc)
                        if status != 201:
                            raise KubeClusterError(
                                f"creating CRD {doc['metadata']['name']}: {status} {reply}")
                        crds.append(doc)
        deadline = time.monotonic() + self.crd_timeout
        for crd in crds:
            self._wait_established(crd, deadline)
        return [crd["metadata"]["name"] for crd in crds]

    def _wait_established(self, crd: dict[str, Any], deadline: float) -> None:
        name, spec = crd["metadata"]["name"], crd["spec"]
        versions = [v["name"] for v in spec["versions"] if v.get("served", True)]
        established = False
        while time.monotonic() < deadline:
            if not established:
                _, found = self.request(
                    "GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
                conditions = ((found.get("status") or {}).get("conditions") or []) \
                    if isinstance(found, dict) else []
                established = any(c.get("type") == "Established" and c.get("status") == "True"
                                  for c in conditions)
            if established and all(
                self._discoverable(spec["group"], v, spec["names"]["plural"])
                and self._listable(spec["group"], v, spec["names"]["plural"])
                for v in versions
            ):
                return
            time.sleep(0.1)
        raise KubeClusterError(f"CRD {name} was not established and discoverable in time")

    def _listable(self, group: str, version: str, plural: str) -> bool:
        """The first requests for a new resource answer 429 while its watch cache fills."""
        return self.request("GET", f"/apis/{group}/{version}/{plural}?limit=1")[0] == 200

    def _discoverable(self, group: str, version: str, plural: str) -> bool:
        status, found = self.request("GET", f"/apis/{group}/{version}")
        return status == 200 and isinstance(found, dict) and any(
            r.get("name") == plural for r in found.get("resources", []))

    # -- diagnostics -----------------------------------------------------------------------
    def logs(self) -> str:
        """The tails of the server's and etcd's logs."""
        if self.workdir is None:
            return ""
        return "\n".join(
            f"--- {name}.log ---\n{_tail(self.workdir / f'{name}.log')}"
            for name in ("apiserver", "etcd")
        )

    def peak_rss_bytes(self) -> int | None:
        """The API server's peak resident memory (VmHWM) so far, on Linux."""
        pid = self.apiserver_pid
        if pid is None:
            return None
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        return None


def _stop_group(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM to the process group, SIGKILL after ``grace`` seconds, then reap."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        if proc.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=wait)
    # anything the leader left in its group
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


@contextlib.contextmanager
def kube_cluster(crd_dir: Path | None = CRD_DIR, **kwargs: Any) -> Iterator[KubeCluster]:
    """``KubeCluster`` as a context manager with the vendored OME CRDs by default."""
    with KubeCluster(crd_dir=crd_dir, **kwargs) as cluster:
        yield cluster
