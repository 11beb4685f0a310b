"""Malformed tuning cases, generated: whatever a YAML case, a seed task JSON or marker keyword
arguments hold, loading them gives a Case or one ConfigError that names the file and the field,
never another exception (which pytest would show as an INTERNALERROR or a traceback)."""

from __future__ import annotations

import copy
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_autotune.cases import case_from_marker, load_case_file
from pytest_autotune.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
GOOD: dict[str, Any] = {
    "name": "chat",
    "model": {"path": "meta-llama/Llama-3.2-1B-Instruct"},
    "parameters": {"mem-fraction-static": [0.8, 0.9], "schedule-policy": ["fcfs", "lpm"],
                   "max-running-requests": {"low": 8, "high": 64, "step": 8},
                   "chunked-prefill-size": {"low": 512, "high": 8192, "log": True}},
    "search": {"strategy": "random", "trials": 4, "seed": 1},
    "flags": {"stream-interval": 2},
    "workload": {"scenarios": ["D(100,100)"], "concurrency": [1, 8], "max_requests": 16},
    "slo": ["ttft.p99 <= 200ms", {"expr": "error_rate <= 1%", "soft": True}],
    "sim": {"gpu": "h100"},
}
SEED: dict[str, Any] = json.loads((ROOT / "fixtures" / "seed" / "docker-simple-tune.json")
                                  .read_text())
#: the messages of problems that concern the whole document rather than one field
WHOLE_DOCUMENT = ("a tuning case is a mapping", "not valid YAML", "not valid JSON")

scalars = (st.none() | st.booleans() | st.integers(-10**6, 10**6)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20)
           | st.sampled_from(["", "-1", "0", "1e9", "200ms", "D(0,0)", "ttft.p99", "fcfs",
                              "ttft.p99 <= -1s", "x <= 1", "error_rate >= 200%"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=8)


def paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key and index path into ``doc``."""
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for key, value in doc.items():
            out += paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            out += paths(value, (*prefix, i))
    return out


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """``base`` with one to three of its fields replaced, removed, or given a stray sibling."""
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        candidates = paths(doc)
        if not candidates:
            break
        path = draw(st.sampled_from(candidates))
        parent: Any = doc
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "remove", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(values)
        elif action == "remove":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=12))] = draw(values)
        else:
            parent.append(draw(values))
    return doc


def check(load: Callable[[], object], source: str) -> None:
    try:
        load()
    except ConfigError as exc:
        text = str(exc)
        assert text.startswith(source), text
        assert exc.field or "problems in this tuning case" in text or any(
            m in text for m in WHOLE_DOCUMENT), text


FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def test_the_cases_the_mutations_start_from_load(tmp_path: Path) -> None:
    """Mutations of valid documents reach every check, not only the first one."""
    (tmp_path / "case.yaml").write_text(yaml.safe_dump(GOOD))
    assert load_case_file(tmp_path / "case.yaml").name == "chat"
    (tmp_path / "task.json").write_text(json.dumps(SEED))
    load_case_file(tmp_path / "task.json")


@pytest.mark.filterwarnings("ignore::pytest_autotune.errors.AutotuneWarning")
@FUZZ
@given(doc=mutated(GOOD))
def test_a_malformed_yaml_case_is_a_config_error_naming_file_and_field(
    doc: dict[str, Any],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "case.yaml"
        path.write_text(yaml.safe_dump(doc, allow_unicode=True))
        check(lambda: load_case_file(path), str(path))


@pytest.mark.filterwarnings("ignore::pytest_autotune.errors.AutotuneWarning")
@FUZZ
@given(doc=mutated(SEED))
def test_a_malformed_seed_task_is_a_config_error_naming_file_and_field(
    doc: dict[str, Any],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "task.json"
        path.write_text(json.dumps(doc))
        check(lambda: load_case_file(path), str(path))


@pytest.mark.filterwarnings("ignore::pytest_autotune.errors.AutotuneWarning")
@FUZZ
@given(doc=mutated(GOOD))
def test_malformed_marker_arguments_are_a_config_error_naming_the_test(
    doc: dict[str, Any],
) -> None:
    doc.pop("case", None)  # a case file is another path, tested above
    check(lambda: case_from_marker(doc, source="test_x.py::test_chat", default_name="chat",
                                   base_dir=ROOT), "test_x.py::test_chat")


@FUZZ
@given(text=st.text(max_size=200))
def test_any_text_is_a_case_or_a_config_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "case.yaml"
        path.write_text(text, encoding="utf-8")
        check(lambda: load_case_file(path), str(path))
