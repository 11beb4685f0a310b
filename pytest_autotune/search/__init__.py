"""Which configurations to measure: the strategies (grid, random, Optuna), the shortlist by
estimate, and the capacity search over load (pytest-free)."""
