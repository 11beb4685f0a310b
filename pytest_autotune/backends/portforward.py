"""Port-forward in-process, as ``kubectl port-forward`` does it: a listener on 127.0.0.1 whose
connections are each relayed to a pod's port over the API server's ``pods/portforward``."""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any


class PortForward:
    """``kubectl port-forward`` in-process: a listener on 127.0.0.1 whose every connection is
    relayed to the pod's port through the API server (one port-forward stream each)."""

    def __init__(self, api: Any, namespace: str, pod: str, port: int) -> None:
        self.api, self.namespace, self.pod, self.port = api, namespace, pod, port
        self.listener: socket.socket | None = None
        self.closed = threading.Event()

    def start(self) -> str:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        listener.settimeout(0.5)
        self.listener = listener
        threading.Thread(target=self._accept, daemon=True,
                         name=f"port-forward-{self.pod}").start()
        return f"http://127.0.0.1:{listener.getsockname()[1]}"

    def open(self) -> Any:
        """A socket-like stream to the pod's port (the kubernetes client's port-forward)."""
        from kubernetes import client
        from kubernetes.stream import portforward

        core = client.CoreV1Api(self.api)
        forward = portforward(core.connect_get_namespaced_pod_portforward, self.pod,
                              self.namespace, ports=str(self.port))
        return forward.socket(self.port)

    def _accept(self) -> None:
        assert self.listener is not None
        while not self.closed.is_set():
            try:
                local, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(local,), daemon=True).start()

    def _serve(self, local: socket.socket) -> None:
        try:
            remote = self.open()
        except Exception:
            local.close()
            return
        relay(local, remote, self.closed)

    def stop(self) -> None:
        self.closed.set()
        if self.listener is not None:
            with contextlib.suppress(OSError):
                self.listener.close()


def relay(a: Any, b: Any, closed: threading.Event, chunk: int = 65536) -> None:
    """Copy bytes both ways between two socket-likes until either side closes."""
    def pump(src: Any, dst: Any) -> None:
        try:
            while not closed.is_set():
                data = src.recv(chunk)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    other = threading.Thread(target=pump, args=(b, a), daemon=True)
    other.start()
    pump(a, b)
    other.join(timeout=5)
    for sock in (a, b):
        with contextlib.suppress(OSError):
            sock.close()
