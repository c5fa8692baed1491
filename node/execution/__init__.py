"""Execution: the py-evm VM of a cityledger chain, transaction decoding, the block executor and
calls rolled back after they run."""
