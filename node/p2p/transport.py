"""Node-to-node messages over HTTP: consensus votes, transaction gossip, and block sync.

Every request is an envelope signed by the sending node's key and bound to the chain id, its
time and a random nonce; a node answers only peers it knows (the network's configured nodes and
the current validators), only envelopes stamped within `MAX_CLOCK_SKEW_SECONDS` of its own
clock, and each envelope once, so a recorded request cannot be replayed. Consensus messages
inside carry their own validator signatures besides, and synced blocks carry finality
certificates, so a response needs no signature of its own.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import aiohttp
import rlp
from eth_utils import keccak

from cityledger.node.config import Peer
from cityledger.node.consensus.signing import Address, MessageSigner, recover_signer
from cityledger.node.execution.raw_rlp import decode_items
from cityledger.node.http_endpoint import OCTETS, HttpReply, PostEndpoint, text_reply

log = logging.getLogger("cityledger.node.p2p.transport")

DOMAIN = b"cityledger/p2p/v2"
MAX_ENVELOPE_BYTES = 8 * 1024 * 1024
REQUEST_TIMEOUT_SECONDS = 5.0
# Nodes' clocks must agree to within this (NTP keeps them within milliseconds); an envelope
# stamped further from the receiver's clock, either way, is refused.
MAX_CLOCK_SKEW_SECONDS = 30.0
# Envelopes remembered to refuse their replays: every one seen in the skew window, up to this
# many (beyond, the oldest are forgotten first; it would take thousands a second from peers).
MAX_REMEMBERED_ENVELOPES = 200_000
NONCE_BYTES = 8

TOPIC_CONSENSUS = b"consensus"
TOPIC_TRANSACTIONS = b"transactions"
TOPIC_HEAD = b"head"
TOPIC_BLOCK = b"block"
TOPIC_PREVIEW = b"preview"


class EnvelopeError(ValueError):
    """A request that is not a valid envelope from a known peer."""


class Busy(Exception):
    """A handler has no room for more from this peer now; the peer should slow down."""


@dataclass(frozen=True)
class Envelope:
    topic: bytes
    payload: bytes
    stamped_ms: int  # the sender's clock, in milliseconds since the epoch
    nonce: bytes
    sender: Address
    signature: bytes

    @staticmethod
    def digest(chain_id: int, topic: bytes, payload: bytes, stamped_ms: int, nonce: bytes) -> bytes:
        return keccak(
            DOMAIN
            + chain_id.to_bytes(32, "big")
            + keccak(rlp.encode([topic, payload, stamped_ms, nonce]))
        )

    @classmethod
    def seal(cls, signer: MessageSigner, chain_id: int, topic: bytes, payload: bytes) -> Envelope:
        stamped_ms = int(time.time() * 1000)
        nonce = secrets.token_bytes(NONCE_BYTES)
        digest = cls.digest(chain_id, topic, payload, stamped_ms, nonce)
        return cls(topic, payload, stamped_ms, nonce, signer.address, signer.sign(digest))

    def encode(self) -> bytes:
        encoded: bytes = rlp.encode(
            [self.topic, self.payload, self.stamped_ms, self.nonce, self.sender, self.signature]
        )
        return encoded

    @classmethod
    def open(
        cls,
        raw: bytes,
        chain_id: int,
        known: Callable[[Address], bool],
        now: float | None = None,
    ) -> tuple[Envelope, bytes]:
        """Decodes and authenticates; returns the envelope and its digest (for the replay
        check), or raises EnvelopeError with the reason."""
        try:
            items = decode_items(raw, max_depth=1)
        except rlp.DecodingError as exc:
            raise EnvelopeError(f"not an envelope: {exc}") from None
        if not isinstance(items, list) or len(items) != 6:
            raise EnvelopeError("not an envelope: [topic, payload, time, nonce, sender, signature]")
        if not all(isinstance(x, bytes) for x in items):
            raise EnvelopeError("not an envelope: nested lists where bytes belong")
        topic, payload, stamp, nonce, sender, signature = items
        if len(stamp) > 8 or len(nonce) != NONCE_BYTES or len(sender) != 20:
            raise EnvelopeError("not an envelope: wrong time, nonce or sender length")
        stamped_ms = int.from_bytes(stamp, "big")
        skew = stamped_ms / 1000 - (time.time() if now is None else now)
        if abs(skew) > MAX_CLOCK_SKEW_SECONDS:
            raise EnvelopeError(
                f"the envelope is stamped {skew:+.0f} s from this node's clock (at most "
                f"{MAX_CLOCK_SKEW_SECONDS:.0f} s either way): a replay, or a clock to fix"
            )
        digest = cls.digest(chain_id, topic, payload, stamped_ms, nonce)
        if recover_signer(digest, signature) != sender:
            raise EnvelopeError(
                "the envelope's signature does not match its sender (wrong chain id?)"
            )
        if not known(sender):
            raise EnvelopeError(f"0x{sender.hex()} is not a peer of this network")
        return cls(topic, payload, stamped_ms, nonce, sender, signature), digest


class ReplayGuard:
    """The digests of envelopes accepted within the clock-skew window: a second copy of one
    is a replay."""

    def __init__(self, capacity: int = MAX_REMEMBERED_ENVELOPES) -> None:
        self._capacity = capacity
        self._seen: OrderedDict[bytes, float] = OrderedDict()  # digest -> when it expires

    def first_time(self, digest: bytes, stamped_ms: int, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        while self._seen and (
            next(iter(self._seen.values())) < now or len(self._seen) >= self._capacity
        ):
            self._seen.popitem(last=False)
        if digest in self._seen:
            return False
        # Kept until the envelope's stamp falls out of the window: no copy is accepted after.
        self._seen[digest] = stamped_ms / 1000 + MAX_CLOCK_SKEW_SECONDS
        return True


Handler = Callable[[Envelope], Awaitable[bytes]]


def create_p2p_app(
    chain_id: int, known: Callable[[Address], bool], handlers: dict[bytes, Handler]
) -> PostEndpoint:
    """Envelopes at POST /p2p."""

    replays = ReplayGuard()

    async def receive(body: bytes) -> HttpReply:
        try:
            envelope, digest = Envelope.open(body, chain_id, known)
        except EnvelopeError as exc:
            return text_reply(403, str(exc))
        handler = handlers.get(envelope.topic)
        if handler is None:
            return text_reply(404, f"unknown topic {envelope.topic!r}")
        if not replays.first_time(digest, envelope.stamped_ms):
            return text_reply(403, "this envelope was already received: a replay")
        try:
            answer = await handler(envelope)
        except ValueError as exc:
            return text_reply(400, str(exc))
        except Busy as exc:
            return text_reply(429, str(exc))
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
