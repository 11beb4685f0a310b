from __future__ import annotations

from pytest_autotune.bench.plan import plan
from pytest_autotune.cases.grammar import alias, rewrite_expression
from pytest_autotune.values import WorkloadPoint as P


def test_full_grid_is_one_invocation() -> None:
    points = [P(s, c) for s in ("D(100,100)", "D(1000,200)") for c in (1, 8, 32)]
    [inv] = plan(points)
    assert inv.scenarios == ("D(100,100)", "D(1000,200)") and inv.concurrency == (1, 8, 32)


def test_ragged_selection_packs_by_concurrency_set() -> None:
    points = [P("A(1)", 1), P("A(1)", 8), P("B(2)", 1), P("B(2)", 8), P("C(3)", 32)]
    invs = plan(points)
    assert [(i.scenarios, i.concurrency) for i in invs] == [
        (("A(1)", "B(2)"), (1, 8)), (("C(3)",), (32,))]
    assert sorted(p for i in invs for p in i.points) == sorted(points)


def test_keyword_aliases_and_rewrites() -> None:
    assert alias("chat[mem-fraction-static=0.8]") == "chat[mem-fraction-static:0.8]"
    assert alias("N(480,240)/(300,150)-c4") == "N480_240_300_150-c4"
    assert rewrite_expression("mem-fraction-static=0.8 and D(100,100)") == \
        "mem-fraction-static:0.8 and D100_100"
    assert rewrite_expression("not slow") == "not slow"
