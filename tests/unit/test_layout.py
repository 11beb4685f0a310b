"""The package's boundaries, checked over the whole tree: only ``plugin/`` imports pytest, the
pytest-free core never imports the pytest layer, and no import circle exists between modules."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "pytest_autotune"
PLUGIN = "pytest_autotune.plugin"
#: what only the pytest layer may import (pytest itself, its internals, its plugin machinery)
PYTEST_WORLD = ("pytest", "_pytest", "pluggy", "xdist")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # what it imports: a module of the package when it names one
    line: int
    typing_only: bool  # under ``if TYPE_CHECKING:``


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(module: str, path: Path) -> Iterator[Import]:
    """Every import statement of a module, at any depth (functions included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    typing_blocks = [n for n in ast.walk(tree) if isinstance(n, ast.If)
                     and "TYPE_CHECKING" in ast.unparse(n.test)]
    typing_lines = {line for block in typing_blocks for child in block.body
                    for line in range(child.lineno, (child.end_lineno or child.lineno) + 1)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            # ``from pkg import module`` imports that module; ``from module import name`` the module
            targets = [f"{source}.{a.name}" if f"{source}.{a.name}" in MODULES else source
                       for a in node.names]
        else:
            continue
        for target in targets:
            typing_only = node.lineno in typing_lines
            yield Import(module, target, node.lineno, typing_only)
            # importing a.b.c runs a/__init__.py and a/b/__init__.py first
            parent = target.rpartition(".")[0]
            while parent in MODULES and parent != package:
                yield Import(module, parent, node.lineno, typing_only)
                parent = parent.rpartition(".")[0]


IMPORTS = [i for m, p in MODULES.items() for i in imports_of(m, p)]


def in_plugin(module: str) -> bool:
    return module == PLUGIN or module.startswith(PLUGIN + ".")


def test_only_the_plugin_folder_imports_pytest() -> None:
    found = [f"{MODULES[i.module].relative_to(ROOT)}:{i.line} imports {i.target}"
             for i in IMPORTS if i.target.split(".")[0] in PYTEST_WORLD and not in_plugin(i.module)]
    assert not found, "pytest is imported outside pytest_autotune/plugin/:\n" + "\n".join(found)


def test_the_core_never_imports_the_pytest_layer() -> None:
    found = [f"{MODULES[i.module].relative_to(ROOT)}:{i.line} imports {i.target}"
             for i in IMPORTS if in_plugin(i.target) and not in_plugin(i.module)]
    assert not found, "the core imports pytest_autotune.plugin:\n" + "\n".join(found)


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_circles_finds_a_circle_and_only_a_circle() -> None:
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set(), "c": {"b"}}) == []


def lazy_name(i: Import) -> bool:
    """A package's ``__init__`` naming, for type checkers, what its ``__getattr__`` loads from
    its own modules on first use (``cases/``): the package imports nothing itself."""
    return (i.typing_only and MODULES[i.module].name == "__init__.py"
            and i.target.startswith(i.module + "."))


def test_no_import_circle_between_modules() -> None:
    """Imports at any depth count (a function-level import that closes a circle is still one),
    and so do imports for type checking only: a module that names another's type depends on
    it, so the plugins are handed values, not the session that made them."""
    edges: dict[str, set[str]] = {}
    for i in IMPORTS:
        if i.target in MODULES and i.target != i.module and not lazy_name(i):
            edges.setdefault(i.module, set()).add(i.target)
    assert circles(edges) == []


def test_the_plugins_never_import_the_session() -> None:
    """The baseline gate, the live progress, the xdist hooks and the default hooks get a
    ``RunContext``; not even a type checker sees them reach back for the session."""
    plugins = {f"{PLUGIN}.{name}" for name in ("baseline", "progress", "workers", "defaults",
                                               "context")}
    found = [f"{MODULES[i.module].relative_to(ROOT)}:{i.line}" for i in IMPORTS
             if i.module in plugins and i.target == f"{PLUGIN}.session"]
    assert not found, "imports pytest_autotune.plugin.session: " + ", ".join(found)


CORE = sorted(m for m in MODULES if "." in m and not in_plugin(m) and not m.endswith("__main__"))


def test_importing_the_core_loads_no_pytest() -> None:
    """What the static check sees, checked at run time in one fresh interpreter: importing every
    core module (and what it imports in turn) leaves pytest unloaded; the first module that
    loads it is named."""
    code = ("import importlib, sys\n"
            f"for name in {CORE!r}:\n"
            "    importlib.import_module(name)\n"
            "    top = {m.split('.')[0] for m in sys.modules}\n"
            f"    loaded = sorted(top & {set(PYTEST_WORLD)!r})\n"
            "    if loaded:\n"
            "        print(name, loaded)\n"
            "        break\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,  # noqa: S603
                         timeout=120, check=False, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "", f"importing the core loads pytest: {out.stdout.strip()}"
