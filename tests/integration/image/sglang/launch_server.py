"""``python3 -m sglang.launch_server`` for tests: runs pytest-autotune's simulator (NOT SGLang).

The backends under test launch exactly what they launch for real SGLang; this stand-in adds what
only a simulator needs, from the environment the backend passes through by name:

- ``AUTOTUNE_SIM_ARGS``: extra ``--sim-*`` flags (start-up scale, simulated GPU, noise), appended
  after the command line's own flags.
- ``AUTOTUNE_SHIM_ECHO_SECRETS=1``: log the server's API key the way SGLang 0.5 does
  (``server_args=ServerArgs(... api_key='...')``), plus the values of the variables named in
  ``AUTOTUNE_SHIM_ECHO_ENV``, so that tests can prove the backends redact what a real server
  prints.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Sequence


def _api_key(argv: Sequence[str]) -> str | None:
    """The key given by ``--api-key`` or by an ``api-key:`` line of the ``--config`` file."""
    args = list(argv)
    if "--api-key" in args[:-1]:
        return args[args.index("--api-key") + 1]
    if "--config" in args[:-1]:
        with open(args[args.index("--config") + 1], encoding="utf-8") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip() in ("api-key", "api_key"):
                    text = value.strip()
                    return str(json.loads(text)) if text.startswith('"') else text.strip("'")
    return None


def _echo_secrets(argv: Sequence[str]) -> None:
    key = _api_key(argv)
    print(f"server_args=ServerArgs(model_path=..., api_key={key!r})", flush=True)
    for name in os.environ.get("AUTOTUNE_SHIM_ECHO_ENV", "").split(","):
        if name.strip():
            print(f"environment {name.strip()}={os.environ.get(name.strip(), '')}", flush=True)


def main(argv: Sequence[str]) -> int:
    from pytest_autotune.sim.server import main as simulate

    if os.environ.get("AUTOTUNE_SHIM_ECHO_SECRETS") == "1":
        _echo_secrets(argv)
    extra = shlex.split(os.environ.get("AUTOTUNE_SIM_ARGS", ""))
    return simulate([*argv, *extra])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
