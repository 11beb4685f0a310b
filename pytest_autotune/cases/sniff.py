"""Is this file a tuning case? (cheap: no pydantic, used for every YAML/JSON file collected)"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

CASE_SUFFIXES = (".yaml", ".yml", ".json")
_MAX_BYTES = 1 << 20
_HINT = re.compile(r"^\s*[\"']?(workload|task_name)[\"']?\s*:", re.M)


def _load(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        return json.loads(text)
    import yaml

    return yaml.safe_load(text)


def is_case_document(path: Path) -> bool:
    """A mapping with ``workload`` (+ ``model``/``parameters``) or a seed task (``task_name``)."""
    if path.suffix not in CASE_SUFFIXES:
        return False
    try:
        if path.stat().st_size > _MAX_BYTES:
            return False
        data = _load(path)
    except Exception:
        # a broken file that *looks* like a case must still be reported, not silently skipped
        try:
            head = path.read_text(encoding="utf-8", errors="replace")[:4096]
        except OSError:
            return False
        return bool(_HINT.search(head))
    if not isinstance(data, dict):
        return False
    if "task_name" in data:
        return "parameters" in data or "benchmark" in data
    return "workload" in data and ("model" in data or "parameters" in data)
