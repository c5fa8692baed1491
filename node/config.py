"""Node settings and the layout of a node's data directory."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cityledger.node.block_producer import ProducerSettings
from cityledger.node.rpc_methods import RpcLimits
from cityledger.node.txpool import PoolLimits

DEFAULT_CHAIN_ID = 1337
DEFAULT_RPC_HOST = "127.0.0.1"
DEFAULT_RPC_PORT = 8545


@dataclass(frozen=True)
class DataDir:
    """DIR/genesis.json, DIR/node.key (the validator key), DIR/chaindata/ (LevelDB), and in
    dev mode DIR/dev.json."""

    root: Path

    @property
    def genesis(self) -> Path:
        return self.root / "genesis.json"

    @property
    def node_key(self) -> Path:
        return self.root / "node.key"

    @property
    def chaindata(self) -> Path:
        return self.root / "chaindata"

    @property
    def dev_info(self) -> Path:
        return self.root / "dev.json"

    @property
    def is_initialized(self) -> bool:
        return self.genesis.exists() and self.chaindata.exists()


@dataclass(frozen=True)
class NodeConfig:
    data_dir: DataDir
    rpc_host: str = DEFAULT_RPC_HOST
    rpc_port: int = DEFAULT_RPC_PORT
    pool: PoolLimits = field(default_factory=PoolLimits)
    rpc: RpcLimits = field(default_factory=RpcLimits)
    producer: ProducerSettings = field(default_factory=ProducerSettings)

    @property
    def rpc_url(self) -> str:
        return f"http://{self.rpc_host}:{self.rpc_port}"
