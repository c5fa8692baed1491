"""A running node: storage, execution, pool, block production and JSON-RPC in one process."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from eth_utils import to_canonical_address

from cityledger.contracts.artifacts import load_artifact
from cityledger.node.block_producer import BlockProducer, ImmediateFinality
from cityledger.node.chain import BlockExecutor
from cityledger.node.config import NodeConfig
from cityledger.node.genesis import Genesis, GenesisError
from cityledger.node.initialize import InitError, genesis_header, load_or_create_key
from cityledger.node.reader import ChainReader
from cityledger.node.rpc_methods import EthMethods
from cityledger.node.rpc_server import create_app
from cityledger.node.storage import LevelDB
from cityledger.node.txpool import TxPool

log = logging.getLogger("cityledger.node")


class _Server(uvicorn.Server):
    """uvicorn, minus re-raising SIGINT/SIGTERM after shutdown: the node still has to stop
    block production and close its database, then exit normally."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        handled = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


class Node:
    def __init__(self, config: NodeConfig) -> None:
        data_dir = config.data_dir
        if not data_dir.is_initialized:
            raise InitError(f"{data_dir.root} is not initialized; run `node init` first")
        try:
            self.genesis = Genesis.read(data_dir.genesis)
        except GenesisError as exc:
            raise InitError(str(exc)) from None
        self.config = config
        self.key = load_or_create_key(data_dir.node_key)
        self.db = LevelDB(data_dir.chaindata)
        consortium = to_canonical_address(self.genesis.system_contracts["Consortium"])
        self.reader = ChainReader(
            self.db, self.genesis.chain_id, consortium, load_artifact("Consortium").abi
        )
        stored = self.reader.header_by_number(0)
        if stored is None or stored.hash != genesis_header(self.genesis).hash:
            self.db.close()
            raise InitError(
                f"{data_dir.chaindata} does not belong to the genesis in {data_dir.genesis}"
            )
        self.pool = TxPool(config.pool)
        self.producer = BlockProducer(
            BlockExecutor(self.db, self.genesis.chain_id),
            self.pool,
            ImmediateFinality(self.key),
            coinbase=self.key.public_key.to_canonical_address(),
            settings=config.producer,
        )
        self.methods = EthMethods(self.reader, self.pool, self.producer.notify, config.rpc)

    async def serve(self) -> None:
        head = self.reader.head()
        log.info(
            "node starting",
            extra={
                "chain_id": self.genesis.chain_id,
                "head": head.block_number,
                "rpc": self.config.rpc_url,
                "validator": self.key.public_key.to_checksum_address(),
            },
        )
        producer = asyncio.create_task(self.producer.run(), name="block-producer")
        server = _Server(
            uvicorn.Config(
                create_app(self.methods),
                host=self.config.rpc_host,
                port=self.config.rpc_port,
                log_config=None,
                lifespan="off",
                access_log=False,
            )
        )
        try:
            await server.serve()
        finally:
            self.producer.stop()
            await producer
            head = self.reader.head()
            self.db.close()
            log.info("node stopped", extra={"head": head.block_number})
