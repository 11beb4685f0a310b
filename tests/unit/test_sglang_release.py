"""Cases checked against the flags of the SGLang release their servers run."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_autotune.cases import load_case_file
from pytest_autotune.cases.case import Case
from pytest_autotune.errors import ConfigError
from pytest_autotune.runtimes.release import Release, check_flags, release_for, version_in_image

CASE = """\
name: chat
model: {path: meta-llama/Llama-3.2-1B-Instruct}
parameters:
  cuda-graph-max-bs: [16, 160]
  schedule-policy: [fcfs, lpm]
workload: {scenarios: ["D(100,100)"], concurrency: [1]}
"""


def case(tmp_path: Path, text: str = CASE) -> Case:
    path = tmp_path / "chat.yaml"
    path.write_text(text)
    return load_case_file(path, display="chat.yaml")


@pytest.mark.parametrize(("image", "version"), [
    ("lmsysorg/sglang:v0.5.5.post3-cu129-amd64", "0.5.5.post3"),
    ("lmsysorg/sglang:v0.5.23-cu129-amd64", "0.5.23"),
    ("registry.local:5000/sglang:0.5.9", "0.5.9"),
    ("lmsysorg/sglang:latest", None),
    ("pytest-autotune-sim:latest", None),
    ("registry.local:5000/sglang", None),
])
def test_the_release_is_read_from_a_versioned_image_tag(image: str, version: str | None) -> None:
    assert version_in_image(image) == version


def test_which_release_a_case_runs(tmp_path: Path) -> None:
    c = case(tmp_path)
    assert release_for(c, mode="sim", option=None, image=None) is None
    assert release_for(c, mode="sim", option="0.5.23", image=None) == Release(
        "0.5.23", "--autotune-sglang-version")
    docker = release_for(c, mode="docker", option=None, image=None)
    assert docker is not None and docker.version == "0.5.5.post3"  # the default image
    assert release_for(c, mode="docker", option=None,
                       image="pytest-autotune-sim:latest") is None


def test_the_default_images_release_accepts_the_example_grid(tmp_path: Path) -> None:
    check_flags(case(tmp_path), Release("0.5.5.post3", "the image"))


def test_a_flag_a_newer_release_split_is_refused_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        check_flags(case(tmp_path), Release("0.5.23", "--autotune-sglang-version"))
    text = str(err.value)
    assert text.startswith("chat.yaml:4: parameters.cuda-graph-max-bs: --cuda-graph-max-bs is "
                           "ambiguous in SGLang 0.5.23")
    assert "--cuda-graph-max-bs-decode" in text and "--autotune-sglang-version" in text


def test_listed_values_are_checked_with_the_release_history(tmp_path: Path) -> None:
    text = CASE.replace("schedule-policy: [fcfs, lpm]",
                        "load-balance-method: [round_robin, shortest_queue]")
    check_flags(case(tmp_path, text), Release("0.5.5", "the image"))
    with pytest.raises(ConfigError) as err:
        check_flags(case(tmp_path, text), Release("0.5.23", "the image"))
    message = str(err.value)
    assert "--load-balance-method in SGLang 0.5.23 takes one of" in message
    assert "got 'shortest_queue'" in message and "removed in 0.5.23" in message


def test_extra_args_are_checked_against_a_known_release(tmp_path: Path) -> None:
    text = CASE + "extra_args: ['--enable-hicache', '--cpu-offload-gb', '4']\n"
    with pytest.raises(ConfigError) as err:
        check_flags(case(tmp_path, text), Release("0.5.5", "the image"))
    message = str(err.value)
    assert message.startswith("chat.yaml: extra_args: SGLang 0.5.5 has no flag --enable-hicache "
                              "(did you mean --enable-hierarchical-cache?")
    assert "cpu-offload-gb" not in message  # 0.5.5 has it


def test_a_case_can_name_its_release(tmp_path: Path) -> None:
    c = case(tmp_path, CASE + "sglang_version: 0.5.23\n")
    assert release_for(c, mode="sim", option=None, image=None) == Release(
        "0.5.23", "the case's sglang_version")
    assert release_for(c, mode="sim", option="0.5.5", image=None) == Release(
        "0.5.5", "--autotune-sglang-version")
