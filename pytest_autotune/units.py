"""Parsing of the human units tuning cases accept: ``200ms``, ``0.2s``, ``1%``, ``2m``."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(us|µs|ms|s|sec|m|min|h)?\s*$")
_SCALE = {None: 1.0, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "sec": 1.0,
          "m": 60.0, "min": 60.0, "h": 3600.0}

DURATION_HELP = "a number of seconds or a string such as '200ms', '1.5s', '2m'"
RATIO_HELP = "a fraction such as 0.01 or a percentage such as '1%'"


def parse_duration(value: object) -> float:
    """Seconds from ``200ms``/``0.2s``/``2m``/``0.2`` (bare numbers are seconds)."""
    if isinstance(value, bool):
        raise ValueError(f"expected {DURATION_HELP}, got {value!r}")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"a duration cannot be negative, got {value!r}")
        return float(value)
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return float(m.group(1)) * _SCALE[m.group(2)]
    raise ValueError(f"expected {DURATION_HELP}, got {value!r}")


def parse_ratio(value: object) -> float:
    """A fraction from ``1%`` or ``0.01``."""
    if isinstance(value, bool):
        raise ValueError(f"expected {RATIO_HELP}, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            if text.endswith("%"):
                return float(text[:-1]) / 100.0
            return float(text)
        except ValueError:
            pass
    raise ValueError(f"expected {RATIO_HELP}, got {value!r}")


def format_seconds(value: float | None) -> str:
    """Compact human rendering of a latency: ``850µs``, ``23.4ms``, ``1.20s``."""
    if value is None:
        return "-"
    if value < 1e-3:
        return f"{value * 1e6:.0f}µs"
    if value < 1.0:
        return f"{value * 1e3:.1f}ms"
    return f"{value:.2f}s"
