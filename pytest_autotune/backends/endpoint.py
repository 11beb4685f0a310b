"""``endpoint`` mode: benchmark a server that is already running; nothing is deployed.

The URL comes from ``--autotune-endpoint`` (which wins) or the case's ``endpoint:``. The case must
not tune parameters or set server flags (they could not be applied), readiness (``/health`` then
``/v1/models``) is checked before benchmarking, and the case's ``api_key_env`` gives the key that
health checks and genai-bench send. Run in CI against a live deployment, SLO misses fail the job.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import DeployError
from .base import Capabilities, DeployContext, ServerHandle, ServerSpec
from .secrets import Redactor, server_api_key
from .wait import wait_ready


def check_untuned(spec: ServerSpec) -> None:
    """A clear error when the case wants to change a server that endpoint mode cannot touch."""
    what = [f"--{name}" for name, _ in spec.flags] + list(spec.extra_args)
    if what:
        shown = ", ".join(dict.fromkeys(what))
        raise DeployError(
            f"endpoint mode benchmarks the running server as it is, but case {spec.case!r} sets "
            f"server flags or parameters ({shown}); remove them (flags, parameters, extra_args) "
            "for endpoint runs, or deploy the configurations with --autotune-mode=docker/local"
        )


class EndpointBackend:
    """Yields a handle on the running server at the configured URL."""

    name = "endpoint"
    capabilities = Capabilities(deploys=False, tunes_flags=False, local_gpus=False)

    def __init__(self, *, url: str | None = None) -> None:
        self.url = url

    def display_command(self, spec: ServerSpec) -> list[str]:
        return []

    def sweep(self) -> list[str]:
        return []

    @contextmanager
    def deploy(self, spec: ServerSpec, ctx: DeployContext) -> Iterator[ServerHandle]:
        url = (self.url or spec.endpoint or "").rstrip("/")
        if not url:
            raise DeployError("endpoint mode benchmarks a running server: give its URL with "
                              "--autotune-endpoint URL or endpoint: in the case")
        check_untuned(spec)
        key = server_api_key(spec.api_key_env)
        started = time.monotonic()
        info = wait_ready(url, timeout=ctx.ready_timeout or spec.deploy_timeout,
                          alive=lambda: True, log_tail=lambda: "", api_key=key,
                          what=f"endpoint {url}")
        info = Redactor([key] if key else []).scrub(info)
        seconds = time.monotonic() - started
        ctx.artifacts.mkdir(parents=True, exist_ok=True)
        (ctx.artifacts / "endpoint.json").write_text(
            json.dumps({"url": url, "ready_seconds": round(seconds, 3)}, indent=2) + "\n",
            encoding="utf-8",
        )
        yield ServerHandle(url=url, spec=spec, launch_command=[], server_info=info,
                           deploy_seconds=seconds, api_key=key)
