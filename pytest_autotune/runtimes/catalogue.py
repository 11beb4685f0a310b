"""SGLang's own command line, per release: the flag catalogues generated from real SGLang.

``pytest_autotune/data/sglang/<version>.json`` is what ``ServerArgs.add_cli_args`` of that
release defines (scripts/sglang-catalogue writes it; scripts/ensure-sglang-venv makes an
environment to run it in). :func:`load` reads the catalogue nearest to a version, which may be
written as a release (``0.5.5.post3``), an image tag (``v0.5.5.post3-cu129-amd64``) or an image
(``lmsysorg/sglang:v0.5.5.post3-cu129-amd64``): the newest catalogue not newer than it, the
newest one for a later release, the oldest one for an earlier release.

:meth:`Catalogue.check` and :meth:`Catalogue.check_value` say what that release's
``launch_server`` would refuse, with hints from the other catalogues: "did you mean", and in
which catalogued release a flag or a choice was added or removed. "Added in X" names the first
catalogued release that has it (it may have come earlier, between two catalogued releases).
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

DATA_PACKAGE = "pytest_autotune"
DATA_DIR = ("data", "sglang")

#: a release in a version string, an image tag or an image reference
_VERSION = re.compile(
    r"(?<![\w.])v?(?P<release>\d+(?:\.\d+){1,3})(?:\.?(?P<pre>a|b|rc)(?P<pre_n>\d+))?"
    r"(?:\.?post(?P<post>\d+))?"
)
VersionKey = tuple[tuple[int, ...], int, int]


def version_key(version: str) -> VersionKey:
    """A sortable key of a release found in ``version``; ValueError when it names none.

    ``0.5.5rc1`` < ``0.5.5`` < ``0.5.5.post3`` < ``0.5.6``.
    """
    text = version.strip()
    if ":" in text:  # an image reference: its tag
        text = text.rsplit(":", 1)[1]
    match = _VERSION.search(text)
    if match is None:
        raise ValueError(f"no SGLang release in {version!r} (e.g. 0.5.5, v0.5.5.post3-cu129)")
    release = tuple(int(part) for part in match.group("release").split("."))
    while len(release) > 1 and release[-1] == 0:
        release = release[:-1]
    pre = {"a": -3, "b": -2, "rc": -1}.get(match.group("pre") or "", 0)
    post = int(match.group("post") or 0)
    return release, pre, post


@dataclass(frozen=True, slots=True)
class CatalogueFlag:
    """One option of ``sglang.launch_server``, as a release defines it."""

    name: str
    #: the other long option strings (without ``--``) of the same option
    aliases: tuple[str, ...] = ()
    #: int, float, str, bool (a switch) or list (several values)
    type: str = "str"
    #: the type of each value of a list
    item: str | None = None
    nargs: int | str | None = None
    choices: tuple[Any, ...] | None = None
    default: Any = None
    help: str = ""
    deprecated: bool = False

    @property
    def options(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    @classmethod
    def from_json(cls, name: str, entry: Mapping[str, Any]) -> CatalogueFlag:
        choices = entry.get("choices")
        return cls(
            name=name,
            aliases=tuple(entry.get("aliases") or ()),
            type=str(entry.get("type", "str")),
            item=entry.get("item"),
            nargs=entry.get("nargs"),
            choices=tuple(choices) if choices is not None else None,
            default=entry.get("default"),
            help=str(entry.get("help", "")),
            deprecated=bool(entry.get("deprecated", False)),
        )


def _bare(flag: str) -> str:
    return flag.strip().removeprefix("--")


@dataclass(frozen=True)
class Catalogue:
    """The flags of one SGLang release."""

    version: str
    flags: Mapping[str, CatalogueFlag]
    _index: dict[str, CatalogueFlag] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[str, CatalogueFlag] = {}
        for flag in self.flags.values():
            for option in flag.options:
                index[option] = flag
        object.__setattr__(self, "_index", index)

    def __contains__(self, flag: object) -> bool:
        return isinstance(flag, str) and _bare(flag) in self._index

    def __len__(self) -> int:
        return len(self.flags)

    @property
    def options(self) -> tuple[str, ...]:
        """Every long option string (without ``--``), aliases included, sorted."""
        return tuple(sorted(self._index))

    def get(self, flag: str) -> CatalogueFlag | None:
        """The flag an option string names exactly (``--`` optional), alias included."""
        return self._index.get(_bare(flag))

    def matches(self, flag: str) -> list[CatalogueFlag]:
        """The flags argparse would take ``flag`` for: the exact one, or every flag that has an
        option starting with it (one: an accepted abbreviation; more: ambiguous)."""
        bare = _bare(flag)
        exact = self._index.get(bare)
        if exact is not None:
            return [exact]
        found: dict[str, CatalogueFlag] = {}
        for option, item in self._index.items():
            if bare and option.startswith(bare):
                found[item.name] = item
        return [found[name] for name in sorted(found)]

    def resolve(self, flag: str, *, allow_prefix: bool = True) -> CatalogueFlag | None:
        """The flag ``flag`` names (an unambiguous prefix too, as argparse takes it)."""
        exact = self.get(flag)
        if exact is not None or not allow_prefix:
            return exact
        found = self.matches(flag)
        return found[0] if len(found) == 1 else None

    def check(self, flag: str, *, allow_prefix: bool = True) -> str | None:
        """None when this release's ``launch_server`` accepts the option ``flag``; otherwise
        what is wrong, with the closest option and where the other catalogues have it."""
        bare = _bare(flag)
        if self.resolve(bare, allow_prefix=allow_prefix) is not None:
            return None
        if allow_prefix:
            found = self.matches(bare)
            if len(found) > 1:
                names = ", ".join("--" + f.name for f in found[:6])
                more = f" and {len(found) - 6} more" if len(found) > 6 else ""
                return (f"--{bare} is ambiguous in SGLang {self.version}: it could be "
                        f"{names}{more}")
        hints = []
        same = self._same_option(bare)
        close = [same] if same else difflib.get_close_matches(bare, self.options, n=1, cutoff=0.6)
        if close:
            hints.append(f"did you mean --{close[0]}?")
        history = _history(self.version, lambda other: bare in other)
        if history:
            hints.append(history)
        extra = f" ({'; '.join(hints)})" if hints else ""
        return f"SGLang {self.version} has no flag --{bare}{extra}"

    def _same_option(self, bare: str) -> str | None:
        """This release's name for an option another release spells ``bare`` (an alias added
        or dropped: 0.5.23's --enable-hicache is 0.5.5's --enable-hierarchical-cache)."""
        for version in available_versions():
            if version == self.version:
                continue
            other = _load_exact(version).get(bare)
            if other is None:
                continue
            for option in other.options:
                if option in self._index:
                    return self._index[option].name
        return None

    def check_value(self, flag: str, value: object) -> str | None:
        """None when this release accepts ``value`` for ``flag`` (its type and choices);
        otherwise what is wrong. A switch takes True/False (False: the flag is left out)."""
        problem = self.check(flag)
        if problem is not None:
            return problem
        spec = self.resolve(flag)
        assert spec is not None
        name = f"--{_bare(flag)}" if _bare(flag) in spec.options else f"--{spec.name}"
        if spec.type == "bool":
            if isinstance(value, bool) or (
                isinstance(value, str) and value.lower() in ("true", "false")
            ):
                return None
            return f"{name} is an on/off switch in SGLang {self.version}: got {value!r}"
        values: list[object]
        if spec.type == "list":
            if isinstance(value, str):
                values = list(value.split())
            elif isinstance(value, Iterable):
                values = list(value)
            else:
                values = [value]
            if not values and spec.nargs == "+":
                return f"{name} takes at least one value"
            kind = spec.item or "str"
        else:
            values = [value]
            kind = spec.type
        for item in values:
            problem = self._check_one(spec, name, kind, item)
            if problem is not None:
                return problem
        return None

    def _check_one(self, spec: CatalogueFlag, name: str, kind: str, value: object) -> \
            str | None:
        text = _text(value)
        if kind in ("int", "float"):
            try:
                number: int | float = int(text) if kind == "int" else float(text)
            except ValueError:
                what = "an integer" if kind == "int" else "a number"
                return f"{name} takes {what} in SGLang {self.version}: got {value!r}"
            text = str(number) if kind == "int" else text
        if spec.choices is None:
            return None
        allowed = [_text(c) for c in spec.choices]
        if text in allowed:
            return None
        hints = []
        close = difflib.get_close_matches(text, allowed, n=1, cutoff=0.6)
        if close:
            hints.append(f"did you mean {close[0]!r}?")

        def has_choice(other: Catalogue) -> bool:
            found = other.resolve(spec.name, allow_prefix=False)
            return found is not None and text in {_text(c) for c in found.choices or ()}

        history = _history(self.version, has_choice)
        if history:
            hints.append(history)
        extra = f" ({'; '.join(hints)})" if hints else ""
        return (f"{name} in SGLang {self.version} takes one of {', '.join(allowed)}; "
                f"got {text!r}{extra}")


def _text(value: object) -> str:
    """A value as it appears on the command line."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _history(version: str, present: Any) -> str | None:
    """'added in X' / 'removed in Y (last in Z)' for whatever ``present(catalogue)`` tests,
    from the catalogues of the other releases."""
    here = version_key(version)
    older = [v for v in available_versions() if version_key(v) < here]
    newer = [v for v in available_versions() if version_key(v) > here]
    added = next((v for v in newer if present(_load_exact(v))), None)
    if added is not None:
        return f"added in {added}"
    last = next((v for v in reversed(older) if present(_load_exact(v))), None)
    if last is not None:
        after = [v for v in available_versions() if version_key(v) > version_key(last)]
        return f"removed in {after[0]}, last in {last}" if after else f"last in {last}"
    return None


