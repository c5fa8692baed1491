"""cityledger.cli"""

# First, so that `cityledger node start` hashes with the C keccak backend it selects.
import cityledger.node  # noqa: F401
