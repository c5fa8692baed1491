"""Node-to-node messages over HTTP: consensus votes, transaction gossip, and block sync.

Every request is an envelope signed by the sending node's key and bound to the chain id; a
node answers only peers it knows (the network's configured nodes and the current validators).
Consensus messages inside carry their own validator signatures besides, and synced blocks carry
finality certificates, so a response needs no signature of its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import aiohttp
import rlp
from eth_utils import keccak

from cityledger.node.config import Peer
from cityledger.node.consensus.signing import Address, MessageSigner, recover_signer
from cityledger.node.http_endpoint import OCTETS, HttpReply, PostEndpoint, text_reply

log = logging.getLogger("cityledger.node.p2p.transport")

DOMAIN = b"cityledger/p2p/v1"
MAX_ENVELOPE_BYTES = 8 * 1024 * 1024
REQUEST_TIMEOUT_SECONDS = 5.0

TOPIC_CONSENSUS = b"consensus"
TOPIC_TRANSACTIONS = b"transactions"
TOPIC_HEAD = b"head"
TOPIC_BLOCK = b"block"
TOPIC_PREVIEW = b"preview"


class EnvelopeError(ValueError):
    """A request that is not a valid envelope from a known peer."""


@dataclass(frozen=True)
class Envelope:
    topic: bytes
    payload: bytes
    sender: Address
    signature: bytes

    @staticmethod
    def digest(chain_id: int, topic: bytes, payload: bytes) -> bytes:
        return keccak(DOMAIN + chain_id.to_bytes(32, "big") + keccak(rlp.encode([topic, payload])))

    @classmethod
    def seal(cls, signer: MessageSigner, chain_id: int, topic: bytes, payload: bytes) -> Envelope:
        return cls(
            topic, payload, signer.address, signer.sign(cls.digest(chain_id, topic, payload))
        )

    def encode(self) -> bytes:
        encoded: bytes = rlp.encode([self.topic, self.payload, self.sender, self.signature])
        return encoded

    @classmethod
    def open(cls, raw: bytes, chain_id: int, known: Callable[[Address], bool]) -> Envelope:
        """Decodes and authenticates; raises EnvelopeError with the reason."""
        try:
            topic, payload, sender, signature = rlp.decode(raw)
        except (rlp.DecodingError, ValueError, TypeError) as exc:
            raise EnvelopeError(f"not an envelope: {exc}") from None
        if not all(isinstance(x, bytes) for x in (topic, payload, sender, signature)):
            raise EnvelopeError("not an envelope: nested lists where bytes belong")
        if recover_signer(cls.digest(chain_id, topic, payload), signature) != sender:
            raise EnvelopeError(
                "the envelope's signature does not match its sender (wrong chain id?)"
            )
        if not known(sender):
            raise EnvelopeError(f"0x{sender.hex()} is not a peer of this network")
        return cls(topic, payload, sender, signature)


Handler = Callable[[Envelope], Awaitable[bytes]]


def create_p2p_app(
    chain_id: int, known: Callable[[Address], bool], handlers: dict[bytes, Handler]
) -> PostEndpoint:
    """Envelopes at POST /p2p."""

    async def receive(body: bytes) -> HttpReply:
        try:
            envelope = Envelope.open(body, chain_id, known)
        except EnvelopeError as exc:
            return text_reply(403, str(exc))
        handler = handlers.get(envelope.topic)
        if handler is None:
            return text_reply(404, f"unknown topic {envelope.topic!r}")
        try:
            answer = await handler(envelope)
        except ValueError as exc:
            return text_reply(400, str(exc))
        return HttpReply(200, answer, OCTETS)

    return PostEndpoint(
        "/p2p",
        MAX_ENVELOPE_BYTES,
        receive,
        too_large=text_reply(413, f"envelope larger than {MAX_ENVELOPE_BYTES} bytes"),
    )


class P2PClient:
    """Sends envelopes to peers. Broadcasts are fire-and-forget: a peer that is down misses
    them, and consensus (re-sent round changes) and sync make up for it."""

    def __init__(self, signer: MessageSigner, chain_id: int, peers: Iterable[Peer]) -> None:
        self._signer = signer
        self._chain_id = chain_id
        self.peers = [p for p in peers if p.address != signer.address]
        self._session: aiohttp.ClientSession | None = None
        self._pending: set[asyncio.Task[None]] = set()

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS),
                connector=aiohttp.TCPConnector(limit_per_host=8),
            )
        return self._session

    async def request(self, peer: Peer, topic: bytes, payload: bytes) -> bytes:
        envelope = Envelope.seal(self._signer, self._chain_id, topic, payload)
        async with self._client().post(f"{peer.url}/p2p", data=envelope.encode()) as response:
            body = await response.read()
            if response.status != 200:
                raise EnvelopeError(
                    f"{peer.url} refused {topic.decode()}: {body.decode(errors='replace')}"
                )
            return body

    def broadcast(self, topic: bytes, payload: bytes, to: Iterable[Address] | None = None) -> None:
        wanted = set(to) if to is not None else None
        for peer in self.peers:
            if wanted is None or peer.address in wanted:
                task = asyncio.create_task(self._send_quietly(peer, topic, payload))
                self._pending.add(task)
                task.add_done_callback(self._pending.discard)

    async def _send_quietly(self, peer: Peer, topic: bytes, payload: bytes) -> None:
        try:
            await self.request(peer, topic, payload)
        except (aiohttp.ClientError, TimeoutError, EnvelopeError) as exc:
            log.debug(
                "send failed", extra={"peer": peer.url, "topic": topic.decode(), "error": str(exc)}
            )

    async def close(self) -> None:
        for task in list(self._pending):
            task.cancel()
        if self._session is not None:
            await self._session.close()
