"""One metric's change from a baseline run to this one, and its verdict (a value the results
carry; the gate in gate.py decides it)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .stats import Interval

DEFAULT_THRESHOLD = 0.05
ChangeVerdict = Literal["regression", "worse within threshold", "improvement", "within noise",
                        "unresolved"]


@dataclass(frozen=True)
class Change:
    """One metric, baseline → this run."""

    metric: str
    higher_is_better: bool
    old: float
    new: float
    interval: Interval | None  # of the relative change
    verdict: ChangeVerdict
    threshold: float = DEFAULT_THRESHOLD

    @property
    def relative(self) -> float:
        return (self.new - self.old) / abs(self.old) if self.old else math.inf

    def text(self) -> str:
        ci = ""
        if self.interval is not None and self.interval.bounded:
            ci = f" (95 % CI {self.interval.low:+.1%} … {self.interval.high:+.1%})"
        tail = {
            "regression": f", beyond the {self.threshold:.0%} threshold",
            "worse within threshold": f", worse but within the {self.threshold:.0%} threshold",
            "improvement": ", an improvement",
            "within noise": ", within the noise",
            "unresolved": ", too few requests to tell (open interval)",
        }[self.verdict]
        return f"{self.metric} {self.relative:+.1%}{ci}{tail}"

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "higher_is_better": self.higher_is_better,
                "old": self.old, "new": self.new, "relative": self.relative,
                "interval": self.interval.to_dict() if self.interval else None,
                "verdict": self.verdict, "threshold": self.threshold}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Change:
        iv = data.get("interval")
        return cls(str(data["metric"]), bool(data["higher_is_better"]), float(data["old"]),
                   float(data["new"]), Interval.from_dict(iv) if iv else None,
                   data.get("verdict", "within noise"),
                   float(data.get("threshold", DEFAULT_THRESHOLD)))
