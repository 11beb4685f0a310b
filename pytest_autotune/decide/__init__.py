"""Decisions from measurements: intervals, SLO verdicts, scores, the ranking and its ties,
racing, pruning and the baseline gate (pytest-free)."""
