#!/usr/bin/env python3
"""Build, without any image registry, the test image of the Docker backend.

    python3 scripts/build_sim_image.py            # build or reuse; prints the tag on stdout
    python3 scripts/build_sim_image.py --tag      # only print the tag the sources give

Two layers, each tagged by a content hash so that a second run reuses them:

1. ``pytest-autotune-base:<hash>``: a minimal Debian (debootstrap ``--variant=minbase``
   ``--include=python3``, from the Debian mirror apt already uses), stripped of documentation and
   package caches, turned into an image with ``docker import``. The hash covers that recipe.
2. ``pytest-autotune-sim:<hash>``: ``tests/integration/image/Dockerfile`` on top of it, adding
   ``pytest_autotune/__init__.py``, ``pytest_autotune/sim/`` (standard library only) and a
   ``sglang/launch_server.py`` stand-in, so ``python3 -m sglang.launch_server ...`` runs the
   simulator. The hash covers the base tag, the Dockerfile and every file copied in.

``pytest-autotune-sim:latest`` is moved to the newest build (the example case in
``tests/integration/cases`` names it); older tags of both repositories are removed. Needs root
(or password-less sudo) for debootstrap, a Docker engine, and ``debootstrap`` and ``tar``.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGE_DIR = ROOT / "tests" / "integration" / "image"
BASE_REPO = "pytest-autotune-base"
SIM_REPO = "pytest-autotune-sim"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
#: What goes into the base layer; any change here changes its tag.
BASE_RECIPE: dict[str, object] = {
    "recipe": 1,
    "suite": "bookworm",
    "variant": "minbase",
    "include": ["python3"],
    "prune": ["var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man",
              "usr/share/info", "usr/share/locale", "var/log"],
    "changes": ['CMD ["python3"]', "ENV LANG=C.UTF-8"],
}


def log(message: str) -> None:
    print(f"build-sim-image: {message}", file=sys.stderr, flush=True)


def sources() -> list[tuple[str, Path]]:
    """(path inside the build context, file) for everything the Dockerfile copies."""
    package = ROOT / "pytest_autotune"
    out = [("pytest_autotune/__init__.py", package / "__init__.py")]
    for base, prefix in ((package / "sim", "pytest_autotune/sim"),
                         (IMAGE_DIR / "sglang", "sglang")):
        for path in sorted(base.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                out.append((f"{prefix}/{path.relative_to(base).as_posix()}", path))
    return out


def base_tag() -> str:
    digest = hashlib.sha256(json.dumps(BASE_RECIPE, sort_keys=True).encode()).hexdigest()
    return f"{BASE_REPO}:{digest[:12]}"


def sim_tag(base: str) -> str:
    h = hashlib.sha256()
    h.update(base.encode() + b"\0")
    h.update((IMAGE_DIR / "Dockerfile").read_bytes() + b"\0")
    for name, path in sources():
        h.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return f"{SIM_REPO}:{h.hexdigest()[:12]}"


def run(argv: Sequence[str], *, timeout: float, env: dict[str, str] | None = None,
        quiet: bool = False) -> subprocess.CompletedProcess[str]:
    """Run a command (argv list, no shell); on failure raise with the tail of its output."""
    proc = subprocess.run(  # noqa: S603 - argv list, no shell
        list(argv), capture_output=True, text=True, timeout=timeout, env=env, check=False,
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise SystemExit(f"build-sim-image: `{' '.join(argv[:3])} ...` failed "
                         f"(exit {proc.returncode}):\n{tail}")
    if not quiet and proc.stderr.strip():
        log(proc.stderr.strip().splitlines()[-1])
    return proc


def image_exists(tag: str) -> bool:
    proc = subprocess.run(["docker", "image", "inspect", tag],  # noqa: S603
                          capture_output=True, text=True, timeout=60, check=False)
    return proc.returncode == 0


def debian_mirror() -> str:
    """The Debian archive apt uses here (deb822 ``URIs:`` or one-line ``deb URL suite``)."""
    override = os.environ.get("AUTOTUNE_DEBIAN_MIRROR")
    if override:
        return override
    files = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in files:
        if not path.is_file() or path.suffix not in ("", ".list", ".sources"):
            continue
        with contextlib.suppress(OSError):
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                match = (re.match(r"^\s*URIs:\s*(\S+)", line)
                         or re.match(r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)", line))
                if match and "security" not in match.group(1) and "debian" in match.group(1):
                    return match.group(1).rstrip("/")
    return DEFAULT_MIRROR


def as_root(argv: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return argv
    if shutil.which("sudo"):
        return ["sudo", "-n", *argv]
    raise SystemExit("build-sim-image: debootstrap needs root (or password-less sudo)")


def build_base(tag: str, mirror: str) -> None:
    for tool in ("debootstrap", "tar", "docker"):
        if shutil.which(tool) is None:
            raise SystemExit(f"build-sim-image: `{tool}` is not installed "
                             "(apt-get install -y debootstrap docker.io)")
    work = Path(tempfile.mkdtemp(prefix="autotune-rootfs-", dir="/var/tmp"))
    root = work / "root"
    try:
        started = time.monotonic()
        log(f"debootstrap {BASE_RECIPE['suite']} ({BASE_RECIPE['variant']}, python3) from {mirror}")
        include = ",".join(str(i) for i in BASE_RECIPE["include"])  # type: ignore[attr-defined]
        run(as_root(["debootstrap", f"--variant={BASE_RECIPE['variant']}",
                     f"--include={include}", str(BASE_RECIPE["suite"]), str(root), mirror]),
            timeout=1200, quiet=True)
        for rel in BASE_RECIPE["prune"]:  # type: ignore[attr-defined]
            target = root / str(rel)
            if target.is_dir():
                run(as_root(["find", str(target), "-mindepth", "1", "-delete"]), timeout=120)
        tarball = work / "rootfs.tar"
        run(as_root(["tar", "--numeric-owner", "--exclude=./dev/*", "--exclude=./proc/*",
                     "--exclude=./sys/*", "-C", str(root), "-cf", str(tarball), "."]),
            timeout=600)
        changes: list[str] = []
        for change in BASE_RECIPE["changes"]:  # type: ignore[attr-defined]
            changes += ["--change", str(change)]
        run(["docker", "import", *changes, str(tarball), tag], timeout=600, quiet=True)
        size = tarball.stat().st_size / 2**20
        log(f"base image {tag} ({size:.0f} MiB) built in {time.monotonic() - started:.1f} s")
    finally:
        if work.exists():
            subprocess.run(as_root(["rm", "-rf", "--one-file-system", str(work)]),  # noqa: S603
                           timeout=300, check=False)


def build_sim(tag: str, base: str) -> None:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="autotune-image-") as tmp:
        context = Path(tmp)
        shutil.copy2(IMAGE_DIR / "Dockerfile", context / "Dockerfile")
        for name, path in sources():
            (context / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, context / name)
        env = dict(os.environ, DOCKER_BUILDKIT="0")
        run(["docker", "build", "--quiet", "--build-arg", f"BASE={base}", "-t", tag,
             "-t", f"{SIM_REPO}:latest", str(context)], timeout=600, env=env, quiet=True)
    log(f"image {tag} built in {time.monotonic() - started:.1f} s")


def image_id(tag: str) -> str | None:
    proc = subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", tag],  # noqa: S603
                          capture_output=True, text=True, timeout=60, check=False)
    return (proc.stdout.strip() or None) if proc.returncode == 0 else None


def prune(repo: str, keep: set[str]) -> None:
    """Remove older tags of ``repo`` (best effort: an image still in use stays)."""
    proc = subprocess.run(  # noqa: S603
        ["docker", "image", "ls", repo, "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    for tag in proc.stdout.split():
        if tag not in keep and not tag.endswith(":<none>"):
            subprocess.run(["docker", "image", "rm", tag],  # noqa: S603
                           capture_output=True, timeout=120, check=False)


@contextlib.contextmanager
def locked() -> Iterator[None]:
    """One build at a time on this machine (xdist workers may all ask at once)."""
    lock_dir = Path(tempfile.gettempdir()) / f"pytest-autotune-{os.getuid()}"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / "build-sim-image.lock", "a+", encoding="utf-8") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--tag", action="store_true", help="print the tag only; build nothing")
    parser.add_argument("--force", action="store_true", help="rebuild even when the tag exists")
    parser.add_argument("--mirror", default=None, help="Debian mirror (default: apt's own)")
    args = parser.parse_args(argv)
    base = base_tag()
    tag = sim_tag(base)
    if args.tag:
        print(tag)
        return 0
    if shutil.which("docker") is None:
        raise SystemExit("build-sim-image: the docker CLI is not installed")
    started = time.monotonic()
    with locked():
        if image_exists(tag) and not args.force:
            log(f"{tag} is up to date ({time.monotonic() - started:.1f} s)")
            print(tag)
            return 0
        replaced = {image_id(t) for t in (base, tag)} - {None}
        if args.force or not image_exists(base):
            build_base(base, args.mirror or debian_mirror())
        build_sim(tag, base)
        prune(SIM_REPO, {tag, f"{SIM_REPO}:latest"})
        prune(BASE_REPO, {base})
        for old in replaced - {image_id(base), image_id(tag)}:  # rebuilt: the old ones dangle
            subprocess.run(["docker", "image", "rm", str(old)],  # noqa: S603
                           capture_output=True, timeout=120, check=False)
    log(f"done in {time.monotonic() - started:.1f} s")
    print(tag)
    return 0


if __name__ == "__main__":
    sys.exit(main())
