"""Helpers of the integration tests: a scratch project that runs pytest in a subprocess, process
and container look-ups, polling."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ..polling import wait_for

__all__ = ["ROOT", "Project", "containers", "outcomes", "processes", "unique", "wait_for"]

ROOT = Path(__file__).resolve().parents[2]
SHIM = ROOT / "tests" / "integration" / "image"
BUILD_SCRIPT = ROOT / "scripts" / "build_sim_image.py"
FAST_SIM = "--sim-startup-scale 0.02 --sim-noise 0"
WORKLOAD = """\
workload:
  scenarios: ["D(50,20)"]
  concurrency: [1]
  max_requests: {requests}
"""


def processes(*needles: str) -> list[tuple[int, str]]:
    """(pid, command line) of live processes whose command line contains every needle."""
    found: list[tuple[int, str]] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cmdline and all(n in cmdline for n in needles) and int(entry.name) != os.getpid():
            found.append((int(entry.name), cmdline))
    return found


def unique(name: str) -> str:
    return f"{name}-{secrets.token_hex(3)}"


@dataclass
class Project:
    """A scratch project that runs ``pytest <case> --autotune-mode=...`` in a subprocess."""

    pytester: pytest.Pytester
    mode: str
    env: dict[str, str] = field(default_factory=dict)
    options: list[str] = field(default_factory=list)
    cases: list[str] = field(default_factory=list)

    @property
    def path(self) -> Path:
        return self.pytester.path

    def case(self, base: str, body: str, *, requests: int = 8) -> tuple[str, Path]:
        """Write ``<unique name>.yaml``; the body gives everything but name and workload."""
        name = unique(base)
        body = textwrap.dedent(body).replace("{name}", name)
        text = f"name: {name}\n{body}{WORKLOAD.format(requests=requests)}"
        path = self.path / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        self.cases.append(name)
        return name, path

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly",
                f"--autotune-mode={self.mode}", *self.options, *args]

    def environment(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - argv list
            self.argv(*args), cwd=self.path, env=self.environment(), capture_output=True,
            text=True, timeout=timeout, check=False,
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        """Started in its own session, like a terminal's foreground job (signal the group), with
        SIGHUP at its default as a terminal's job has it, also when this suite runs under nohup
        (an ignored signal is inherited, and the plugin keeps an ignored SIGHUP ignored)."""
        previous = signal.signal(signal.SIGHUP, signal.SIG_DFL)
        try:
            with open(self.path / "pytest.out", "w", encoding="utf-8") as out:
                return subprocess.Popen(  # noqa: S603 - argv list
                    self.argv(*args), cwd=self.path, env=self.environment(), stdout=out,
                    stderr=subprocess.STDOUT, text=True, start_new_session=True,
                )
        finally:
            signal.signal(signal.SIGHUP, previous)

    def results(self) -> Path:
        return self.path / "results"


def outcomes(result: subprocess.CompletedProcess[str]) -> dict[str, int]:
    """``2 passed, 1 error, 2 infeasible`` → counts, from pytest's last line."""
    last = [line for line in result.stdout.splitlines() if line.startswith("=")][-1]
    counts: dict[str, int] = {}
    for part in last.strip("= ").split(" in ")[0].split(", "):
        number, _, word = part.partition(" ")
        if number.isdigit():
            counts[word.rstrip("s") if word.endswith("errors") else word] = int(number)
    return counts


def containers(client: Any, **labels: str) -> list[Any]:
    """Containers (running or not) with every ``pytest-autotune.<key>=<value>`` label."""
    filters = [f"pytest-autotune.{k}={v}" for k, v in labels.items()]
    return list(client.containers.list(all=True, filters={"label": filters}))
