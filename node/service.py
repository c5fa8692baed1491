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

import rlp
import uvicorn
from eth_utils import to_canonical_address

from cityledger.contracts.artifacts import load_artifact
from cityledger.node.block_budget import BlockBudget
from cityledger.node.block_preview import BlockPreview
from cityledger.node.chain import BlockExecutor
from cityledger.node.config import NetworkConfigError, NetworkSettings, NodeConfig
from cityledger.node.consensus.core import proposer_of
from cityledger.node.consensus.engine import ConsensusEngine
from cityledger.node.consensus.finality_certificate import FinalityCertificate
from cityledger.node.consensus.journal import ConsensusJournal
from cityledger.node.consensus.messages import MalformedMessage, SignedMessage
from cityledger.node.consensus.signing import Address, KeySigner
from cityledger.node.consensus_chain import ExecutingChain, certificate_key, encode_block
from cityledger.node.genesis import Genesis, GenesisError
from cityledger.node.http_endpoint import PostEndpoint
from cityledger.node.initialize import InitError, genesis_header, load_or_create_key
from cityledger.node.p2p import (
    TOPIC_BLOCK,
    TOPIC_CONSENSUS,
    TOPIC_HEAD,
    TOPIC_PREVIEW,
    TOPIC_TRANSACTIONS,
    Envelope,
    P2PClient,
    create_p2p_app,
)
from cityledger.node.reader import ChainReader
from cityledger.node.rpc_cityledger import CityledgerMethods, ConsensusStatus
from cityledger.node.rpc_methods import EthMethods
from cityledger.node.rpc_server import create_app
from cityledger.node.storage import LevelDB
from cityledger.node.sync import BlockSync, encode_final_block
from cityledger.node.txpool import TxPool, TxRejected
from cityledger.node.validator_set import ValidatorSetUnavailable, validators_at

log = logging.getLogger("cityledger.node")

# Transactions from RPC go to peers in small batches rather than one request each.
GOSSIP_DELAY_SECONDS = 0.05
GOSSIP_MAX_BATCH = 500
GC_THRESHOLDS = (50_000, 20, 100)


class NodeFailure(Exception):
    """The node stopped on an internal error rather than on request."""


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the node stops all its servers together."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class _ConsensusBroadcast:
    def __init__(self, client: P2PClient) -> None:
        self._client = client

    def broadcast(self, message: SignedMessage) -> None:
        self._client.broadcast(TOPIC_CONSENSUS, message.encode())