def _data_files() -> dict[str, Any]:
    folder = resources.files(DATA_PACKAGE)
    for part in DATA_DIR:
        folder = folder.joinpath(part)
    if not folder.is_dir():
        return {}
    return {
        entry.name[: -len(".json")]: entry
        for entry in folder.iterdir()
        if entry.name.endswith(".json")
    }


@functools.cache
def available_versions() -> tuple[str, ...]:
    """The releases with a catalogue, oldest first."""
    return tuple(sorted(_data_files(), key=version_key))


def nearest_version(version: str) -> str:
    """The catalogued release for ``version``: the newest not newer than it; the newest for a
    later release, the oldest for an earlier one. ``latest`` (an image tag) is the newest."""
    versions = available_versions()
    if not versions:
        raise LookupError("no SGLang catalogue is installed (pytest_autotune/data/sglang/)")
    tag = version.strip().rsplit(":", 1)[-1] if ":" in version else version.strip()
    if tag in ("", "latest"):
        return versions[-1]
    wanted = version_key(version)
    not_newer = [v for v in versions if version_key(v) <= wanted]
    return not_newer[-1] if not_newer else versions[0]


@functools.cache
def _load_exact(version: str) -> Catalogue:
    files = _data_files()
    if version not in files:
        raise LookupError(
            f"no SGLang catalogue for {version} (have: {', '.join(available_versions())})"
        )
    data = json.loads(files[version].read_text(encoding="utf-8"))
    flags = {
        name: CatalogueFlag.from_json(name, entry) for name, entry in data["flags"].items()
    }
    return Catalogue(version=str(data.get("sglang", version)), flags=flags)


def load(version: str) -> Catalogue:
    """The catalogue nearest to ``version`` (see :func:`nearest_version`)."""
    return _load_exact(nearest_version(version))
