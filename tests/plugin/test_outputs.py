"""Where a run writes: an output that cannot be written is a usage error before anything is
deployed, and a write that fails at the end keeps the run's report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ..scratch import case, run
from ..standin import use_standin


@pytest.mark.parametrize(("blocked", "option"), [
    ("results", "--autotune-results-dir"), (".autotune", "--autotune-storage")])
def test_an_unwritable_output_stops_the_run_before_the_first_deployment(
        project: pytest.Pytester, blocked: str, option: str) -> None:
    """A file where the directory should be used to end the run with an INTERNALERROR
    (NotADirectoryError) after every point was measured."""
    use_standin(project)
    project.makefile(".yaml", chat=case("chat", ""))
    (project.path / blocked).write_text("not a directory\n")
    result = run(project, "chat.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*cannot write its results, so nothing is deployed: {option} "
                                 f"*{blocked}* is a file, not a directory*"])
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    assert "D(50,20)" not in result.stdout.str()  # no item ran


def test_collect_only_does_not_check_the_outputs(project: pytest.Pytester) -> None:
    project.makefile(".yaml", chat=case("chat", ""))
    (project.path / "results").write_text("not a directory\n")
    result = run(project, "chat.yaml", "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.OK


def test_a_write_that_fails_at_the_end_keeps_the_report(project: pytest.Pytester) -> None:
    """The directory is taken away during the run: the other writers still write, the run
    fails naming what could not be written, and the report is kept in a temporary file."""
    use_standin(project)
    project.makefile(".yaml", chat=case("chat", ""))
    project.makeconftest("""
        from pathlib import Path

        def pytest_runtest_teardown(item):
            results = Path(str(item.config.rootpath)) / "results"
            (results / "chat_results.json").mkdir(parents=True, exist_ok=True)
    """)
    result = run(project, "chat.yaml")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str()
    assert "INTERNALERROR" not in out
    result.stdout.fnmatch_lines(["*autotune: the seed-json writer could not write*"
                                 "chat_results.json*",
                                 "*autotune: the run's report is kept in *pytest-autotune-*.json*"])
    kept = Path(out.split("the run's report is kept in ")[1].split()[0])
    try:
        data = json.loads(kept.read_text())
        assert [c["name"] for c in data["cases"]] == ["chat"]
    finally:
        kept.unlink()
    assert list((project.path / ".autotune" / "runs").glob("0001_*.json"))  # the others wrote
