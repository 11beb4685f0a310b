"""GPU pools and leases.

A configuration needs ``tp × dp × pp`` GPUs (``tp × pp`` with ``--enable-dp-attention``,
whose DP ranks split the TP group; or what the case says). Each deployment leases that many
from a pool shared by every worker of the run — and, for real GPUs, by every
pytest-autotune process on the machine — through ``flock``-ed files, so two servers never
share a GPU and a crashed worker's leases vanish with it. In ``sim`` mode the pool is
virtual (``--autotune-sim-gpus``).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DeployError
from .leases import FileLock


@dataclass
class GpuLease:
    ids: tuple[str, ...]
    locks: list[FileLock] = field(default_factory=list, repr=False)
    log: Path | None = None
    note: str = ""
    waited: float = 0.0

    def release(self) -> None:
        for lock in self.locks:
            lock.release()
        self.locks.clear()
        _log(self.log, "release", self.ids, self.note)


def _log(path: Path | None, event: str, ids: Sequence[str], note: str) -> None:
    if path is None:
        return
    line = json.dumps({"t": time.time(), "event": event, "gpus": list(ids),
                       "pid": os.getpid(), "note": note})
    with contextlib.suppress(OSError), open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")


class GpuPool:
    """A set of GPU ids with leases held as file locks under ``lock_root``."""

    def __init__(
        self,
        ids: Sequence[str],
        lock_root: Path,
        *,
        free_memory: Callable[[], dict[str, int]] | None = None,
        virtual: bool = False,
    ) -> None:
        self.ids = tuple(ids)
        self.lock_root = lock_root
        self.free_memory = free_memory
        self.virtual = virtual
        self.log_path = lock_root / "leases.jsonl"

    def __len__(self) -> int:
        return len(self.ids)

    def _order(self) -> list[str]:
        if self.free_memory is None:
            return list(self.ids)
        try:
            free = self.free_memory()
        except Exception:  # NVML hiccup: fall back to the declared order
            return list(self.ids)
        return sorted(self.ids, key=lambda i: -free.get(i, 0))

    def try_lease(self, n: int, note: str = "") -> GpuLease | None:
        held: list[FileLock] = []
        ids: list[str] = []
        for gpu in self._order():
            lock = FileLock(self.lock_root / f"gpu-{gpu}.lock")
            if lock.try_acquire(note):
                held.append(lock)
                ids.append(gpu)
                if len(ids) == n:
                    lease = GpuLease(tuple(ids), held, self.log_path, note)
                    _log(self.log_path, "acquire", lease.ids, note)
                    return lease
        for lock in held:
            lock.release()
        return None

    def lease(self, n: int, *, timeout: float, note: str = "", poll: float = 0.2) -> GpuLease:
        """Wait (up to ``timeout``) until ``n`` GPUs are free; raises DeployError otherwise."""
        if n <= 0:
            return GpuLease(())
        if n > len(self.ids):
            raise DeployError(
                f"needs {n} GPUs but the pool has {len(self.ids)} ({', '.join(self.ids) or 'none'})"
            )
        start = time.monotonic()
        while True:
            lease = self.try_lease(n, note)
            if lease is not None:
                lease.waited = time.monotonic() - start
                return lease
            if time.monotonic() - start > timeout:
                raise DeployError(
                    f"no {n} free GPU(s) after waiting {timeout:.0f} s (pool: "
                    f"{', '.join(self.ids)}; leases under {self.lock_root})"
                )
            time.sleep(poll)


def nvml_gpus() -> tuple[list[str], Callable[[], dict[str, int]] | None, str]:
    """GPU indices NVML sees within an outer CUDA_VISIBLE_DEVICES, a free-memory probe, a note."""
    try:
        import pynvml
    except ImportError:
        return [], None, "NVML is not available (pip install nvidia-ml-py); no GPUs discovered"
    try:
        pynvml.nvmlInit()
        count = int(pynvml.nvmlDeviceGetCount())
    except Exception as exc:  # NVMLError_LibraryNotFound, driver not loaded, ...
        return [], None, f"NVML could not be initialised ({exc}); no GPUs discovered"
    ids = [str(i) for i in range(count)]
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        wanted = [v.strip() for v in visible.split(",") if v.strip()]
        ids = [i for i in ids if i in wanted] if all(w.isdigit() for w in wanted) else wanted

    def free() -> dict[str, int]:
        out: dict[str, int] = {}
        for i in ids:
            if i.isdigit():
                handle = pynvml.nvmlDeviceGetHandleByIndex(int(i))
                out[i] = int(pynvml.nvmlDeviceGetMemoryInfo(handle).free)
        return out

    return ids, free, f"{len(ids)} GPU(s) from NVML"


def make_pool(settings: Any, run_id: str, *, virtual: bool) -> tuple[GpuPool | None, str]:
    """The pool this run leases from, and a note on where it came from. A simulated backend
    leases from a virtual pool of ``--autotune-sim-gpus`` GPUs."""
    root: Path = settings.lock_dir
    if virtual:
        ids = [str(i) for i in range(settings.sim_gpus)]
        note = f"virtual pool of {len(ids)} simulated GPUs"
        return GpuPool(ids, root / "virtual" / run_id, virtual=True), note
    ids, free, note = nvml_gpus()
    if settings.gpus and settings.gpus != "auto":
        chosen = settings.gpus.split(",")
        return (GpuPool(chosen, root / "gpus", free_memory=free),
                f"GPUs {settings.gpus} from --autotune-gpus")
    return GpuPool(ids, root / "gpus", free_memory=free), note
