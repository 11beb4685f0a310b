"""Machine-wide leases: ports (and GPUs, see gpus.py) shared by every pytest process.

A lease is an ``flock`` on a file in the lock directory, held for as long as the deployment
lives; the kernel drops it when the holder dies, so a crashed worker never strands a lease.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO


@dataclass
class FileLock:
    path: Path
    handle: IO[str] | None = field(default=None, repr=False)

    def try_acquire(self, note: str = "") -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()} {note}\n")
        handle.flush()
        self.handle = handle
        return True

    def release(self) -> None:
        if self.handle is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self.handle.fileno(), fcntl.LOCK_UN)
            self.handle.close()
            self.handle = None


@dataclass
class PortLease:
    port: int
    lock: FileLock

    def release(self) -> None:
        self.lock.release()


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def lease_port(lock_dir: Path, host: str = "127.0.0.1", note: str = "") -> PortLease:
    """A free TCP port no other pytest-autotune process on this machine holds."""
    for _ in range(200):
        port = _free_port(host)
        lock = FileLock(lock_dir / "ports" / f"{port}.lock")
        if not lock.try_acquire(note):
            continue
        if _bindable(host, port):
            return PortLease(port, lock)
        lock.release()
    raise OSError("could not find a free TCP port after 200 attempts")
