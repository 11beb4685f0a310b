"""Which SGLang release a case's servers run, and its flags checked against that release's own
catalogue (``pytest_autotune/data/sglang/<version>.json``, dumped from the release's
``ServerArgs`` by scripts/sglang-catalogue).

The release is known from ``--autotune-sglang-version``, else from the case's
``sglang_version``, else from the docker image's tag when it names a version
(``lmsysorg/sglang:v0.5.23-cu129-amd64``), else from the sglang installed here in local mode.
When none of these says, nothing is checked beyond the plugin's own flag catalogue (which SGLang
0.5.5, the default image's release, accepts whole): guessing a release would refuse the
``extra_args`` that exist for flags of newer releases.
"""

from __future__ import annotations

import importlib.metadata
import re
from dataclasses import dataclass

from ..cases.case import Case
from ..cases.space import Choice
from ..errors import ConfigError
from . import catalogue
from .sglang import DEFAULT_IMAGE

_VERSION_IN_TAG = re.compile(r"(?:^|[:v-])(\d+\.\d+(?:\.\d+)*(?:\.post\d+)?)")


@dataclass(frozen=True)
class Release:
    """An SGLang release and how it is known (for messages)."""

    version: str
    why: str


def version_in_image(image: str) -> str | None:
    """``lmsysorg/sglang:v0.5.5.post3-cu129-amd64`` → ``0.5.5.post3``; None for a tag without
    a version (``latest``, ``dev``)."""
    tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
    found = _VERSION_IN_TAG.search(tag)
    return found.group(1) if found else None


def installed_version() -> str | None:
    try:
        return importlib.metadata.version("sglang")
    except importlib.metadata.PackageNotFoundError:
        return None


def release_for(case: Case, *, mode: str, option: str | None, image: str | None) -> \
        Release | None:
    """The release ``case`` runs in ``mode``, when something says which."""
    if option:
        return Release(option, "--autotune-sglang-version")
    if case.sglang_version:
        return Release(case.sglang_version, "the case's sglang_version")
    if mode == "docker":
        chosen = image or case.image or DEFAULT_IMAGE
        version = version_in_image(chosen)
        return Release(version, f"the image {chosen}") if version else None
    if mode == "local":
        version = installed_version()
        return Release(version, "the sglang installed here") if version else None
    return None


def check_flags(case: Case, release: Release) -> None:
    """Every flag the case sets or tunes, each listed value, and the options among its
    ``extra_args``, as ``release`` accepts them; one ConfigError lists every problem."""
    cat = catalogue.load(release.version)
    problems: list[tuple[str, str, int | None]] = []  # (field, problem, line)
    for name, value in case.base_flags:
        if (problem := cat.check_value(name, value)) is not None:
            problems.append((f"flags.{name}", problem, None))
    for axis in case.space.axes:
        if isinstance(axis, Choice):
            for value in axis.values:
                if (problem := cat.check_value(axis.name, value)) is not None:
                    problems.append((f"parameters.{axis.label}", problem, axis.line))
        elif (problem := cat.check(axis.name)) is not None:
            problems.append((f"parameters.{axis.label}", problem, axis.line))
    for arg in case.extra_args:
        if arg.startswith("--") and (problem := cat.check(arg.split("=", 1)[0])) is not None:
            problems.append(("extra_args", problem, None))
    problems = list(dict.fromkeys(problems))  # a flag's values share its message
    if not problems:
        return
    field, _, line = problems[0]
    found = [what if len(problems) == 1 else f"{where}: {what}" for where, what, _ in problems]
    raise ConfigError(
        "; ".join(found) + f" — checked against SGLang {cat.version}'s own flags "
        f"({release.why}): change the case, or name the release the servers run with "
        "--autotune-sglang-version", source=case.source, field=field, line=line)
