"""Line numbers for fields of YAML/JSON documents, and pydantic errors rendered as ConfigError."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from typing import Any

import yaml
from pydantic import ValidationError

from ..errors import ConfigError

Path = tuple[str | int, ...]
Locator = Callable[[Path], "int | None"]


def line_map(text: str) -> dict[Path, int]:
    """Map each field path (``("workload", "concurrency", 1)``) to its 1-based line."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    lines: dict[Path, int] = {}

    def walk(node: yaml.Node, path: Path) -> None:
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
                lines[path + (key,)] = key_node.start_mark.line + 1
                walk(value_node, path + (key,))
                lines[path + (key,)] = key_node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, path + (i,))

    if root is not None:
        walk(root, ())
    return lines


def locator(text: str) -> Locator:
    lines = line_map(text)

    def find(path: Path) -> int | None:
        for end in range(len(path), -1, -1):
            if path[:end] in lines:
                return lines[path[:end]]
        return None

    return find


def no_lines(path: Path) -> int | None:
    return None


def dotted(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _data_path(loc: Sequence[str | int], data: Any) -> Path:
    """Cut pydantic's union/type tags (``'list[...]'``, ``'str'``) out of an error location."""
    path: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and not path_is_tag(part):
            path.append(part)  # a missing or extra key
            node = None
        else:
            continue
    return tuple(path)


def path_is_tag(part: str) -> bool:
    return any(ch in part for ch in "[]") or part in {
        "str", "int", "float", "bool", "list", "dict", "function-after", "function-before",
        "SLOSpec",
    }


def _message(error: dict[str, Any], path: Path, data: Any, allowed: Sequence[str]) -> str:
    kind = error["type"]
    msg = str(error["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if kind == "extra_forbidden":
        key = str(path[-1]) if path else "?"
        close = difflib.get_close_matches(key, list(allowed), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown key {key!r}{hint} (allowed: {', '.join(allowed)})"
    if kind == "missing":
        return "required field is missing"
    if kind in ("list_type", "int_type", "float_type", "string_type", "bool_type", "dict_type",
                "int_parsing", "float_parsing", "bool_parsing", "int_from_float"):
        return f"{msg}, got {error.get('input')!r}"
    return msg


class Problems:
    """Every problem found in one case, each at its field: one ConfigError lists them all, so a
    file with four mistakes takes one round of fixing, not four."""

    def __init__(self, source: str, locate: Locator, prefix: Path = ()) -> None:
        self.source = source
        self.locate = locate
        self.prefix = prefix
        self.items: list[tuple[Path, str]] = []

    def add(self, path: Path, message: str) -> None:
        self.items.append((path, message))

    def __bool__(self) -> bool:
        return bool(self.items)

    def error(self) -> ConfigError:
        """One problem as ``file:line: field: message``; several as a list under one header."""
        first_path, first_msg = self.items[0]
        full = (*self.prefix, *first_path)
        if len(self.items) == 1:
            return ConfigError(first_msg, source=self.source, field=dotted(full) or None,
                               line=self.locate(full))
        lines = [f"{len(self.items)} problems in this tuning case:"]
        for path, msg in self.items:
            where = (*self.prefix, *path)
            line = self.locate(where)
            at = f"line {line}, " if line else ""
            lines.append(f"  - {at}{dotted(where) or '(top level)'}: {msg}")
        return ConfigError("\n".join(lines), source=self.source, line=self.locate(full))

    def check(self) -> None:
        """Raise the error listing every problem, if there is any."""
        if self.items:
            raise self.error()


def problems_of(
    exc: ValidationError,
    data: Any,
    *,
    source: str,
    locate: Locator,
    allowed_keys: Callable[[Path], Sequence[str]],
    prefix: Path = (),
) -> Problems:
    """Every problem pydantic found, each at its field (to add others to before raising)."""
    problems = Problems(source, locate, prefix)
    seen: set[Path] = set()
    for error in exc.errors():
        path = _data_path(error["loc"], data)
        if path in seen:  # a union reports one error per branch: keep the first
            continue
        seen.add(path)
        problems.add(path, _message(dict(error), path, data, allowed_keys(path[:-1])))
    return problems
