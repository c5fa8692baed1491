"""cityledger.node: the chain node (execution, storage, transaction pool, JSON-RPC)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cityledger")
except PackageNotFoundError:
    __version__ = "0.0.0"
