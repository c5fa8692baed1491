"""Per-grant fingerprints in delivered copies of a dataset, and the tracing of a leaked file back
to the grant whose copy it came from (docs/leak-tracing.md)."""
