"""Write docs/configuration.md from the option declarations (one source of truth).

    .venv/bin/python scripts/options_doc.py          # regenerate
    .venv/bin/python scripts/options_doc.py --check  # exit 1 if the committed file is stale
"""

from __future__ import annotations

import sys
from pathlib import Path

from pytest_autotune.settings import OPTIONS

TARGET = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"

HEADER = """\
# Configuration

Every option has three spellings. Precedence: command line > environment variable > ini file
(`pytest.ini`, `pyproject.toml` `[tool.pytest.ini_options]`, `tox.ini`, `setup.cfg`) > default.
A bad value is a usage error that names where it came from.

| command line | ini key | environment | meaning |
|---|---|---|---|
"""

FOOTER = """
Per-case settings (timeouts, objective, simulator GPU, search, …) live in the tuning case; see
[tuning-cases.md](tuning-cases.md). `--autotune-deploy-timeout`, `--autotune-bench-timeout`,
`--autotune-sim-startup-scale`, `--autotune-sim-slowdown`, `--autotune-search` and
`--autotune-trials` override the case's values for one run ([search.md](search.md) describes the
search strategies).
"""


def text() -> str:
    rows = []
    for o in OPTIONS:
        cli = o.cli if o.flag else f"{o.cli}={o.metavar or 'VALUE'}"
        rows.append(f"| `{cli}` | `{o.ini}` | `{o.env}` | {o.help} |")
    return HEADER + "\n".join(rows) + "\n" + FOOTER


if __name__ == "__main__":
    content = text()
    if "--check" in sys.argv:
        sys.exit(0 if TARGET.exists() and TARGET.read_text() == content else 1)
    TARGET.write_text(content)
    print(f"wrote {TARGET}")
