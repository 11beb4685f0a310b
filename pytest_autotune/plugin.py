"""pytest11 entry point (filled in below)."""
