"""Block production: building a block from the pool, checking a proposed one by executing it,
and committing a final block with its certificate; the per-block budget, previews that let
followers execute early, and the validator set a block is sealed by."""
