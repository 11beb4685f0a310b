"""Reports: the run report (data), terminal tables, per-case results files, numbered run files."""
