"""The scenario and workload-point grammar, in one place.

genai-bench names traffic scenarios ``D(100,100)``, ``N(480,240)/(300,150)`` and ``U(10,20)``;
a workload point is a scenario at one concurrency, ``D(100,100)-c16``. Case validation, item ids,
``-k`` aliases and xdist's grouping of a configuration's items all read these forms from here,
so a new scenario form cannot be accepted by one and misread by another.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

SCENARIO_PATTERNS = {
    "D": re.compile(r"^D\(\d+,\d+\)$"),
    "N": re.compile(r"^N\(\d+,\d+\)/\(\d+,\d+\)$"),
    "U": re.compile(r"^U\(\d+,\d+\)(?:/\(\d+,\d+\))?$"),
}
SCENARIO_HELP = (
    "genai-bench text scenarios: D(input,output) e.g. D(100,100); "
    "N(mean_in,std_in)/(mean_out,std_out) e.g. N(480,240)/(300,150); "
    "U(min_in,max_in)/(min_out,max_out) or U(max_in,max_out)"
)
#: any scenario form inside a longer text (ids, -k expressions)
_SCENARIO_IN_TEXT = re.compile(r"\b([DNU])\((\d+),\s*(\d+)\)(?:/\((\d+),\s*(\d+)\))?")
#: the workload-point part of an item id, optionally preceded by the '-' that joins it to a
#: configuration id inside brackets
_POINT = re.compile(r"-?[DNU]\([\d,]+\)(?:/\([\d,]+\))?-c\d+")
POINT_SUFFIX = "-c"
#: a configuration's capacity item: ``capacity-D(1000,200)``
_CAPACITY = re.compile(r"capacity-[DNU]\([\d,]+\)(?:/\([\d,]+\))?")


def canonical_scenario(text: str) -> str:
    """``"D(100, 100)"`` → ``"D(100,100)"``; ValueError naming the accepted forms."""
    if not isinstance(text, str):
        raise ValueError(f"a scenario is a string such as 'D(100,100)', got {text!r}")
    compact = re.sub(r"\s+", "", text)
    pattern = SCENARIO_PATTERNS.get(compact[:1])
    if pattern is None or not pattern.match(compact):
        raise ValueError(f"bad traffic scenario {text!r}: expected {SCENARIO_HELP}")
    return compact


def point_id(scenario: str, concurrency: int) -> str:
    """``D(100,100)`` at 16 → ``D(100,100)-c16``."""
    return f"{scenario}{POINT_SUFFIX}{concurrency}"


def is_point_id(text: str) -> bool:
    """A workload point's id (``D(100,100)-c16``) or a capacity item's
    (``capacity-D(100,100)``): the last part of an item id below its configuration."""
    return _POINT.fullmatch(text) is not None or _CAPACITY.fullmatch(text) is not None


# -- -k aliases --------------------------------------------------------------------------------
# pytest's -k grammar cannot spell '=' or 'D(…)': every autotune item also answers to an alias
# with '=' written ':' and scenarios written as genai-bench names its files (D100_100), and -k
# expressions using '=' or scenario strings (invalid for pytest anyway) are rewritten to them.


def _file_name_form(match: re.Match[str]) -> str:
    return match.group(1) + "_".join(g for g in match.groups()[1:] if g is not None)


def alias(name: str) -> str:
    """``chat[mem-fraction-static=0.8]`` → ``chat[mem-fraction-static:0.8]``;
    ``N(480,240)/(300,150)-c4`` → ``N480_240_300_150-c4``."""
    return _SCENARIO_IN_TEXT.sub(_file_name_form, name).replace("=", ":")


def rewrite_expression(expr: str) -> str:
    """``mem-fraction-static=0.8 and D(100,100)`` → ``mem-fraction-static:0.8 and D100_100``."""
    return alias(expr)


def aliases(names: Iterable[str]) -> set[str]:
    return {a for a in (alias(n) for n in names) if a}


# -- xdist scheduling scope ----------------------------------------------------------------------


def configuration_scope(nodeid: str) -> str:
    """The scheduling scope of an item: its configuration (or trial slot), or itself.

    ``chat.yaml::mem-fraction-static=0.8::D(100,100)-c16`` → ``chat.yaml::mem-fraction-static=0.8``
    ``chat.yaml::trial-07::D(100,100)-c16`` → ``chat.yaml::trial-07``
    ``test_x.py::test_x[tp-size=2-D(100,100)-c16]`` → ``test_x.py::test_x[tp-size=2]``
    """
    head, sep, last = nodeid.rpartition("::")
    if sep and is_point_id(last):
        return head
    if nodeid.endswith("]") and "[" in nodeid:
        base, _, params = nodeid[:-1].partition("[")
        if _POINT.search(params):
            return f"{base}[{_POINT.sub('', params).strip('-')}]"
    return nodeid
