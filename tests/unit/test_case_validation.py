"""Every class of bad tuning case gives one ConfigError naming the file, the field (and line)
and what is allowed — never a traceback from the plugin's internals."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pytest_autotune.cases import load_case_file
from pytest_autotune.errors import AutotuneWarning, ConfigError

ROOT = Path(__file__).resolve().parents[2]
GOOD = """\
name: chat
model:
  path: meta-llama/Llama-3.2-1B-Instruct
parameters:
  mem-fraction-static: [0.8, 0.9]
workload:
  scenarios: ["D(100,100)"]
  concurrency: [1, 8]
slo:
  - ttft.p99 <= 200ms
"""


def write(tmp_path: Path, text: str, name: str = "case.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def error_for(tmp_path: Path, text: str, name: str = "case.yaml") -> ConfigError:
    path = write(tmp_path, text, name)
    with pytest.raises(ConfigError) as info:
        load_case_file(path)
    return info.value


def test_the_good_case_loads(tmp_path: Path) -> None:
    case = load_case_file(write(tmp_path, GOOD))
    assert [c.id for c in case.configurations] == [
        "mem-fraction-static=0.8", "mem-fraction-static=0.9"]
    assert case.workload.points()[1].id == "D(100,100)-c8"


BAD = [
    # (id, replace old → new, expected field, expected line, words the message must contain)
    ("wrong-type-concurrency", ("concurrency: [1, 8]", "concurrency: eight"),
     "workload.concurrency", 8, ["whole number", "eight"]),
    ("negative-concurrency", ("concurrency: [1, 8]", "concurrency: [1, -4]"),
     "workload.concurrency", 8, ["≥ 1", "-4"]),
    ("zero-concurrency", ("concurrency: [1, 8]", "concurrency: [0]"),
     "workload.concurrency", 8, ["≥ 1"]),
    ("unknown-top-key", ("slo:\n", "slos:\n"), "slos", 9, ["unknown key", "did you mean 'slo'"]),
    ("unknown-nested-key", ("  concurrency: [1, 8]", "  concurrency: [1, 8]\n  max_request: 5"),
     "workload.max_request", 9, ["unknown key", "max_requests"]),
    ("empty-grid", ("mem-fraction-static: [0.8, 0.9]", "mem-fraction-static: []"),
     "parameters.mem-fraction-static", 5, ["empty list"]),
    ("bad-scenario", ('scenarios: ["D(100,100)"]', 'scenarios: ["D(100)"]'),
     "workload.scenarios", 7, ["bad traffic scenario", "D(input,output)"]),
    ("bad-scenario-kind", ('scenarios: ["D(100,100)"]', 'scenarios: ["X(1,2)"]'),
     "workload.scenarios", 7, ["bad traffic scenario"]),
    ("bad-slo-expression", ("ttft.p99 <= 200ms", "ttft.p99 is small"),
     "slo[0]", 10, ["cannot parse SLO", "metric.stat op value"]),
    ("unknown-slo-metric", ("ttft.p99 <= 200ms", "tfft.p99 <= 200ms"),
     "slo[0]", 10, ["unknown metric 'tfft'"]),
    ("unknown-slo-stat", ("ttft.p99 <= 200ms", "ttft.p42 <= 200ms"),
     "slo[0]", 10, ["unknown statistic 'p42'"]),
    ("bad-unit", ("ttft.p99 <= 200ms", "ttft.p99 <= 200 parsecs"),
     "slo[0]", 10, ["bad value", "200ms"]),
    ("slo-without-unit", ("ttft.p99 <= 200ms", "ttft.p99 <= 200"),
     "slo[0]", 10, ["has no unit", "write 200ms or 200s", "ms", "%", "tok/s"]),
    ("bad-duration-unit", ("concurrency: [1, 8]", "concurrency: [1, 8]\n  max_time: 3 fortnights"),
     "workload.max_time", 9, ["'2m'"]),
    ("unknown-objective", ("slo:\n", "objective: fastest\nslo:\n"),
     "objective", 9, ["unknown objective 'fastest'", "max_output_throughput"]),
    ("unknown-flag", ("mem-fraction-static: [0.8, 0.9]", "mem-fraction-statik: [0.8]"),
     "parameters.mem-fraction-statik", 5, ["unknown SGLang flag", "--mem-fraction-static",
                                           "extra_args"]),
    ("bad-choice", ("mem-fraction-static: [0.8, 0.9]", "schedule-policy: [fcfs, lmp]"),
     "parameters.schedule-policy[1]", 5, ["must be one of", "did you mean 'lpm'"]),
    ("flag-out-of-range", ("mem-fraction-static: [0.8, 0.9]", "mem-fraction-static: [0.8, 1.5]"),
     "parameters.mem-fraction-static[1]", 5, ["≤ 0.99"]),
    ("wrong-flag-type", ("mem-fraction-static: [0.8, 0.9]", "tp-size: [one]"),
     "parameters.tp-size[0]", 5, ["integer"]),
    ("managed-flag", ("mem-fraction-static: [0.8, 0.9]", "port: [8000]"),
     "parameters.port", 5, ["cannot be tuned"]),
    ("missing-model", ("model:\n  path: meta-llama/Llama-3.2-1B-Instruct\n", ""),
     "model", None, ["required field is missing"]),
    ("missing-workload-field", ('  scenarios: ["D(100,100)"]\n', ""),
     "workload", None, ["scenarios is missing", "go together"]),
    ("bad-gpu-kind", ("slo:\n", "sim:\n  gpu: rtx4090\nslo:\n"),
     "sim.gpu", 10, ["unknown GPU", "h100"]),
    ("duplicate-value", ("mem-fraction-static: [0.8, 0.9]", "mem-fraction-static: [0.8, 0.8]"),
     "parameters.mem-fraction-static[1]", 5, ["repeats"]),
    ("same-flag-twice", ("mem-fraction-static: [0.8, 0.9]",
                         "mem-fraction-static: [0.8]\n  mem_frac: [0.9]"),
     "parameters.mem_frac", 6, ["given twice"]),
    ("bad-case-name", ("name: chat", "name: chat room!"), "name", 1, ["letters, digits"]),
    ("bad-ratio", ("concurrency: [1, 8]", "concurrency: [1, 8]\n  warmup_ratio: 1.5"),
     "workload.warmup_ratio", 9, ["less than 1"]),
]


@pytest.mark.parametrize(("old_new", "field", "line", "words"),
                         [pytest.param(b[1], b[2], b[3], b[4], id=b[0]) for b in BAD])
def test_bad_case_is_one_clear_error(
    tmp_path: Path, old_new: tuple[str, str], field: str, line: int | None, words: list[str]
) -> None:
    old, new = old_new
    assert old in GOOD
    error = error_for(tmp_path, GOOD.replace(old, new, 1))
    text = str(error)
    assert str(tmp_path / "case.yaml") in text, text
    assert field in text, text
    if line is not None:
        assert error.line == line, text
    for word in words:
        assert word in text, text
    assert "Traceback" not in text and "pydantic" not in text.lower()


def test_not_yaml_names_the_line(tmp_path: Path) -> None:
    error = error_for(tmp_path, "name: x\nworkload: [unclosed\n")
    assert error.line == 3 and "not valid YAML" in str(error)


def test_not_a_mapping(tmp_path: Path) -> None:
    error = error_for(tmp_path, "- just\n- a list\n")
    assert "a tuning case is a mapping" in str(error)


def test_several_problems_are_listed_together(tmp_path: Path) -> None:
    text = GOOD.replace("concurrency: [1, 8]", "concurrency: [0]\n  bogus: 1")
    error = error_for(tmp_path, text)
    assert "2 problems" in str(error)
    assert "line 8, workload.concurrency" in str(error)
    assert "line 9, workload.bogus" in str(error)


def test_every_semantic_problem_is_listed_at_once(tmp_path: Path) -> None:
    """Four mistakes that only the case's meaning reveals (not its structure): one error, one
    round of fixing."""
    error = error_for(tmp_path, """\
        name: chat
        model: {path: meta-llama/Llama-3.2-1B-Instruct}
        objective: fastest
        flags:
          mem-fraction-statc: 0.8
        parameters:
          schedule-policy: [fcfs, sideways]
          cuda-graph-max-bs: [16, 16]
        workload: {scenarios: ["D(100,100)"], concurrency: [1]}
        slo:
          - ttft.p99 <= 200ms
          - tfft.p99 <= 1s
    """)
    text = str(error)
    assert text.startswith(f"{tmp_path / 'case.yaml'}:3: 5 problems in this tuning case:")
    for expected in ("line 3, objective: unknown objective 'fastest'",
                     "line 5, flags.mem-fraction-statc: ",
                     "line 7, parameters.schedule-policy[1]: ",
                     "line 8, parameters.cuda-graph-max-bs[1]: value 16 repeats",
                     "line 12, slo[1]: unknown metric 'tfft'"):
        assert expected in text, text
    assert "mem-fraction-static" in text  # the closest flag, suggested


def test_an_unknown_key_does_not_hide_the_semantic_problems(tmp_path: Path) -> None:
    """A typo in a key used to stop the check before the flags and SLOs were read: each round
    of fixing found one more mistake. Now one error lists them all, in the file's order."""
    error = error_for(tmp_path, """\
        name: chat
        model: {path: meta-llama/Llama-3.2-1B-Instruct}
        objective: fastest
        parameters:
          cuda-graph-max-bs: [16, eight]
          schedule-policy: [fifo]
        workload:
          scenarios: ["D(100,100)"]
          concurency: [1, 8]
        slo:
          - ttft.p90 <= 500
    """)
    text = str(error)
    assert text.startswith(f"{tmp_path / 'case.yaml'}:3: 5 problems in this tuning case:"), text
    expected = ["line 3, objective: unknown objective 'fastest'",
                "line 5, parameters.cuda-graph-max-bs[1]: ",
                "line 6, parameters.schedule-policy[0]: ",
                "line 9, workload.concurency: unknown key 'concurency'; did you mean "
                "'concurrency'?",
                "line 11, slo[0]: SLO 'ttft.p90 <= 500' has no unit"]
    for line in expected:
        assert line in text, text
    assert [text.index(line) for line in expected] == sorted(text.index(line)
                                                             for line in expected)


