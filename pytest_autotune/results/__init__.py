"""What a run keeps: point records, trials and run reports, the journal, numbered run files,
and whether a run is complete (pytest-free)."""
