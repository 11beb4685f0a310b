"""Write the JSON Schema of the YAML tuning-case format to docs/case.schema.json.

    .venv/bin/python scripts/case_schema.py          # regenerate
    .venv/bin/python scripts/case_schema.py --check  # exit 1 if the committed file is stale
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pytest_autotune.cases.schema import CaseSpec

TARGET = Path(__file__).resolve().parent.parent / "docs" / "case.schema.json"


def schema_text() -> str:
    schema = CaseSpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "pytest-autotune tuning case"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    text = schema_text()
    if "--check" in sys.argv:
        sys.exit(0 if TARGET.exists() and TARGET.read_text() == text else 1)
    TARGET.write_text(text)
    print(f"wrote {TARGET}")
