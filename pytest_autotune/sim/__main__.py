"""``python -m pytest_autotune.sim``: the simulated ``sglang.launch_server``."""

from __future__ import annotations

import sys

from .server import main

sys.exit(main())
