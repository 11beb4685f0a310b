"""The simulator must run from a plain copy of its directory in a bare python3 (no site)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[3] / "pytest_autotune"
SIM = PKG / "sim"


def _imports(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((alias.name, 0) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            out.append((node.module or "", node.level))
    return out


@pytest.mark.parametrize("module", sorted(p.name for p in SIM.glob("*.py")))
def test_module_imports_only_stdlib_or_siblings(module: str) -> None:
    for name, level in _imports(SIM / module):
        if level:  # relative: a sibling inside pytest_autotune.sim
            assert level == 1, f"{module}: relative import leaves the sim package: {name}"
            continue
        top = name.split(".")[0]
        assert top in sys.stdlib_module_names or top == "__future__", (
            f"{module} imports {name!r}, which is not in the standard library")


def test_plain_copy_runs_in_isolated_interpreter(tmp_path: Path) -> None:
    dest = tmp_path / "pytest_autotune"
    dest.mkdir()
    shutil.copy(PKG / "__init__.py", dest / "__init__.py")
    shutil.copytree(SIM, dest / "sim", ignore=shutil.ignore_patterns("__pycache__"))
    code = (
        f"import sys; sys.path.insert(0, {str(tmp_path)!r});"
        "import pytest_autotune.sim.server, pytest_autotune.sim.catalog;"
        "import pytest_autotune.sim.virtual;"
        "mods = sorted(m for m in sys.modules if m.startswith('pytest_autotune'));"
        "print(mods);"
        "assert all(m == 'pytest_autotune' or m.startswith('pytest_autotune.sim') for m in mods)"
    )
    res = subprocess.run([sys.executable, "-I", "-S", "-c", code],  # noqa: S603
                         capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    assert "pytest_autotune.sim.server" in res.stdout
    # The command line works too: --help exits 0 from the copy.
    res = subprocess.run([sys.executable, "-I", "-S", "-c",  # noqa: S603
                          f"import sys; sys.path.insert(0, {str(tmp_path)!r}); "
                          "sys.argv = ['x', '--help']; import runpy; "
                          "runpy.run_module('pytest_autotune.sim', run_name='__main__')"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    assert "--sim-gpu" in res.stdout
