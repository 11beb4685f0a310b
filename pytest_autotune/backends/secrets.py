"""Secrets on their way to a server: environment passed by name, the server API key, redaction.

Values never reach a command line, a label, a log file, a report or a launch command shown to
the user: environment variables are passed by name (their values come from the pytest process),
the API key travels in a private ``--config`` YAML file that SGLang reads at start-up, and every
line of server output is redacted before it is written anywhere.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..errors import DeployError

#: Passed to servers when set in the pytest process (a case's ``env:`` adds more names).
DEFAULT_ENV = (
    "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_ENDPOINT", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE",
    "HF_HUB_ENABLE_HF_TRANSFER",
)
PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")
PROXY_ENV = (*PROXIES, "NO_PROXY", "no_proxy")
#: A server behind a proxy still talks to itself (SGLang's warm-up request): never via the proxy.
LOCAL_HOSTS = ("localhost", "127.0.0.1", "0.0.0.0", "::1")
#: Names whose values are redacted wherever server output is written.
SECRET_NAME = re.compile(r"TOKEN|KEY|SECRET|PASSW|CREDENTIAL|AUTH", re.IGNORECASE)
#: Shorter values are not redacted (replacing "1" everywhere would destroy a log).
MIN_SECRET_LENGTH = 4
REDACTED = "***"
#: SGLang's ``--config`` file takes the API key off the command line; the name must end in .yaml.
SECRET_CONFIG_NAME = "server-args.yaml"


def passed_env(
    names: Iterable[str],
    environ: Mapping[str, str],
    *,
    defaults: Iterable[str] = DEFAULT_ENV,
    exclude: Iterable[str] = (),
) -> tuple[dict[str, str], list[str]]:
    """The variables to pass (``names``, the default allow-list and the proxy settings, where
    set in ``environ``) with their values, and which of ``names`` are not set.

    ``NO_PROXY`` is extended by the loopback names whenever a proxy is passed, so that the
    server's requests to itself bypass the proxy.
    """
    wanted = list(names)
    skip = set(exclude)
    env: dict[str, str] = {}
    missing: list[str] = []
    for name in dict.fromkeys([*wanted, *defaults, *PROXY_ENV]):
        if name in skip:
            continue
        value = environ.get(name)
        if value is not None:
            env[name] = value
        elif name in wanted:
            missing.append(name)
    return with_no_proxy(env), missing


def with_no_proxy(env: Mapping[str, str]) -> dict[str, str]:
    out = dict(env)
    if not any(out.get(name) for name in PROXIES):
        return out
    for name in ("NO_PROXY", "no_proxy"):
        hosts = [h.strip() for h in out.get(name, "").split(",") if h.strip()]
        hosts += [h for h in LOCAL_HOSTS if h not in hosts]
        out[name] = ",".join(hosts)
    return out


def server_api_key(api_key_env: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """The value of the case's ``api_key_env`` variable; a clear error when it is not set."""
    if not api_key_env:
        return None
    value = (os.environ if environ is None else environ).get(api_key_env, "")
    if not value:
        raise DeployError(
            f"the case sets api_key_env: {api_key_env}, but {api_key_env} is not set (or empty) "
            "in the environment of pytest; export it before running"
        )
    return value


def secret_values(env: Mapping[str, str], api_key: str | None = None) -> list[str]:
    """Values to redact: the API key and every passed variable whose name looks secret."""
    values = [v for k, v in env.items() if SECRET_NAME.search(k)]
    if api_key:
        values.append(api_key)
    return values


def secret_config(api_key: str) -> str:
    """The ``--config`` YAML that gives SGLang its API key (a JSON string is a YAML scalar)."""
    return f"api-key: {json.dumps(api_key)}\n"


def api_key_placeholder(api_key_env: str) -> str:
    """What a displayed command shows instead of the key."""
    return f"<value of ${api_key_env}>"


class Redactor:
    """Replaces secret values with ``***`` in text and in JSON-like data."""

    def __init__(self, secrets: Sequence[str] = ()) -> None:
        unique = {s for s in secrets if len(s) >= MIN_SECRET_LENGTH}
        # longest first, so that a secret containing another is replaced whole
        self.secrets = sorted(unique, key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self.secrets)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def scrub(self, value: Any) -> Any:
        if not self.secrets:
            return value
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {k: self.scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.scrub(v) for v in value]
        return value
