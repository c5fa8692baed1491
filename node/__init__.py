"""cityledger.node: the chain node. `service` wires its components: `storage`, `execution`,
the transaction pool, `production` of blocks, `consensus`, `p2p` and `rpc`."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cityledger")
except PackageNotFoundError:
    __version__ = "0.0.0"
