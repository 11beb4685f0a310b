"""The catalogues generated from real SGLang releases (pytest_autotune/data/sglang/*.json):
loading, picking the nearest release, and the problems and hints they give. No sglang needed;
tests/integration/test_sglang_parity.py asks the real parser."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_autotune.runtimes import catalogue, sglang

DATA = Path(catalogue.__file__).resolve().parent.parent / "data" / "sglang"


def _clear_caches() -> None:
    catalogue.available_versions.cache_clear()
    catalogue._load_exact.cache_clear()


@pytest.fixture
def fake_releases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Three made-up releases: --old goes away in 1.2, --new comes in 1.3, --mode gains a
    choice in 1.3, --warp-size is also --wsize in 1.3."""
    releases: dict[str, dict[str, Any]] = {
        "1.0": {"old": {"type": "bool"}, "mode": {"type": "str", "choices": ["a", "b"]},
                "warp-size": {"type": "int"}},
        "1.2": {"mode": {"type": "str", "choices": ["a", "b"]}, "warp-size": {"type": "int"}},
        "1.3": {"new": {"type": "int"}, "mode": {"type": "str", "choices": ["a", "b", "c"]},
                "warp-size": {"type": "int", "aliases": ["wsize"]}},
    }
    for version, flags in releases.items():
        (tmp_path / f"{version}.json").write_text(
            json.dumps({"format": 1, "sglang": version, "flags": flags}), encoding="utf-8")
    monkeypatch.setattr(catalogue, "_data_files",
                        lambda: {p.stem: p for p in tmp_path.glob("*.json")})
    _clear_caches()
    yield
    _clear_caches()


# -- versions --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "key"), [
    ("0.5.5", ((0, 5, 5), 0, 0)),
    ("0.5.5.post3", ((0, 5, 5), 0, 3)),
    ("v0.5.5.post3-cu129-amd64", ((0, 5, 5), 0, 3)),
    ("lmsysorg/sglang:v0.5.23-cu130", ((0, 5, 23), 0, 0)),
    ("0.5.5rc1", ((0, 5, 5), -1, 0)),
    ("0.5.0", ((0, 5), 0, 0)),
])
def test_version_key_reads_releases_tags_and_images(text: str, key: catalogue.VersionKey) -> None:
    assert catalogue.version_key(text) == key


def test_version_key_orders_releases() -> None:
    ordered = ["0.4.10", "0.5.5rc1", "0.5.5", "0.5.5.post3", "0.5.9", "0.5.23"]
    assert sorted(reversed(ordered), key=catalogue.version_key) == ordered


@pytest.mark.parametrize("text", ["", "nightly", "cu129"])
def test_version_key_refuses_text_without_a_release(text: str) -> None:
    with pytest.raises(ValueError, match="no SGLang release"):
        catalogue.version_key(text)


def test_shipped_catalogues_include_the_default_release_and_the_newest() -> None:
    versions = catalogue.available_versions()
    assert "0.5.5" in versions and "0.5.23" in versions
    assert list(versions) == sorted(versions, key=catalogue.version_key)


@pytest.mark.parametrize(("wanted", "picked"), [
    ("1.2", "1.2"), ("1.2.post3", "1.2"), ("v1.2.post3-cu129-amd64", "1.2"), ("1.2.9", "1.2"),
    ("1.3", "1.3"), ("2.0", "1.3"), ("0.9", "1.0"), ("repo/sglang:v1.0.1-cu126", "1.0"),
    ("latest", "1.3"), ("repo/sglang:latest", "1.3"),
])
def test_nearest_version_is_the_newest_not_newer(fake_releases: None, wanted: str,
                                                  picked: str) -> None:
    assert catalogue.nearest_version(wanted) == picked
    assert catalogue.load(wanted).version == picked


def test_the_default_image_maps_to_the_0_5_5_catalogue() -> None:
    assert catalogue.load(sglang.DEFAULT_IMAGE).version == "0.5.5"
    assert catalogue.nearest_version("0.5.9") == "0.5.5"


# -- flags -----------------------------------------------------------------------------------------
def test_check_accepts_names_aliases_and_unambiguous_prefixes() -> None:
    cat = catalogue.load("0.5.5")
    assert cat.check("--tp-size") is None
    assert cat.check("tensor-parallel-size") is None
    assert cat.check("mem-frac") is None  # argparse takes an unambiguous prefix
    assert cat.resolve("mem-frac") is cat.get("mem-fraction-static")
    assert cat.check("mem-frac", allow_prefix=False) is not None


def test_check_says_a_prefix_is_ambiguous() -> None:
    problem = catalogue.load("0.5.5").check("cuda-graph")
    assert problem is not None
    assert "ambiguous" in problem and "--cuda-graph-bs" in problem


