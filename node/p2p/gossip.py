"""What a validator sends its peers and answers them: consensus messages, batched transactions,
block previews, and the head and final blocks that sync asks for."""

from __future__ import annotations

import asyncio
import time

import rlp

from cityledger.node.admission import TxRejected
from cityledger.node.consensus.core import proposer_of
from cityledger.node.consensus.engine import MAX_QUEUED_PER_PEER, ConsensusEngine
from cityledger.node.consensus.finality_certificate import FinalityCertificate
from cityledger.node.consensus.messages import MalformedMessage, SignedMessage
from cityledger.node.consensus.signing import Address
from cityledger.node.execution.raw_rlp import decode_items
from cityledger.node.http_endpoint import PostEndpoint
from cityledger.node.p2p.sync import encode_final_block
from cityledger.node.p2p.transport import (
    TOPIC_BLOCK,
    TOPIC_CONSENSUS,
    TOPIC_HEAD,
    TOPIC_PREVIEW,
    TOPIC_TRANSACTIONS,
    Busy,
    Envelope,
    P2PClient,
    create_p2p_app,
)
from cityledger.node.production.preview import BlockPreview
from cityledger.node.production.producer import BlockProducer, encode_block
from cityledger.node.production.validator_set import ValidatorSetUnavailable, validators_at
from cityledger.node.storage.leveldb import LevelDB
from cityledger.node.storage.reader import ChainReader
from cityledger.node.storage.schema import certificate_key
from cityledger.node.txpool import TxPool

# Transactions from RPC go to peers in small batches rather than one request each.
GOSSIP_DELAY_SECONDS = 0.05
GOSSIP_MAX_BATCH = 500


class ConsensusBroadcast:
    """The consensus engine's transport: every message to every peer."""

    def __init__(self, client: P2PClient) -> None:
        self._client = client

    def broadcast(self, message: SignedMessage) -> None:
        self._client.broadcast(TOPIC_CONSENSUS, message.encode())


class TransactionGossip:
    """Batches transactions submitted here for the peers; nothing is kept without peers."""

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


class PeerHandlers:
    """The p2p endpoint's topics. Only configured peers and the validators of the next block
    may send; the transport has checked the envelope's signature and chain id."""

    def __init__(
        self,
        client: P2PClient,
        reader: ChainReader,
        db: LevelDB,
        pool: TxPool,
        engine: ConsensusEngine,
        producer: BlockProducer,
    ) -> None:
        self._client = client
        self._reader = reader
        self._db = db
        self._pool = pool
        self._engine = engine
        self._producer = producer
        self._known_validators: tuple[int, tuple[Address, ...]] = (-1, ())
        self._heard: dict[Address, float] = {}  # envelope signer -> when it last sent a vote
        self._speculations: set[asyncio.Future[bool]] = set()

    def endpoint(self, chain_id: int) -> PostEndpoint:
        return create_p2p_app(
            chain_id,
            self._is_known_peer,
            {
                TOPIC_CONSENSUS: self._receive_consensus,
                TOPIC_TRANSACTIONS: self._receive_transactions,
                TOPIC_PREVIEW: self._receive_preview,
                TOPIC_HEAD: self._serve_head,
                TOPIC_BLOCK: self._serve_block,
            },
        )

    async def drain(self) -> None:
        """Waits for speculative executions: they run on the database the node is closing."""
        await asyncio.gather(*self._speculations, return_exceptions=True)

    def _is_known_peer(self, address: Address) -> bool:
        if any(p.address == address for p in self._client.peers):
            return True
        return address in self._next_validators()

    def _next_validators(self) -> tuple[Address, ...]:
        """The validators of the block after the head; none while they cannot be read."""
        head = int(self._reader.head().block_number)
        if self._known_validators[0] != head:
            try:
                self._known_validators = (head, validators_at(self._reader, head + 1))
            except ValidatorSetUnavailable:
                return ()
        return self._known_validators[1]

    def heard_from(self, within_seconds: float) -> tuple[Address, ...]:
        """Nodes that sent this one consensus messages within the last `within_seconds`."""
        since = time.monotonic() - within_seconds
        return tuple(a for a, at in self._heard.items() if at >= since)

    async def _receive_consensus(self, envelope: Envelope) -> bytes:
        self._heard[envelope.sender] = time.monotonic()
        try:
            message = SignedMessage.decode(envelope.payload)
        except MalformedMessage as exc:
            raise ValueError(str(exc)) from None
        if not self._engine.submit(message, envelope.sender):
            raise Busy(
                f"{MAX_QUEUED_PER_PEER} consensus messages from 0x{envelope.sender.hex()} "
                "already wait here; send fewer"
            )
        return b""

    async def _receive_transactions(self, envelope: Envelope) -> bytes:
        try:
            raws = decode_items(envelope.payload, max_depth=1)
        except rlp.DecodingError as exc:
            raise ValueError(f"not a transaction batch: {exc}") from None
        if not isinstance(raws, list) or not all(isinstance(raw, bytes) for raw in raws):
            raise ValueError("a transaction batch is a list of encoded transactions")
        if len(raws) > GOSSIP_MAX_BATCH:
            raise ValueError(f"a batch holds at most {GOSSIP_MAX_BATCH} transactions")
        head = self._reader.head_state()
        for raw in raws:
            try:
                self._pool.add(self._pool.decode(raw), head)
            except TxRejected:
                continue  # already known, or no longer valid here: the sender's node said why
        self._engine.wake()
        return b""

    async def _receive_preview(self, envelope: Envelope) -> bytes:
        preview = BlockPreview.decode(envelope.payload)
        validators = self._next_validators()
        if preview.height != int(self._reader.head().block_number) + 1 or not validators:
            return b""  # not the next block here (yet, or any longer): nothing to prepare
        engine = self._engine
        round_ = (engine.round or 0) if engine.height == preview.height else 0
        if envelope.sender != proposer_of(preview.height, round_, validators):
            return b""  # only the proposer's preview is worth an execution
        speculation = asyncio.get_running_loop().run_in_executor(
            None, self._producer.speculate, preview
        )
        self._speculations.add(speculation)
        speculation.add_done_callback(self._speculations.discard)
        return b""

    async def _serve_head(self, _: Envelope) -> bytes:
        encoded: bytes = rlp.encode(int(self._reader.head().block_number))
        return encoded

    async def _serve_block(self, envelope: Envelope) -> bytes:
        try:
            item = decode_items(envelope.payload, max_depth=0)
        except rlp.DecodingError as exc:
            raise ValueError(f"not a block request: {exc}") from None
        if not isinstance(item, bytes) or len(item) > 8:
            raise ValueError("a block request is one block number")
        number = int.from_bytes(item, "big")
        block = self._reader.block_by_number(number)
        if block is None or number == 0:
            raise ValueError(f"block {number} is not final here")
        certificate = FinalityCertificate.decode(self._db[certificate_key(block.hash)])
        return encode_final_block(encode_block(block), certificate)
