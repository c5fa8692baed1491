"""Our own node as a subprocess: a one-city dev chain on a free port (tests may start the node;
the SDK and CLI only ever talk to it over JSON-RPC)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from node_helpers import NodeProcess, free_port

from cityledger.sdk import Signer


@dataclass(frozen=True)
class DevNode:
    url: str
    consortium: str
    admin: Signer  # the dev city's admin
    city: str


@contextmanager
def dev_node(directory: Path) -> Iterator[DevNode]:
    node = NodeProcess(directory / "data", free_port())
    node.start()
    try:
        info = node.dev_info
        admin = Signer.from_key(info["devAccount"]["privateKey"])
        yield DevNode(node.url, info["systemContracts"]["Consortium"], admin, "Dev City")
    finally:
        node.stop()
