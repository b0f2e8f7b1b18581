"""Background jobs of the import: what the queue runs (filled in by the import work)."""
