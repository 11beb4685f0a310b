"""The Docker backend's decisions, made without an engine: container plan and ``docker run``."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from pytest_autotune.backends.base import DeployContext, ServerSpec
from pytest_autotune.backends.container import (
    HF_CACHE_IN_CONTAINER,
    LABEL_OWNER,
    DockerOptions,
    Ulimit,
    container_name,
    dead_owner,
    device_request_args,
    docker_run_argv,
    engine_hint,
    owner_label,
    parse_owner,
    parse_ulimits,
    plan_container,
    process_start,
)
from pytest_autotune.runtimes import sglang
from pytest_autotune.values import Configuration

CONFIG = Configuration("chat", (("mem-fraction-static", 0.8), ("tp-size", 2)))


def spec(**kw: object) -> ServerSpec:
    base = ServerSpec(case="chat", configuration=CONFIG, model_path="meta-llama/Llama-3.1-8B",
                      flags=CONFIG.params, gpus=2)
    return replace(base, **kw)  # type: ignore[arg-type]


def ctx(tmp_path: Path, gpu_ids: tuple[str, ...] = ("3", "1")) -> DeployContext:
    return DeployContext(run_id="20261122-000000-ab12", artifacts=tmp_path, gpu_ids=gpu_ids,
                         labels={"pytest-autotune.run": "20261122-000000-ab12",
                                 "pytest-autotune.case": "chat",
                                 "pytest-autotune.config": CONFIG.hash})


def test_command_is_launch_server_on_all_interfaces_port_30000(tmp_path: Path) -> None:
    plan = plan_container(spec(), ctx(tmp_path), DockerOptions(), {})
    assert plan.command == [
        "python3", "-m", "sglang.launch_server", "--model-path", "meta-llama/Llama-3.1-8B",
        "--host", "0.0.0.0", "--port", "30000", "--mem-fraction-static", "0.8", "--tp-size", "2",
    ]
    assert plan.image == sglang.DEFAULT_IMAGE


def test_image_precedence_option_then_case_then_default(tmp_path: Path) -> None:
    c = ctx(tmp_path)
    assert plan_container(spec(image="mine:1"), c, DockerOptions(), {}).image == "mine:1"
    forced = DockerOptions(image="forced:2")
    assert plan_container(spec(image="mine:1"), c, forced, {}).image == "forced:2"


def test_gpus_are_requested_by_leased_id_and_never_via_cuda_visible_devices(
    tmp_path: Path,
) -> None:
    environ = {"CUDA_VISIBLE_DEVICES": "0,1", "HF_TOKEN": "hf_abcdef"}
    plan = plan_container(spec(env_names=("CUDA_VISIBLE_DEVICES",)), ctx(tmp_path),
                          DockerOptions(), environ)
    assert device_request_args(plan) == {"device_ids": ["3", "1"], "capabilities": [["gpu"]]}
    assert "CUDA_VISIBLE_DEVICES" not in plan.environment
    assert plan.env_missing == ()


def test_cpu_image_gets_no_device_request(tmp_path: Path) -> None:
    plan = plan_container(spec(gpus=0), ctx(tmp_path, ()), DockerOptions(), {})
    assert device_request_args(plan) is None
    assert "--gpus" not in docker_run_argv(spec(gpus=0), DockerOptions(), environ={})


def test_gpus_without_a_lease_fall_back_to_a_count(tmp_path: Path) -> None:
    plan = plan_container(spec(), ctx(tmp_path, ()), DockerOptions(), {})
    assert device_request_args(plan) == {"count": 2, "capabilities": [["gpu"]]}


def test_labels_name_run_case_config_and_owner(tmp_path: Path) -> None:
    plan = plan_container(spec(), ctx(tmp_path), DockerOptions(), {}, owner="host:12:34")
    assert plan.labels == {
        "pytest-autotune.run": "20261122-000000-ab12", "pytest-autotune.case": "chat",
        "pytest-autotune.config": CONFIG.hash, LABEL_OWNER: "host:12:34",
    }
    assert plan.name == f"autotune-chat-{CONFIG.hash}-20261122-000000-ab12"


def test_container_names_stay_within_dockers_rules() -> None:
    name = container_name("a case/with:odd chars" + "x" * 80, "0123456789abcdef", "r 1")
    assert name.startswith("autotune-a-case-with-odd-chars")
    assert all(c.isalnum() or c in "_.-" for c in name)
    assert name.endswith("-0123456789ab-r-1")


def test_environment_is_an_allow_list_by_name(tmp_path: Path) -> None:
    environ = {"HF_TOKEN": "hf_secret_value", "MY_SETTING": "x", "UNLISTED": "y",
               "HOME": "/root"}
    plan = plan_container(spec(env_names=("MY_SETTING", "NOT_SET")), ctx(tmp_path),
                          DockerOptions(), environ)
    assert plan.environment == {"MY_SETTING": "x", "HF_TOKEN": "hf_secret_value"}
    assert plan.env_missing == ("NOT_SET",)
    assert plan.secrets == ["hf_secret_value"]
    summary = str(plan.summary())
    assert "hf_secret_value" not in summary and "HF_TOKEN" in summary
    assert "hf_secret_value" not in repr(plan)


def test_proxies_pass_with_loopback_exempt(tmp_path: Path) -> None:
    environ = {"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "corp.example"}
    plan = plan_container(spec(), ctx(tmp_path), DockerOptions(), environ)
    assert plan.environment["HTTPS_PROXY"] == "http://proxy:3128"
    for name in ("NO_PROXY", "no_proxy"):
        hosts = plan.environment[name].split(",")
        assert {"localhost", "127.0.0.1", "0.0.0.0"} <= set(hosts)
    assert plan.environment["NO_PROXY"].startswith("corp.example,")


def test_local_model_is_mounted_read_only_at_the_same_path(tmp_path: Path) -> None:
    model = tmp_path / "models" / "llama"
    model.mkdir(parents=True)
    options = DockerOptions(hf_cache=tmp_path / "hf")
    plan = plan_container(spec(model_path="models/llama"), ctx(tmp_path), options, {},
                          cwd=tmp_path)
    assert plan.volumes[str(model)] == {"bind": str(model), "mode": "ro"}
    assert plan.volumes[str(tmp_path / "hf")] == {"bind": HF_CACHE_IN_CONTAINER, "mode": "rw"}
    assert plan.command[plan.command.index("--model-path") + 1] == str(model)


def test_hub_ids_are_not_mounted(tmp_path: Path) -> None:
    plan = plan_container(spec(), ctx(tmp_path), DockerOptions(), {}, cwd=tmp_path)
    assert plan.volumes == {}


def test_api_key_travels_in_a_config_file_not_on_the_command_line(tmp_path: Path) -> None:
    plan = plan_container(spec(api_key_env="SERVER_KEY"), ctx(tmp_path), DockerOptions(), {},
                          api_key="sk-very-secret")
    assert "sk-very-secret" not in " ".join(plan.command)
    assert plan.command[-2:] == ["--config", "/pytest-autotune/server-args.yaml"]
    assert "sk-very-secret" in plan.secrets
    assert "sk-very-secret" not in str(plan.summary())


def test_docker_run_argv_is_the_equivalent_command_without_secret_values() -> None:
    argv = docker_run_argv(spec(api_key_env="SERVER_KEY", env_names=("EXTRA",)),
                           DockerOptions(hf_cache=Path("/cache/hf")),
                           environ={"HF_TOKEN": "hf_secret", "SERVER_KEY": "sk-secret"})
    text = " ".join(argv)
    assert argv[:3] == ["docker", "run", "--rm"]
    assert "--gpus 2 --shm-size 32g --ipc host" in text
    assert "--ulimit memlock=-1 --ulimit stack=67108864" in text
    assert "-p 127.0.0.1:30000:30000" in text
    assert "-v /cache/hf:/root/.cache/huggingface" in text
    assert "-e EXTRA -e HF_TOKEN" in text
    assert "hf_secret" not in text and "sk-secret" not in text
    assert argv[-2:] == ["--api-key", "<value of $SERVER_KEY>"]


def test_ulimits_parse_and_reject_nonsense() -> None:
    assert parse_ulimits("memlock=-1,stack=67108864") == (
        Ulimit("memlock", -1, -1), Ulimit("stack", 67108864, 67108864))
    assert parse_ulimits("nofile=1024:4096") == (Ulimit("nofile", 1024, 4096),)
    assert parse_ulimits("none") == ()
    with pytest.raises(ValueError, match="name=soft"):
        parse_ulimits("memlock")


def test_owner_label_identifies_this_process_and_survives_pid_reuse() -> None:
    owner = parse_owner(owner_label())
    assert owner is not None and owner.pid == os.getpid()
    assert owner.start == process_start(os.getpid()) and owner.start > 0
    assert not owner.gone(alive=True)
    assert owner.gone(alive=False)
    reused = replace(owner, start=owner.start + 1)  # same pid, another process
    assert reused.gone(alive=True)
    assert parse_owner("host:123") == type(owner)("host", 123, 0)
    assert parse_owner("garbage") is None


def test_only_owners_gone_from_this_host_may_be_swept() -> None:
    import socket
    import subprocess
    import sys

    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    gone = f"{socket.gethostname()}:{ended.stdout.strip()}:1"
    assert dead_owner(gone) is not None
    assert dead_owner(owner_label()) is None  # this process lives
    assert dead_owner(f"another-host:{ended.stdout.strip()}:1") is None  # not ours to judge
    assert dead_owner("garbage") is None


@pytest.mark.parametrize(("message", "expected"), [
    ('could not select device driver "" with capabilities: [[gpu]]', "NVIDIA Container Toolkit"),
    ("error setting rlimits for ready process: error setting rlimit type 8", "ulimits"),
    ("Bind for 127.0.0.1:32768 failed: port is already allocated", "retried"),
    ("something else", None),
])
def test_engine_errors_get_hints(message: str, expected: str | None) -> None:
    hint = engine_hint(message)
    assert (hint is None) if expected is None else (hint is not None and expected in hint)
