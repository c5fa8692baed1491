"""cityledger.node: the chain node (execution, storage, transaction pool, JSON-RPC)."""

import os
from importlib.metadata import PackageNotFoundError, version

# eth-hash picks pycryptodome before pysha3 unless told; every trie node and envelope is hashed,
# and the C backend costs a fraction per call. Must be set before the first keccak in the process.
os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")

try:
    __version__ = version("cityledger")
except PackageNotFoundError:
    __version__ = "0.0.0"
