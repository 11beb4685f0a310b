"""Secrets on their way to a server: allow-list, API key file, redaction."""

from __future__ import annotations

import io
import tarfile

import pytest
import yaml

from pytest_autotune.backends.docker import secret_archive
from pytest_autotune.backends.secrets import (
    Redactor,
    passed_env,
    secret_config,
    server_api_key,
    with_no_proxy,
)
from pytest_autotune.errors import DeployError


def test_only_listed_and_default_names_pass() -> None:
    env, missing = passed_env(["A", "B"], {"A": "1", "HF_TOKEN": "t0ken", "OTHER": "x"})
    assert env == {"A": "1", "HF_TOKEN": "t0ken"}
    assert missing == ["B"]  # default names that are unset are not "missing"


def test_excluded_names_never_pass() -> None:
    env, missing = passed_env(["CUDA_VISIBLE_DEVICES"], {"CUDA_VISIBLE_DEVICES": "0"},
                              exclude=["CUDA_VISIBLE_DEVICES"])
    assert env == {} and missing == []


def test_no_proxy_is_left_alone_without_a_proxy() -> None:
    assert with_no_proxy({"NO_PROXY": "a"}) == {"NO_PROXY": "a"}
    out = with_no_proxy({"http_proxy": "http://p:1"})
    assert out["no_proxy"] == out["NO_PROXY"] == "localhost,127.0.0.1,0.0.0.0,::1"


def test_api_key_comes_from_the_named_variable() -> None:
    assert server_api_key(None, {}) is None
    assert server_api_key("KEY", {"KEY": "sk-1"}) == "sk-1"
    with pytest.raises(DeployError, match="KEY is not set"):
        server_api_key("KEY", {"KEY": ""})


@pytest.mark.parametrize("key", ["sk-plain", 'with "quotes" and \\ and: colon', "x#y 'z'"])
def test_config_file_gives_sglang_the_key_verbatim(key: str) -> None:
    # SGLang reads --config with yaml.safe_load and turns "api-key" into --api-key
    assert yaml.safe_load(secret_config(key)) == {"api-key": key}


def test_secret_archive_holds_a_root_only_config_file() -> None:
    with tarfile.open(fileobj=io.BytesIO(secret_archive("sk-123456")), mode="r") as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert members["pytest-autotune"].isdir() and members["pytest-autotune"].mode == 0o700
        member = members["pytest-autotune/server-args.yaml"]
        assert member.mode == 0o600 and member.uid == 0
        data = tar.extractfile(member)
        assert data is not None
        assert yaml.safe_load(data.read()) == {"api-key": "sk-123456"}


def test_redactor_replaces_every_secret_in_text_and_data() -> None:
    redact = Redactor(["sk-123456", "sk-123456-longer", "ab"])
    line = "server_args=ServerArgs(api_key='sk-123456-longer', other='sk-123456')\n"
    assert redact(line) == "server_args=ServerArgs(api_key='***', other='***')\n"
    assert redact.scrub({"api_key": "sk-123456", "n": 3, "l": ["x sk-123456"]}) == {
        "api_key": "***", "n": 3, "l": ["x ***"]}
    assert redact("ab stays: too short to redact safely") == "ab stays: too short to redact safely"
    assert not Redactor([]) and Redactor([])("text") == "text"
