from __future__ import annotations

import pytest

from pytest_autotune.cases.grammar import configuration_scope


@pytest.mark.parametrize(("nodeid", "scope"), [
    ("cases/chat.yaml::mem-fraction-static=0.8::D(100,100)-c16",
     "cases/chat.yaml::mem-fraction-static=0.8"),
    ("cases/t.json::tp-size=2::N(480,240)/(300,150)-c4", "cases/t.json::tp-size=2"),
    ("test_x.py::test_x[mem-fraction-static=0.8-D(100,100)-c16]",
     "test_x.py::test_x[mem-fraction-static=0.8]"),
    ("test_x.py::test_x[default-U(10,20)-c1]", "test_x.py::test_x[default]"),
    ("test_plain.py::test_plain[1-2]", "test_plain.py::test_plain[1-2]"),
    ("test_plain.py::test_other", "test_plain.py::test_other"),
    ("cases/chat.yaml::trial-07::U(10,20)/(5,6)-c2", "cases/chat.yaml::trial-07"),
])
def test_items_of_one_configuration_share_a_scope(nodeid: str, scope: str) -> None:
    assert configuration_scope(nodeid) == scope