def test_a_section_of_the_wrong_shape_is_reported_once(tmp_path: Path) -> None:
    """Its meaning is not checked (there is none to check): one problem per mistake."""
    error = error_for(tmp_path, GOOD.replace("mem-fraction-static: [0.8, 0.9]",
                                             "mem-fraction-statik: [0.8]")
                      .replace("slo:\n  - ttft.p99 <= 200ms", "slo: 7\nbogus: 1"))
    text = str(error)
    assert "3 problems" in text, text
    assert "parameters.mem-fraction-statik" in text and "unknown key 'bogus'" in text
    assert text.count("line 9, slo") == 1 and "valid list" in text, text


def test_a_marker_lists_every_problem_too() -> None:
    from pytest_autotune.cases.load import case_from_marker

    with pytest.raises(ConfigError) as info:
        case_from_marker({"model": {"path": "m"}, "parameters": {"schedule-policy": ["fifo"]},
                          "workload": {"scenarios": ["D(1,1)"], "concurency": [1]}},
                         source="test_x.py", default_name="x", base_dir=ROOT)
    text = str(info.value)
    assert "2 problems" in text and "schedule-policy" in text and "concurency" in text


def test_maximize_throughput_in_yaml_means_the_highest_output_throughput(tmp_path: Path) -> None:
    """The earlier tool's negated score of that name stays with its task files."""
    case = load_case_file(write(tmp_path, GOOD + "objective: maximize_throughput\n"))
    assert case.objective == "max_output_throughput"
    seed = load_case_file(ROOT / "fixtures" / "seed" / "slo-throughput-tune.json")
    assert seed.objective == "maximize_throughput"


