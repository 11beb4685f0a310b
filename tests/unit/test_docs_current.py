"""Generated docs are current: the JSON Schema of cases and the options table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("script", ["case_schema.py", "options_doc.py"])
def test_generated_doc_is_current(script: str) -> None:
    result = subprocess.run(  # noqa: S603
        [sys.executable, str(ROOT / "scripts" / script), "--check"], cwd=ROOT, timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"run: .venv/bin/python scripts/{script}"
