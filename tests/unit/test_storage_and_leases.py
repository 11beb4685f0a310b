from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from pytest_autotune.backends.gpus import GpuPool
from pytest_autotune.backends.leases import lease_port
from pytest_autotune.errors import DeployError
from pytest_autotune.results.runs import find_run, save_run


def test_runs_are_numbered_and_found(tmp_path: Path) -> None:
    first = save_run(tmp_path, {"n": 1}, "abc1234")
    second = save_run(tmp_path, {"n": 2}, "abc1234")
    assert first.name.startswith("0001_abc1234_") and second.name.startswith("0002_abc1234_")
    assert find_run(tmp_path, None) == second
    assert find_run(tmp_path, "1") == first
    assert json.loads(find_run(tmp_path, "2").read_text()) == {"n": 2}
    with pytest.raises(FileNotFoundError):
        find_run(tmp_path, "9")


def test_port_leases_never_repeat_while_held(tmp_path: Path) -> None:
    leases = [lease_port(tmp_path) for _ in range(20)]
    assert len({lease.port for lease in leases}) == 20
    for lease in leases:
        lease.release()


def test_gpu_pool_leases_disjoint_sets_and_frees_them(tmp_path: Path) -> None:
    pool = GpuPool([str(i) for i in range(4)], tmp_path)
    a = pool.lease(2, timeout=1)
    b = pool.lease(2, timeout=1)
    assert set(a.ids).isdisjoint(b.ids)
    with pytest.raises(DeployError, match="no 1 free GPU"):
        pool.lease(1, timeout=0.3)
    a.release()
    c = pool.lease(2, timeout=1)
    assert set(c.ids) == set(a.ids)
    b.release()
    c.release()
    with pytest.raises(DeployError, match="needs 5 GPUs but the pool has 4"):
        pool.lease(5, timeout=1)


def _hold_and_die(root: str) -> None:
    pool = GpuPool(["0"], Path(root))
    pool.lease(1, timeout=1)  # never released: the process exits holding it


def test_a_dead_holders_lease_is_free_again(tmp_path: Path) -> None:
    proc = multiprocessing.get_context("spawn").Process(target=_hold_and_die, args=(str(tmp_path),))
    proc.start()
    proc.join(30)
    lease = GpuPool(["0"], tmp_path).lease(1, timeout=1)
    assert lease.ids == ("0",)
    lease.release()


def test_pool_prefers_the_gpus_with_most_free_memory(tmp_path: Path) -> None:
    pool = GpuPool(["0", "1", "2"], tmp_path, free_memory=lambda: {"0": 1, "1": 50, "2": 9})
    lease = pool.lease(2, timeout=1)
    assert lease.ids == ("1", "2")
    lease.release()


def test_tail_folds_lines_that_differ_only_by_timestamp() -> None:
    from pytest_autotune.procs import Tail

    tail = Tail(3)
    for second in range(5):
        tail.add(f"WARNING 2026-11-22 07:17:1{second}.123 - error 503 refused\n")
    tail.add("ValueError: boom\n")
    assert tail.text() == ("WARNING 2026-11-22 07:17:10.123 - error 503 refused   "
                           "[repeated 5 times]\nValueError: boom\n")
