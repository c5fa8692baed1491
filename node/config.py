"""Node settings and the layout of a node's data directory.

Plain values only: the subsystems import their settings from here, never the other way."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_CHAIN_ID = 1337
DEFAULT_RPC_HOST = "127.0.0.1"
DEFAULT_RPC_PORT = 8545


@dataclass(frozen=True)
class RoundTimeouts:
    """Round r lasts min(base * 2**r, cap) seconds."""

    base: float = 1.0
    cap: float = 30.0

    def for_round(self, round_: int) -> float:
        return min(self.base * 2.0 ** min(round_, 30), self.cap)


@dataclass(frozen=True)
class EngineSettings:
    timeouts: RoundTimeouts = field(default_factory=RoundTimeouts)
    heartbeat_seconds: float | None = None  # an empty block after this long idle; None: never
    # Least time between final blocks (Besu's block period). A block starts once transactions
    # wait, the last one is final and this much time has passed: under load, 50 ms gathers
    # enough transactions to spread each block's fixed cost (votes, synced writes, state root)
    # at a cost to latency people do not notice.
    block_period_seconds: float = 0.05


@dataclass(frozen=True)
class PoolLimits:
    max_tx_bytes: int = 128 * 1024
    max_pool_size: int = 20_000
    max_per_sender: int = 2_000
    max_per_city: int = 5_000
    max_nonce_gap: int = 256


@dataclass(frozen=True)
class RpcLimits:
    max_body_bytes: int = 512 * 1024
    max_batch: int = 200
    # A client's eth_call/eth_estimateGas: at most this much gas and wall time (geth's
    # --rpc.gascap and --rpc.evmtimeout defaults), in this many worker threads, with at most
    # `max_waiting_calls` more waiting before the node answers "busy".
    call_gas_cap: int = 50_000_000
    call_timeout_seconds: float = 5.0
    call_workers: int = 2
    max_waiting_calls: int = 32
    max_logs_block_range: int = 10_000  # for queries that name no address and no topic
    max_logs: int = 10_000
    max_fee_history_blocks: int = 1024


@dataclass(frozen=True)
class CacheLimits:
    """Memory for recently read blocks and receipts (clients ask for the newest first) and
    Consortium's views, in bytes (estimated from the entries' sizes)."""

    block_bytes: int = 32 * 1024 * 1024
    receipt_bytes: int = 32 * 1024 * 1024
    view_bytes: int = 1024 * 1024

    @classmethod
    def of_megabytes(cls, megabytes: int) -> CacheLimits:
        """`--cache-mb`: split between blocks and receipts, views keeping their megabyte."""
        half = megabytes * 1024 * 1024 // 2
        return cls(block_bytes=half, receipt_bytes=half)


@dataclass(frozen=True)
class Peer:
    address: bytes  # 20-byte canonical address
    url: str  # base URL of its p2p endpoint, e.g. http://127.0.0.1:30301


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
    def network(self) -> Path:
        """Where this node listens for peers and who they are (written by `testnet`)."""
        return self.root / "network.json"

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
    consensus: EngineSettings = field(default_factory=EngineSettings)
    caches: CacheLimits = field(default_factory=CacheLimits)

    @property
    def rpc_url(self) -> str:
        return f"http://{self.rpc_host}:{self.rpc_port}"


class NetworkConfigError(ValueError):
    """network.json is missing fields or malformed."""


@dataclass(frozen=True)
class NetworkSettings:
    """The p2p side of a node: its listening address and every other node of the network."""

    p2p_host: str
    p2p_port: int
    peers: tuple[Peer, ...]

    @property
    def p2p_url(self) -> str:
        return f"http://{self.p2p_host}:{self.p2p_port}"

    def to_json(self) -> dict[str, object]:
        return {
            "p2pHost": self.p2p_host,
            "p2pPort": self.p2p_port,
            "peers": [{"address": "0x" + p.address.hex(), "url": p.url} for p in self.peers],
        }

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")

    @classmethod
    def read(cls, path: Path) -> NetworkSettings:
        try:
            raw = json.loads(path.read_text())
            return cls(
                p2p_host=str(raw["p2pHost"]),
                p2p_port=int(raw["p2pPort"]),
                peers=tuple(
                    Peer(bytes.fromhex(str(p["address"]).removeprefix("0x")), str(p["url"]))
                    for p in raw["peers"]
                ),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise NetworkConfigError(f"{path} is not a valid network file: {exc}") from None
