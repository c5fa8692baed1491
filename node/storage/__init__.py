"""Storage: LevelDB and the block stage above it, the key schema, the log index and the
reader of final chain data."""
