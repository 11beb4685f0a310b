"""Collection: ids, selection, errors, options — nothing is deployed here."""

from __future__ import annotations

import textwrap

import pytest


def test_help_lists_the_options(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines([
        "pytest-autotune: tune and guard inference servers:",
        "*--autotune-mode=MODE*where servers run: sim, local, docker,*",
        "*estimate*mode a plugin adds (default: sim, the*",
        "*--autotune-results-dir=DIR*",
        "  autotune_mode (string):",
    ])


def test_collect_only_lists_configuration_by_point(tuning_dir: pytest.Pytester) -> None:
    result = tuning_dir.runpytest("tuning_cases", "--collect-only", "-q")
    result.stdout.fnmatch_lines([
        "tuning_cases/chat.yaml::mem-fraction-static=0.8-schedule-policy=fcfs"
        "::D(100,100)-c1",
        "tuning_cases/chat.yaml::mem-fraction-static=0.9-schedule-policy=lpm"
        "::D(1000,200)-c16",
        "16 tests collected*",
    ])
    assert result.ret == 0


@pytest.mark.parametrize(("expr", "count"), [
    ("mem-fraction-static=0.8", 8),
    ("mem-fraction-static=0.8 and schedule-policy=lpm", 4),
    ("D(1000,200) and c16", 4),
    ("D1000_200", 8),
    ("not c16", 8),
])
def test_k_selects_by_parameter_and_point(tuning_dir: pytest.Pytester, expr: str,
                                          count: int) -> None:
    result = tuning_dir.runpytest("tuning_cases", "--collect-only", "-q", "-k", expr)
    result.stdout.fnmatch_lines([f"{count}/16 tests collected*"])


def test_case_file_given_directly(tuning_dir: pytest.Pytester) -> None:
    result = tuning_dir.runpytest("tuning_cases/chat.yaml", "--collect-only", "-q")
    result.stdout.fnmatch_lines(["16 tests collected*"])


def test_yaml_that_is_not_a_case_is_ignored_in_a_directory(tuning_dir: pytest.Pytester) -> None:
    (tuning_dir.path / "tuning_cases" / "compose.yaml").write_text("services: {web: {}}\n")
    result = tuning_dir.runpytest("tuning_cases", "--collect-only", "-q")
    result.stdout.fnmatch_lines(["16 tests collected*"])


def test_bad_case_is_a_collection_error_naming_file_line_field(
    tuning_dir: pytest.Pytester, case_text: str
) -> None:
    bad = case_text.replace("concurrency: [1, 16]", "concurrency: [1, -16]")
    (tuning_dir.path / "tuning_cases" / "chat.yaml").write_text(bad)
    result = tuning_dir.runpytest("tuning_cases", "--collect-only", "-q")
    result.stdout.fnmatch_lines([
        "*ERROR collecting tuning_cases/chat.yaml*",
        "invalid tuning case: tuning_cases/chat.yaml:9: workload.concurrency: "
        "concurrency levels must be ≥ 1, got -16",
    ])
    assert "Traceback" not in result.stdout.str()
    assert result.ret == pytest.ExitCode.INTERRUPTED


def test_unknown_mode_is_a_usage_error_listing_valid_modes(tuning_dir: pytest.Pytester) -> None:
    result = tuning_dir.runpytest("tuning_cases", "--autotune-mode=kubernetes")
    result.stderr.fnmatch_lines([
        "*--autotune-mode: unknown mode 'kubernetes'; valid modes: sim, local, docker, ome, "
        "endpoint*"
    ])
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_settings_precedence_cli_env_ini_default(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_autotune.plugin.session import get_session

    pytester.makeini("[pytest]\nautotune_results_dir = from-ini\nautotune_sim_gpus = 4\n")
    config = pytester.parseconfigure()
    settings = get_session(config).settings
    assert settings.results_dir.name == "from-ini" and settings.sim_gpus == 4
    assert settings.storage.name == ".autotune" and settings.mode == "sim"
    monkeypatch.setenv("AUTOTUNE_RESULTS_DIR", "from-env")
    assert get_session(pytester.parseconfigure()).settings.results_dir.name == "from-env"
    config = pytester.parseconfigure("--autotune-results-dir", "from-cli")
    assert get_session(config).settings.results_dir.name == "from-cli"
    monkeypatch.setenv("AUTOTUNE_SIM_GPUS", "zero")
    with pytest.raises(pytest.UsageError, match="environment variable AUTOTUNE_SIM_GPUS"):
        pytester.parseconfigure()


def test_bool_option_from_ini(pytester: pytest.Pytester) -> None:
    from pytest_autotune.plugin.session import get_session

    pytester.makeini("[pytest]\nautotune_strict = true\n")
    assert get_session(pytester.parseconfigure()).settings.strict is True


def test_too_many_gpus_is_skipped_at_collection(tuning_dir: pytest.Pytester) -> None:
    case = textwrap.dedent("""\
        name: big
        model: {path: meta-llama/Llama-3.1-70B-Instruct}
        parameters: {tp-size: [16]}
        workload: {scenarios: ["D(100,100)"], concurrency: [1]}
    """)
    (tuning_dir.path / "tuning_cases" / "chat.yaml").write_text(case)
    result = tuning_dir.runpytest("tuning_cases", "-rs", "--autotune-sim-gpus", "8")
    result.stdout.fnmatch_lines([
        "*INFEASIBLE before launch: needs 16 GPUs (tp-size 16), only 8 available*",
        "*autotune: big: no configuration could run*",
        "*1 infeasible*",
    ])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_marker_parametrizes_a_python_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_chat="""
        import pytest

        @pytest.mark.autotune(
            model={"path": "meta-llama/Llama-3.2-1B-Instruct"},
            parameters={"mem-fraction-static": [0.8, 0.9]},
            workload={"scenarios": ["D(100,100)"], "concurrency": [1, 8]},
        )
        def test_chat(autotune_metrics):
            pass
    """)
    result = pytester.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines([
        "test_chat.py::test_chat[[]mem-fraction-static=0.8-D(100,100)-c1[]]",
        "test_chat.py::test_chat[[]mem-fraction-static=0.9-D(100,100)-c8[]]",
        "4 tests collected*",
    ])


def test_marker_rejects_unknown_keywords(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_chat="""
        import pytest

        @pytest.mark.autotune(model={"path": "m"}, workload={"scenarios": ["D(1,1)"],
                              "concurrency": [1]}, paramters={"tp-size": [1]})
        def test_chat(autotune_metrics):
            pass
    """)
    result = pytester.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines(["*unknown keyword(s) paramters*"])
    assert result.ret == pytest.ExitCode.INTERRUPTED


def test_seed_task_json_is_collected(pytester: pytest.Pytester) -> None:
    import shutil
    from pathlib import Path

    src = Path(__file__).parents[2] / "fixtures" / "seed" / "legacy-choice-tune.json"
    shutil.copy(src, pytester.path / "legacy.json")
    result = pytester.runpytest("legacy.json", "--collect-only", "-q")
    result.stdout.fnmatch_lines([
        "legacy.json::tp-size=1-mem-fraction-static=0.75-"
        "schedule-policy=lpm::D(100,100)-c2",
        "2 tests collected*",
    ])


def test_explicit_dist_mode_warns_that_configurations_may_split(
    tuning_dir: pytest.Pytester,
) -> None:
    result = tuning_dir.runpytest("tuning_cases", "--collect-only", "-q", "-n", "2",
                                  "--dist", "load")
    result.stdout.fnmatch_lines(["*AutotuneWarning: --dist load: the items of one configuration"
                                 " may run on several workers*"])


def test_endpoint_mode_refuses_a_tuning_grid_at_collection(tuning_dir: pytest.Pytester) -> None:
    result = tuning_dir.runpytest("tuning_cases", "--collect-only", "-q",
                                  "--autotune-mode", "endpoint",
                                  "--autotune-endpoint", "http://127.0.0.1:9")
    result.stdout.fnmatch_lines([
        "invalid tuning case: tuning_cases/chat.yaml: parameters: endpoint mode benchmarks a "
        "running server*"])
    assert result.ret == pytest.ExitCode.INTERRUPTED


def test_docker_mode_without_an_engine_says_so_before_gpus(
    tuning_dir: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A GPU case on a machine without an engine (and without NVML here): the engine's absence
    is the reason given, not the GPUs'."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tuning_dir.path}/no-engine.sock")
    result = tuning_dir.runpytest("tuning_cases", "--autotune-mode=docker", "-x")
    result.stdout.fnmatch_lines(["*no Docker engine answers at unix://*no-engine.sock*"])
    result.stdout.no_fnmatch_line("*no GPUs discovered*")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
