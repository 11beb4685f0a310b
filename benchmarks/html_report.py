"""What the HTML report costs a run: its size and the time to render and write it.

Renders a stored run (default: the latest under .autotune/runs; `make demo` makes one) and
times ``render_run`` + ``write_html`` with pytest-benchmark, next to the run's own wall time.

    .venv/bin/python benchmarks/html_report.py [RUN_FILE]

Prints the figures and writes benchmarks/results/html_report.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results" / "html_report.json"

BENCH = '''
from pathlib import Path

from pytest_autotune.report.html import render_run, write_html
from pytest_autotune.results.runs import load_run

RUN = Path({run!r})


def test_render_and_write(benchmark, tmp_path):
    report = load_run(RUN)
    benchmark(lambda: write_html(tmp_path / "report.html", render_run(report)))
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", nargs="?", type=Path, default=None,
                        help="a run file (default: the latest under .autotune/runs)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from pytest_autotune.report.html import render_run
    from pytest_autotune.results.runs import find_run, load_run

    path = args.run or find_run(ROOT / ".autotune", None)
    report = load_run(path)
    page = render_run(report)
    points = sum(1 for t in report.trials for p in t.points if p.metrics is not None)
    with tempfile.TemporaryDirectory(prefix="autotune-html-") as tmp:
        bench_file = Path(tmp) / "test_html_cost.py"
        bench_file.write_text(textwrap.dedent(BENCH.format(run=str(path.resolve()))))
        out = Path(tmp) / "bench.json"
        subprocess.run(  # noqa: S603 - argv list
            [sys.executable, "-m", "pytest", str(bench_file), "-q", "-p", "no:cacheprovider",
             "-p", "no:autotune", f"--benchmark-json={out}"], cwd=tmp, check=True,
            timeout=600, capture_output=True)
        stats = json.loads(out.read_text())["benchmarks"][0]["stats"]
    run_s = report.finished - report.started
    result = {
        "run_file": path.name, "cases": len(report.cases), "measured_points": points,
        "bytes": len(page.encode("utf-8")), "render_write_median_ms": stats["median"] * 1e3,
        "render_write_iqr_ms": stats["iqr"] * 1e3, "rounds": stats["rounds"],
        "run_wall_s": run_s, "share_of_run": stats["median"] / run_s if run_s > 0 else None,
    }
    print(f"{path.name}: {result['cases']} case(s), {points} measured points")
    print(f"HTML report: {result['bytes'] / 1024:.1f} KiB")
    print(f"render + write: median {result['render_write_median_ms']:.1f} ms "
          f"(IQR {result['render_write_iqr_ms']:.1f} ms, {stats['rounds']} rounds); "
          f"the run took {run_s:.0f} s")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