def test_endpoint_case_may_not_tune(tmp_path: Path) -> None:
    error = error_for(tmp_path, GOOD + "endpoint: http://10.0.0.1:30000\n")
    assert "endpoint" in str(error) and "cannot set parameters" in str(error)


def test_extra_args_escape_hatch_is_passed_verbatim(tmp_path: Path) -> None:
    case = load_case_file(write(tmp_path, GOOD + "extra_args: ['--some-new-flag', '7']\n"))
    assert case.extra_args == ("--some-new-flag", "7")


def test_keys_with_underscores_aliases_and_prefixes_normalise(tmp_path: Path) -> None:
    text = GOOD.replace("mem-fraction-static: [0.8, 0.9]",
                        "mem_frac: [0.8]\n  tp: [1]\n  --schedule_policy: [lpm]\n"
                        "  chunked-prefill: [4096]")
    case = load_case_file(write(tmp_path, text))
    config = case.configurations[0]
    assert dict(config.params) == {
        "mem-fraction-static": 0.8, "tp-size": 1, "schedule-policy": "lpm",
        "chunked-prefill-size": 4096}
    assert config.labelled() == {"mem_frac": 0.8, "tp": 1, "--schedule_policy": "lpm",
                                 "chunked-prefill": 4096}


SEED = Path(__file__).resolve().parents[2] / "fixtures" / "seed" / "legacy-choice-tune.json"


def test_a_seed_choice_without_values_is_an_error_naming_the_parameter(tmp_path: Path) -> None:
    text = SEED.read_text().replace('"values": [0.75, 0.85]', '"values": []')
    error = error_for(tmp_path, text, "task.json")
    assert "parameters.mem_frac" in str(error) and "has no values" in str(error)
    assert str(tmp_path / "task.json") in str(error)


def test_a_seed_empty_list_is_left_out_and_said(tmp_path: Path) -> None:
    text = SEED.read_text().replace('{"type": "choice", "values": [0.75, 0.85]}', "[]")
    with pytest.warns(AutotuneWarning, match=r"parameters\.mem_frac lists no values"):
        case = load_case_file(write(tmp_path, text, "task.json"))
    assert all("mem-fraction-static" not in dict(c.params) for c in case.configurations)
