"""Parity with real SGLang: the commands the plugin renders are ones SGLang's parser accepts.

For every release with a catalogue (pytest_autotune/data/sglang/), scripts/ensure-sglang-venv
builds an environment with that sglang release and CPU torch (cached under
~/.cache/pytest-autotune/sglang-venv/: minutes the first time, instant after), and
scripts/sglang-parse-check runs each command through SGLang's own ``prepare_server_args``, as
``sglang.launch_server`` does (with a dummy model: no GPU and no model are needed; see that
script). The commands are every launch command of every configuration of the example cases in
tuning_cases/, and one command per flag of the plugin's catalogue (``runtimes/sglang.py``) and
per choice of each flag. The release of the default image (0.5.5) must accept them all; for
every release, the catalogue file must be what the release itself says, and its checks must
predict the parser's verdict on each command.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import random
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_autotune.backends.base import ServerSpec
from pytest_autotune.cases.case import Case
from pytest_autotune.cases.load import case_from_marker, load_case_file
from pytest_autotune.cases.space import Range
from pytest_autotune.runtimes import catalogue, sglang
from pytest_autotune.values import Configuration, FlagValue

pytestmark = [pytest.mark.slow, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
CASES = ROOT / "tuning_cases"
VERSIONS = catalogue.available_versions()
#: the release of the default image: it must accept every command the plugin renders
DEFAULT_RELEASE = catalogue.nearest_version(sglang.DEFAULT_IMAGE)
#: configurations drawn from a space a grid cannot list (as the sampling strategies draw)
DRAWS = 6
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


@dataclass(frozen=True)
class Probe:
    """One launch command: where it comes from, its catalogue flags, and its argv after
    ``python3 -m sglang.launch_server``."""

    label: str
    flags: tuple[tuple[str, FlagValue], ...]
    argv: tuple[str, ...]


# -- the commands ----------------------------------------------------------------------------------
def example_cases() -> Iterator[Case]:
    """Every case in tuning_cases/: case files, and the autotune markers of its test modules."""
    for path in sorted([*CASES.glob("*.yaml"), *CASES.glob("*.yml"), *CASES.glob("*.json")]):
        yield load_case_file(path)
    for path in sorted(CASES.glob("test_*.py")):
        spec = importlib.util.spec_from_file_location(f"_parity_{path.stem}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for name, item in sorted(vars(module).items()):
            for mark in getattr(item, "pytestmark", []):
                if getattr(mark, "name", None) == "autotune":
                    yield case_from_marker(mark.kwargs, source=str(path), default_name=name,
                                           base_dir=CASES)


def configurations(case: Case) -> list[Configuration]:
    """What the plugin measures: the grid; for a space a grid cannot list, every combination
    of each axis's ends and middle, and draws as a sampling strategy makes them."""
    if case.configurations:
        return list(case.configurations)
    space = case.space
    corners: list[Sequence[FlagValue]] = []
    for axis in space.axes:
        if isinstance(axis, Range) and axis.step is None:
            middle = (float(axis.low) + float(axis.high)) / 2
            corners.append([axis.snap(float(axis.low)), axis.snap(middle),
                            axis.snap(float(axis.high))])
        else:
            corners.append(list(axis.values))
    found = [space.configuration(case.name, combo, i)
             for i, combo in enumerate(itertools.product(*corners))]
    rng = random.Random(0)
    found += [space.draw(case.name, rng, slot=len(found) + i) for i in range(DRAWS)]
    return found


def case_probes() -> list[Probe]:
    probes = []
    for case in example_cases():
        for config in configurations(case):
            spec = ServerSpec.from_case(case, config)
            argv = spec.argv(host="127.0.0.1", port=sglang.DEFAULT_PORT)
            assert tuple(argv[: len(spec.launcher)]) == tuple(spec.launcher)
            probes.append(Probe(f"{case.name}[{config.id}]", spec.flags,
                                tuple(argv[len(spec.launcher):])))
    return probes


def representative(flag: sglang.Flag) -> list[FlagValue]:
    """Values the plugin's catalogue admits for a flag: each choice, or one in its range."""
    if flag.kind is bool:
        return [True]
    if flag.choices:
        return [flag.coerce(choice) for choice in flag.choices]
    if flag.kind is str:
        return ["org/model" if flag.name.endswith("path") else "x"]
    low = flag.minimum if flag.minimum is not None else 1
    values: list[FlagValue]
    if flag.kind is float:
        high = flag.maximum if flag.maximum is not None else low + 1
        values = [flag.coerce((low + high) / 2)]
    else:
        values = [flag.coerce(int(low) if low else (8 if flag.kind is list else 1))]
    if flag.allow_minus_one:
        values.append(flag.coerce(-1))
    return values


def flag_probes() -> list[Probe]:
    probes = []
    for flag in sglang.FLAGS:
        for value in representative(flag):
            flags = ((flag.name, value),)
            argv = sglang.launch_argv(model_path="org/model", host="127.0.0.1",
                                      port=sglang.DEFAULT_PORT, flags=flags, launcher=())
            probes.append(Probe(f"--{flag.name} {value}", flags, tuple(argv)))
    return probes


