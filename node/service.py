"""A running node: storage, execution, pool, consensus, peers, sync and JSON-RPC in one process.

A dev node is the same thing with one validator and no peers: its own seal is a quorum.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from eth.abc import BlockAPI, ReceiptAPI, SignedTransactionAPI
from eth_utils import to_canonical_address

from cityledger.contracts.artifacts import load_artifact
from cityledger.node.config import CacheLimits, NetworkConfigError, NetworkSettings, NodeConfig
from cityledger.node.consensus.engine import ConsensusEngine
from cityledger.node.consensus.journal import ConsensusJournal
from cityledger.node.consensus.signing import KeySigner
from cityledger.node.execution.executor import BlockExecutor
from cityledger.node.genesis import Genesis, GenesisError
from cityledger.node.http_endpoint import PostEndpoint
from cityledger.node.initialize import InitError, genesis_header, load_or_create_key
from cityledger.node.p2p.gossip import ConsensusBroadcast, PeerHandlers, TransactionGossip
from cityledger.node.p2p.sync import BlockSync
from cityledger.node.p2p.transport import (
    TOPIC_PREVIEW,
    P2PClient,
)
from cityledger.node.production.budget import BlockBudget
from cityledger.node.production.preview import BlockPreview
from cityledger.node.production.producer import BlockProducer
from cityledger.node.production.validator_set import ValidatorSetUnavailable, validators_at
from cityledger.node.rpc.cityledger_methods import CityledgerMethods, ConsensusStatus
from cityledger.node.rpc.eth_methods import EthMethods
from cityledger.node.rpc.methods import method_table
from cityledger.node.rpc.server import CallWorkers, RpcApp
from cityledger.node.rpc.subscriptions import Subscriptions
from cityledger.node.storage.leveldb import LevelDB
from cityledger.node.storage.reader import ChainReader
from cityledger.node.txpool import TxPool

log = logging.getLogger("cityledger.node")

GC_THRESHOLDS = (50_000, 20, 100)
# Consensus reads the head and the validator set, not old blocks: its reader caches little.
CONSENSUS_READER_CACHES = CacheLimits.of_megabytes(8)


class NodeFailure(Exception):
    """The node stopped on an internal error rather than on request."""


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the node stops all its servers together."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Node:
    def __init__(self, config: NodeConfig) -> None:
        data_dir = config.data_dir
        if not data_dir.is_initialized:
            raise InitError(f"{data_dir.root} is not initialized; run `node init` first")
        try:
            self.genesis = Genesis.read(data_dir.genesis)
            self.network = (
                NetworkSettings.read(data_dir.network) if data_dir.network.exists() else None
            )
        except (GenesisError, NetworkConfigError) as exc:
            raise InitError(str(exc)) from None
        self.config = config
        self.key = load_or_create_key(data_dir.node_key)
        self.signer = KeySigner(self.key.to_bytes())
        self.db = LevelDB(data_dir.chaindata)
        chain_id = self.genesis.chain_id
        self.consortium = to_canonical_address(self.genesis.system_contracts["Consortium"])
        abi = load_artifact("Consortium").abi
        self.reader = ChainReader(self.db, chain_id, self.consortium, abi, config.caches)
        stored = self.reader.header_by_number(0)
        if stored is None or stored.hash != genesis_header(self.genesis).hash:
            self.db.close()
            raise InitError(
                f"{data_dir.chaindata} does not belong to the genesis in {data_dir.genesis}"
            )
        self.pool = TxPool(config.pool, on_admitted=self._on_admitted)
        self.subscriptions = Subscriptions()
        self.journal = ConsensusJournal(self.db)
        peers = self.network.peers if self.network else ()
        self.client = P2PClient(self.signer, chain_id, peers)
        # Consensus executes blocks in a worker thread: it gets its own reader and caches.
        self.producer = BlockProducer(
            BlockExecutor(self.db, chain_id),
            ChainReader(self.db, chain_id, self.consortium, abi, CONSENSUS_READER_CACHES),
            self.pool,
            coinbase=self.signer.address,
            budget=BlockBudget.for_round_timeout(config.consensus.timeouts.base),
            on_final=self._on_final,
            on_preview=self._announce if peers else None,
        )
        self.engine = ConsensusEngine(
            self.signer,
            chain_id,
            self.producer,
            ConsensusBroadcast(self.client),
            self.journal,
            config.consensus,
            on_behind=lambda _height: self.sync.poke(),
        )
        self.sync = BlockSync(self.client, self.producer, self.engine)
        self.gossip = TransactionGossip(self.client)
        self.peer_handlers = PeerHandlers(
            self.client, self.reader, self.db, self.pool, self.engine, self.producer
        )
        self.methods = EthMethods(
            self.reader,
            self.pool,
            self._on_transaction,
            config.rpc,
            sync_progress=lambda: self.sync.progress,
        )
        self.rpc_methods = method_table(
            self.methods,
            CityledgerMethods(
                self.methods,
                self.reader,
                self.db,
                self.journal,
                list(self.client.peers),
                self._consensus_status,
            ),
        )
        self._loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------ callbacks

    def _on_transaction(self, raw: bytes) -> None:
        self.engine.wake()
        self.gossip.add(raw)

    def _on_admitted(self, tx: SignedTransactionAPI) -> None:
        """The pool admitted a transaction (on the event loop: RPC and gossip add there)."""
        self.methods.filters.transaction_pending(tx.hash)
        self.subscriptions.transaction_pending(tx)

    def _on_final(self, block: BlockAPI, receipts: tuple[ReceiptAPI, ...]) -> None:
        """Called by the block producer in a worker thread once a block is final."""
        self.reader.remember_final(block, receipts)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.subscriptions.block_final, block, receipts)

    def _consensus_status(self) -> ConsensusStatus:
        try:
            validators = validators_at(self.reader, int(self.reader.head().block_number) + 1)
        except ValidatorSetUnavailable:
            validators = ()
        # A validator votes every round it is in: silence for a few capped round timeouts
        # means it is down or cut off.
        window = 3 * self.config.consensus.timeouts.cap
        heard = {self.signer.address, *self.peer_handlers.heard_from(window)}
        return ConsensusStatus(
            self.signer.address,
            self.engine.height,
            self.engine.round,
            validators,
            tuple(v for v in validators if v in heard),
        )

    def _announce(self, preview: BlockPreview) -> None:
        """Called by the block producer in a worker thread, just before it executes a block it
        builds."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.client.broadcast, TOPIC_PREVIEW, preview.encode())

    # ------------------------------------------------------------ running

    async def serve(self) -> None:
        # Executing a block allocates millions of short-lived objects; the default thresholds
        # run the cyclic collector every 700 allocations, over a heap whose long-lived part
        # (code, ABIs, caches) is fixed by now: keep that part out of collections.
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        head = self.reader.head()
        log.info(
            "node starting",
            extra={
                "chain_id": self.genesis.chain_id,
                "head": head.block_number,
                "rpc": self.config.rpc_url,
                "p2p": self.network.p2p_url if self.network else None,
                "peers": len(self.client.peers),
                "validator": self.key.public_key.to_checksum_address(),
            },
        )
        limits = self.config.rpc
        call_workers = CallWorkers(limits.call_workers, limits.max_waiting_calls)
        rpc_app = RpcApp(
            self.rpc_methods,
            limits,
            call_workers,
            self.subscriptions,
            self.methods.subscription_filter,
        )
        servers = [
            self._server(
                rpc_app,
                self.config.rpc_host,
                self.config.rpc_port,
                ws_max_size=limits.max_body_bytes,
            )
        ]
        if self.network is not None:
            servers.append(
                self._server(
                    self.peer_handlers.endpoint(self.genesis.chain_id),
                    self.network.p2p_host,
                    self.network.p2p_port,
                )
            )

        def shut_down() -> None:
            for server in servers:
                server.should_exit = True

        def stop_if_failed(task: asyncio.Task[None]) -> None:
            # A node whose consensus or sync loop died must not go on answering RPC as if
            # it were fine: it stops, loudly, and restarting it resumes from its journal.
            if not task.cancelled() and task.exception() is not None:
                log.critical(
                    "%s loop failed; stopping the node", task.get_name(), exc_info=task.exception()
                )
                shut_down()

        loop = self._loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, shut_down)
        tasks = [asyncio.create_task(self.engine.run(), name="consensus")]
        if self.client.peers:
            tasks.append(asyncio.create_task(self.sync.run(), name="sync"))
        for task in tasks:
            task.add_done_callback(stop_if_failed)
        try:
            await asyncio.gather(*(s.serve() for s in servers))
        finally:
            self.engine.stop()
            self.sync.stop()
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
            await self.peer_handlers.drain()
            call_workers.close()
            await self.client.close()
            head = self.reader.head()
            self.db.close()
            log.info("node stopped", extra={"head": head.block_number})
        if any(isinstance(outcome, Exception) for outcome in outcomes):
            raise NodeFailure("the node stopped because a loop failed; see the log above")

    @staticmethod
    def _server(
        app: PostEndpoint | RpcApp, host: str, port: int, ws_max_size: int | None = None
    ) -> _Server:
        """`ws_max_size` (bytes a WebSocket message may hold) turns WebSocket on."""
        return _Server(
            uvicorn.Config(
                app,
                host=host,
                port=port,
                log_config=None,
                lifespan="off",
                access_log=False,
                ws="auto" if ws_max_size is not None else "none",
                ws_max_size=ws_max_size or 0,
            )
        )