def test_check_suggests_the_closest_flag() -> None:
    problem = catalogue.load("0.5.5").check("schedule-polcy")
    assert problem == "SGLang 0.5.5 has no flag --schedule-polcy (did you mean --schedule-policy?)"


def test_check_says_when_a_flag_was_added_or_removed(fake_releases: None) -> None:
    assert catalogue.load("1.2").check("new") == "SGLang 1.2 has no flag --new (added in 1.3)"
    assert catalogue.load("1.3").check("old") == (
        "SGLang 1.3 has no flag --old (removed in 1.2, last in 1.0)")
    assert catalogue.load("1.0").check("zzz") == "SGLang 1.0 has no flag --zzz"


def test_check_names_this_releases_spelling_of_another_releases_alias(
        fake_releases: None) -> None:
    assert catalogue.load("1.3").check("wsize") is None
    assert catalogue.load("1.2").check("wsize") == (
        "SGLang 1.2 has no flag --wsize (did you mean --warp-size?; added in 1.3)")


def test_real_history_hints() -> None:
    old, new = catalogue.load("0.5.5"), catalogue.load("0.5.23")
    assert old.check("enable-hicache") == ("SGLang 0.5.5 has no flag --enable-hicache (did you "
                                           "mean --enable-hierarchical-cache?; added in 0.5.23)")
    problem = new.check("enable-piecewise-cuda-graph")
    assert problem is not None and "removed in 0.5.23, last in 0.5.5" in problem


# -- values ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("flag", "value", "problem"), [
    ("schedule-policy", "routing-key", "--schedule-policy in SGLang 0.5.5 takes one of lpm, "
     "random, fcfs, dfs-weight, lof, priority; got 'routing-key' (added in 0.5.23)"),
    ("schedule-policy", "lmp", "got 'lmp' (did you mean 'lpm'?)"),
    ("load-balance-method", "total_tokens", "(added in 0.5.23)"),
    ("sampling-backend", "ascend", "(added in 0.5.23)"),
    ("tp-size", "two", "--tp-size takes an integer in SGLang 0.5.5: got 'two'"),
    ("mem-fraction-static", "most", "--mem-fraction-static takes a number"),
    ("cuda-graph-bs", [1, 2, "x"], "--cuda-graph-bs takes an integer"),
    ("cuda-graph-bs", [], "takes at least one value"),
    ("enable-eplb", 3, "--enable-eplb is an on/off switch"),
    ("no-such-flag", 1, "SGLang 0.5.5 has no flag --no-such-flag"),
])
def test_check_value_refuses(flag: str, value: object, problem: str) -> None:
    found = catalogue.load("0.5.5").check_value(flag, value)
    assert found is not None and problem in found


@pytest.mark.parametrize(("flag", "value"), [
    ("schedule-policy", "lpm"), ("tp-size", 2), ("tp-size", "4"), ("mem-fraction-static", 0.85),
    ("cuda-graph-bs", [1, 2, 4]), ("cuda-graph-bs", "1 2 4"), ("cuda-graph-bs", 8),
    ("enable-eplb", True), ("enable-eplb", "false"), ("log-level", "debug"),
])
def test_check_value_accepts(flag: str, value: object) -> None:
    assert catalogue.load("0.5.5").check_value(flag, value) is None


def test_a_choice_removed_later_is_named(fake_releases: None) -> None:
    assert catalogue.load("1.3").check_value("mode", "c") is None
    assert catalogue.load("1.2").check_value("mode", "c") == (
        "--mode in SGLang 1.2 takes one of a, b; got 'c' (added in 1.3)")


# -- the shipped files -----------------------------------------------------------------------------
@pytest.mark.parametrize("path", sorted(DATA.glob("*.json")), ids=lambda p: p.name)
def test_catalogue_files_are_small_sorted_and_named_by_release(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    data = json.loads(text)
    assert data["sglang"] == path.stem
    assert list(data["flags"]) == sorted(data["flags"])
    assert len(text) < 150_000
    for name, entry in data["flags"].items():
        assert entry["type"] in ("int", "float", "str", "bool", "list"), name
        assert len(entry.get("help", "")) <= 200, name


def test_hand_written_catalogue_only_offers_what_0_5_5_accepts() -> None:
    """Every flag of the plugin's catalogue, with its kind and each of its choices, is in the
    0.5.5 catalogue (the integration parity test asks the real parser)."""
    real = catalogue.load("0.5.5")
    kinds = {int: "int", float: "float", str: "str", bool: "bool", list: "list"}
    for flag in sglang.FLAGS:
        assert real.check(flag.name, allow_prefix=False) is None, flag.name
        spec = real.get(flag.name)
        assert spec is not None
        assert spec.type == kinds[flag.kind], flag.name
        for choice in flag.choices:
            assert real.check_value(flag.name, choice) is None, (flag.name, choice)