# -- real SGLang -----------------------------------------------------------------------------------
def _run(argv: Sequence[str], *, timeout: float, stdin: str | None = None) -> \
        subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - argv list
        list(argv), input=stdin, capture_output=True, text=True, timeout=timeout, check=False,
        cwd=ROOT, env={**os.environ, **OFFLINE},
    )


@pytest.fixture(scope="session")
def sglang_python() -> Callable[[str], Path]:
    """The python of an environment with a real sglang release (built when missing: the test
    fails, with the build's output, when it cannot be built)."""
    built: dict[str, Path] = {}

    def ensure(version: str) -> Path:
        if version not in built:
            proc = _run([sys.executable, str(SCRIPTS / "ensure-sglang-venv"), version],
                        timeout=1500)
            if proc.returncode != 0 or not proc.stdout.strip():
                pytest.fail(f"scripts/ensure-sglang-venv {version} failed "
                            f"(exit {proc.returncode}):\n{(proc.stderr + proc.stdout)[-6000:]}")
            built[version] = Path(proc.stdout.strip().splitlines()[-1])
        return built[version]

    return ensure


@pytest.fixture(scope="session")
def probes() -> list[Probe]:
    found = case_probes() + flag_probes()
    assert len(found) > len(sglang.FLAGS)
    return found


@pytest.fixture(scope="session")
def verdicts(sglang_python: Callable[[str], Path], probes: list[Probe]) -> \
        Callable[[str], list[dict[str, Any]]]:
    """Each probe's verdict by a release's own parser (asked once per release)."""
    asked: dict[str, list[dict[str, Any]]] = {}

    def ask(version: str) -> list[dict[str, Any]]:
        if version not in asked:
            proc = _run([str(sglang_python(version)), str(SCRIPTS / "sglang-parse-check")],
                        stdin=json.dumps([list(p.argv) for p in probes]), timeout=600)
            if proc.returncode != 0:
                pytest.fail(f"sglang-parse-check failed under sglang {version}:\n"
                            f"{proc.stderr[-6000:]}")
            results: list[dict[str, Any]] = json.loads(proc.stdout)
            assert [r["argv"] for r in results] == [list(p.argv) for p in probes]
            asked[version] = results
        return asked[version]

    return ask


def test_the_default_release_accepts_every_command_the_plugin_renders(
        verdicts: Callable[[str], list[dict[str, Any]]], probes: list[Probe]) -> None:
    rejected = [f"{p.label}: {r['stage']}: {r['error']}"
                for p, r in zip(probes, verdicts(DEFAULT_RELEASE), strict=True) if not r["ok"]]
    assert not rejected, (f"SGLang {DEFAULT_RELEASE} rejects {len(rejected)} of "
                          f"{len(probes)} commands:\n" + "\n".join(rejected))


@pytest.mark.parametrize("version", VERSIONS)
def test_the_catalogue_predicts_the_real_parser(
        version: str, verdicts: Callable[[str], list[dict[str, Any]]],
        probes: list[Probe]) -> None:
    """Catalogue.check_value refuses exactly the commands the release refuses."""
    cat = catalogue.load(version)
    disagree = []
    for probe, verdict in zip(probes, verdicts(version), strict=True):
        problems = [p for p in (cat.check_value(n, v) for n, v in probe.flags) if p]
        if bool(problems) == verdict["ok"]:
            disagree.append(f"{probe.label}: parser {'accepts' if verdict['ok'] else 'rejects'} "
                            f"({verdict['error']}); catalogue: {problems or 'accepts'}")
    assert not disagree, "\n".join(disagree)


@pytest.mark.parametrize("version", VERSIONS)
def test_the_catalogue_file_is_what_the_release_says(
        version: str, sglang_python: Callable[[str], Path], tmp_path: Path) -> None:
    out = tmp_path / f"{version}.json"
    proc = _run([str(sglang_python(version)), str(SCRIPTS / "sglang-catalogue"),
                 "--output", str(out)], timeout=600)
    assert proc.returncode == 0, proc.stderr[-6000:]
    shipped = ROOT / "pytest_autotune" / "data" / "sglang" / f"{version}.json"
    assert out.read_text(encoding="utf-8") == shipped.read_text(encoding="utf-8"), (
        f"{shipped.relative_to(ROOT)} is stale: run "
        f"$(scripts/ensure-sglang-venv {version}) scripts/sglang-catalogue")


# -- SGLang's own benchmark client against the simulator ------------------------------------------
def english_dataset(path: Path, count: int = 200) -> Path:
    """ShareGPT-format conversations of English verse (genai-bench's bundled public-domain
    sonnets), so ``sglang.bench_serving`` samples real text instead of downloading ShareGPT."""
    spec = importlib.util.find_spec("genai_bench")  # not imported: it monkey-patches gevent
    assert spec is not None and spec.submodule_search_locations
    text = (Path(spec.submodule_search_locations[0]) / "data" / "sonnet.txt").read_text()
    lines = [line.strip() for line in text.splitlines() if line.strip()]

    def verse(start: int, n: int) -> str:
        return " ".join(lines[(start + k) % len(lines)] for k in range(n))

    rows = [{"id": str(i), "conversations": [
        {"from": "human", "value": verse(i * 7, 24)}, {"from": "gpt", "value": verse(i * 7, 6)}]}
        for i in range(count)]
    path.write_text(json.dumps(rows))
    return path


