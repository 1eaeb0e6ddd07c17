"""State that outlives a worker: the versioned snapshot codec and tables kept in compacted topics."""