class _TxGossip:
    def __init__(self, client: P2PClient) -> None:
        self._client = client
        self._buffer: list[bytes] = []
        self._scheduled = False

    def add(self, raw: bytes) -> None:
        if not self._client.peers:
            return
        self._buffer.append(raw)
        if len(self._buffer) >= GOSSIP_MAX_BATCH:
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_later(GOSSIP_DELAY_SECONDS, self.flush)

    def flush(self) -> None:
        self._scheduled = False
        if self._buffer:
            batch, self._buffer = self._buffer, []
            self._client.broadcast(TOPIC_TRANSACTIONS, rlp.encode(batch))


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
        self.reader = ChainReader(self.db, chain_id, self.consortium, abi)
        stored = self.reader.header_by_number(0)
        if stored is None or stored.hash != genesis_header(self.genesis).hash:
            self.db.close()
            raise InitError(
                f"{data_dir.chaindata} does not belong to the genesis in {data_dir.genesis}"
            )
        self.pool = TxPool(config.pool)
        self.journal = ConsensusJournal(self.db)
        peers = self.network.peers if self.network else ()
        self.client = P2PClient(self.signer, chain_id, peers)
        # Consensus executes blocks in a worker thread: it gets its own reader and caches.
        self.chain = ExecutingChain(
            BlockExecutor(self.db, chain_id),
            ChainReader(self.db, chain_id, self.consortium, abi),
            self.pool,
            coinbase=self.signer.address,
            budget=BlockBudget.for_round_timeout(config.consensus.timeouts.base),
            on_final=self.reader.remember_final,
            on_preview=self._announce if peers else None,
        )
        self.engine = ConsensusEngine(
            self.signer,
            chain_id,
            self.chain,
            _ConsensusBroadcast(self.client),
            self.journal,
            config.consensus,
            on_behind=lambda _height: self.sync.poke(),
        )
        self.sync = BlockSync(self.client, self.chain, self.engine)
        self.gossip = _TxGossip(self.client)
        self.methods = EthMethods(
            self.reader,
            self.pool,
            self._on_transaction,
            config.rpc,
            sync_progress=lambda: self.sync.progress,
        )
        self.methods.handlers.update(
            CityledgerMethods(
                self.methods,
                self.reader,
                self.db,
                self.journal,
                list(self.client.peers),
                self._consensus_status,
            ).handlers
        )
        self._known_validators: tuple[int, tuple[Address, ...]] = (-1, ())
        self._loop: asyncio.AbstractEventLoop | None = None
        self._speculations: set[asyncio.Future[bool]] = set()

    # ------------------------------------------------------------ callbacks

    def _on_transaction(self, raw: bytes) -> None:
        self.engine.wake()
        self.gossip.add(raw)

    def _consensus_status(self) -> ConsensusStatus:
        return ConsensusStatus(self.signer.address, self.engine.height, self.engine.round)

    def _announce(self, preview: BlockPreview) -> None:
        """Called by the chain in a worker thread, just before it executes a block it builds."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.client.broadcast, TOPIC_PREVIEW, preview.encode())

    def _is_known_peer(self, address: Address) -> bool:
        if any(p.address == address for p in self.client.peers):
            return True
        return address in self._next_validators()

    def _next_validators(self) -> tuple[Address, ...]:
        """The validators of the block after the head; none while they cannot be read."""
        head = int(self.reader.head().block_number)
        if self._known_validators[0] != head:
            try:
                self._known_validators = (
                    head,
                    validators_at(self.reader, head + 1),
                )
            except ValidatorSetUnavailable:
                return ()
        return self._known_validators[1]

    # ------------------------------------------------------------ p2p handlers

    async def _receive_consensus(self, envelope: Envelope) -> bytes:
        try:
            self.engine.submit(SignedMessage.decode(envelope.payload))
        except MalformedMessage as exc:
            raise ValueError(str(exc)) from None
        return b""

    async def _receive_transactions(self, envelope: Envelope) -> bytes:
        try:
            raws = rlp.decode(envelope.payload)
        except rlp.DecodingError as exc:
            raise ValueError(f"not a transaction batch: {exc}") from None
        head = self.reader.head_state()
        for raw in raws:
            try:
                self.pool.add(self.pool.decode(bytes(raw)), head)
            except TxRejected:
                continue  # already known, or no longer valid here: the sender's node said why
        self.engine.wake()
        return b""

    async def _receive_preview(self, envelope: Envelope) -> bytes:
        preview = BlockPreview.decode(envelope.payload)
        validators = self._next_validators()
        if preview.height != int(self.reader.head().block_number) + 1 or not validators:
            return b""  # not the next block here (yet, or any longer): nothing to prepare
        round_ = (self.engine.round or 0) if self.engine.height == preview.height else 0
        if envelope.sender != proposer_of(preview.height, round_, validators):
            return b""  # only the proposer's preview is worth an execution
        speculation = asyncio.get_running_loop().run_in_executor(
            None, self.chain.speculate, preview
        )
        self._speculations.add(speculation)
        speculation.add_done_callback(self._speculations.discard)
        return b""

    async def _serve_head(self, _: Envelope) -> bytes:
        encoded: bytes = rlp.encode(int(self.reader.head().block_number))
        return encoded

    async def _serve_block(self, envelope: Envelope) -> bytes:
        number = int.from_bytes(rlp.decode(envelope.payload), "big")
        block = self.reader.block_by_number(number)
        if block is None or number == 0:
            raise ValueError(f"block {number} is not final here")
        certificate = FinalityCertificate.decode(self.db[certificate_key(block.hash)])
        return encode_final_block(encode_block(block), certificate)

    def _p2p_app(self) -> PostEndpoint:
        return create_p2p_app(
            self.genesis.chain_id,
            self._is_known_peer,
            {
                TOPIC_CONSENSUS: self._receive_consensus,
                TOPIC_TRANSACTIONS: self._receive_transactions,
                TOPIC_PREVIEW: self._receive_preview,
                TOPIC_HEAD: self._serve_head,
                TOPIC_BLOCK: self._serve_block,
            },
        )

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
        servers = [
            self._server(create_app(self.methods), self.config.rpc_host, self.config.rpc_port)
        ]
        if self.network is not None:
            servers.append(
                self._server(self._p2p_app(), self.network.p2p_host, self.network.p2p_port)
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
            # A speculation executes on the database that is about to close.
            await asyncio.gather(*self._speculations, return_exceptions=True)
            await self.client.close()
            head = self.reader.head()
            self.db.close()
            log.info("node stopped", extra={"head": head.block_number})
        if any(isinstance(outcome, Exception) for outcome in outcomes):
            raise NodeFailure("the node stopped because a loop failed; see the log above")

    @staticmethod
    def _server(app: PostEndpoint, host: str, port: int) -> _Server:
        return _Server(
            uvicorn.Config(
                app, host=host, port=port, log_config=None, lifespan="off", access_log=False
            )
        )