def client_tokenizer(path: Path) -> Path:
    """The tokenizer the simulator counts Llama-3.1's tokens with, as written for clients; the
    client loads it with its own transformers 4.x (sglang 0.5.5's pin)."""
    import shutil

    from pytest_autotune.bench import tokenizers

    shutil.copytree(tokenizers.directory("llama-3.1"), path)
    return path


@pytest.mark.parametrize("concurrency", [1, 4, 8])
def test_sglang_bench_serving_measures_what_the_simulator_did(
    sglang_python: Callable[[str], Path], tmp_path: Path, concurrency: int,
) -> None:
    """SGLang's own client (``python -m sglang.bench_serving``, backend sglang-oai, English text
    prompts) against a simulator: its TPOT, output throughput and input token counts within
    2 % of the simulator's ground truth; the fast tenth of its TTFTs within 5 ms of the
    simulator's alone, within 5 ms and one decode step with other streams."""
    python = sglang_python(DEFAULT_RELEASE)
    gaps: list[float] = []
    # A client or server starved of CPU (other tests, a shared machine) only ever reads or
    # stamps a first token late, never early, and not for every request: at 8 streams on two
    # busy cores the mean gap reached 21–24 ms. A first token the simulator held back (a
    # buffered stream, a late flush) would delay every request, the fastest too, so the fast
    # tenth of the requests (the 10th percentile of each side's TTFTs) is compared. Alone
    # (c=1) it must be within 5 ms: that holds the stream to its first token. With other
    # streams the client reads them and the simulator writes them on the same two cores, and
    # its clock starts when its one process gets to the request: one decode step more (the
    # fast tenth's gap was 9–10 ms at c=8, TPOT 7.6 ms). A gap beyond the bound is measured
    # once more, on a fresh simulator, and the better of the two must be within it.
    bound = 0.005
    for attempt in (1, 2):
        result, measured = _bench_serving(python, tmp_path / f"attempt-{attempt}", concurrency)
        if concurrency > 1:
            bound = 0.005 + result["mean_tpot_ms"] / 1e3
        # the first token as the server sent it (a CPU-starved simulator can send late)
        sent = [r["first_token_sent"] - r["arrival"] for r in measured]
        gaps.append(abs(tenth(result["ttfts"]) - tenth(sent)))
        if gaps[-1] < bound:
            break
    assert min(gaps) < bound, f"TTFT gaps of {gaps} s, bound {bound} s"

    def mean(key: str) -> float:
        return sum(float(r[key]) for r in measured) / len(measured)

    span = max(r["last_token_sent"] for r in measured) - min(r["arrival"] for r in measured)
    true_throughput = sum(r["output_tokens"] for r in measured) / span
    assert result["mean_tpot_ms"] / 1e3 == pytest.approx(mean("tpot"), rel=0.02)
    assert result["output_throughput"] == pytest.approx(true_throughput, rel=0.02)
    assert result["total_input_tokens"] == pytest.approx(
        sum(r["input_tokens"] for r in measured), rel=0.02)


def tenth(values: Sequence[float]) -> float:
    """The 10th percentile."""
    return statistics.quantiles(values, n=10)[0]


def _bench_serving(python: Path, tmp_path: Path, concurrency: int) -> tuple[
        dict[str, Any], list[dict[str, Any]]]:
    """One ``sglang.bench_serving`` run against a fresh simulator: its result line and the
    simulator's ground truth of the requests it measured (after its warm-up)."""
    from ..e2e.sim.conftest import start_sim

    tmp_path.mkdir(parents=True, exist_ok=True)
    sim = start_sim(tmp_path, "--sim-noise", "0")
    try:
        sim.wait_ready()
        out = tmp_path / "bench.jsonl"
        prompts = 16 * concurrency + 16
        argv = [str(python), "-m", "sglang.bench_serving", "--backend", "sglang-oai",
                "--host", "127.0.0.1", "--port", str(sim.port),
                "--model", "meta-llama/Llama-3.1-8B-Instruct",
                "--tokenizer", str(client_tokenizer(tmp_path / "tokenizer")),
                "--dataset-name", "random",
                "--dataset-path", str(english_dataset(tmp_path / "sonnets.json")),
                "--random-input-len", "300", "--random-output-len", "64",
                "--random-range-ratio", "1", "--num-prompts", str(prompts),
                "--max-concurrency", str(concurrency), "--warmup-requests", "1",
                "--disable-tqdm", "--output-file", str(out), "--output-details"]
        done = _run(argv, timeout=300)
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    finally:
        sim.stop()
    result = json.loads(out.read_text().splitlines()[-1])
    truth = [json.loads(line) for line in sim.truth.read_text().splitlines()]
    measured = truth[-result["completed"]:]
    assert result["completed"] == prompts and len(measured) == prompts
    return result, measured
