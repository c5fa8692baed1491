"""Catching up: a node that is behind fetches final blocks with their finality certificates from
peers, checks the seals against the validator set of each height, and only then applies them
(executing each block, so a peer cannot hand over a block whose state does not follow)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass

import aiohttp
import rlp

from cityledger.node.config import Peer
from cityledger.node.consensus.engine import ConsensusApplication, ConsensusEngine
from cityledger.node.consensus.finality_certificate import FinalityCertificate, InvalidCertificate
from cityledger.node.consensus.messages import CandidateBlock
from cityledger.node.execution.raw_rlp import decode_items
from cityledger.node.p2p.transport import TOPIC_BLOCK, TOPIC_HEAD, EnvelopeError, P2PClient

log = logging.getLogger("cityledger.node.p2p.sync")


def encode_final_block(block: CandidateBlock, certificate: FinalityCertificate) -> bytes:
    encoded: bytes = rlp.encode([block.hash, block.payload, certificate.encode()])
    return encoded


def decode_final_block(raw: bytes) -> tuple[CandidateBlock, FinalityCertificate]:
    try:
        items = decode_items(raw, max_depth=1)
    except rlp.DecodingError as exc:
        raise InvalidCertificate(f"not a final block: {exc}") from None
    if not isinstance(items, list) or len(items) != 3:
        raise InvalidCertificate("not a final block: [hash, block, certificate]")
    if not all(isinstance(item, bytes) for item in items):
        raise InvalidCertificate("not a final block: nested lists where bytes belong")
    block_hash, payload, certificate = items
    return CandidateBlock(block_hash, payload), FinalityCertificate.decode(certificate)


@dataclass(frozen=True)
class SyncProgress:
    """A catch-up under way: from which head, towards which peer's head."""

    starting_block: int
    highest_block: int


class BlockSync:
    def __init__(
        self,
        client: P2PClient,
        application: ConsensusApplication,
        engine: ConsensusEngine,
        poll_seconds: float = 1.0,
    ) -> None:
        self._client = client
        self._application = application
        self._engine = engine
        self._poll_seconds = poll_seconds
        self._poked = asyncio.Event()
        self._stopped = False
        self.progress: SyncProgress | None = None  # for eth_syncing

    def poke(self, seen_height: int | None = None) -> None:
        """A peer is ahead (a message for a later height arrived): look now."""
        self._poked.set()

    def stop(self) -> None:
        self._stopped = True
        self._poked.set()

    async def run(self) -> None:
        while not self._stopped:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poked.wait(), self._poll_seconds)
            self._poked.clear()
            if not self._stopped:
                await self.catch_up()

    async def catch_up(self) -> int:
        """Applies every final block some peer has beyond our head; returns how many."""
        applied = 0
        peers = list(self._client.peers)
        random.shuffle(peers)
        try:
            for peer in peers:
                try:
                    head = await self._peer_head(peer)
                    if self._application.next_height() <= head:
                        self._report(head)
                    while not self._stopped and self._application.next_height() <= head:
                        if not await self._fetch_and_apply(peer, self._application.next_height()):
                            break
                        applied += 1
                except (aiohttp.ClientError, TimeoutError, EnvelopeError) as exc:
                    log.debug(
                        "peer unavailable for sync", extra={"peer": peer.url, "error": str(exc)}
                    )
        finally:
            self.progress = None
        return applied

    def _report(self, peer_head: int) -> None:
        current = self._application.next_height() - 1
        if self.progress is None:
            self.progress = SyncProgress(current, peer_head)
        elif peer_head > self.progress.highest_block:
            self.progress = SyncProgress(self.progress.starting_block, peer_head)

    async def _peer_head(self, peer: Peer) -> int:
        raw = await self._client.request(peer, TOPIC_HEAD, b"")
        try:
            head = decode_items(raw, max_depth=0)
        except rlp.DecodingError:
            head = None
        if not isinstance(head, bytes) or len(head) > 8:
            raise EnvelopeError(f"{peer.url} answered the head request with {raw[:40]!r}")
        return int.from_bytes(head, "big")

    async def _fetch_and_apply(self, peer: Peer, height: int) -> bool:
        raw = await self._client.request(peer, TOPIC_BLOCK, rlp.encode(height))
        try:
            block, certificate = decode_final_block(raw)
            if certificate.height != height or certificate.block_hash != block.hash:
                raise InvalidCertificate(
                    f"certificate is for block {certificate.height}, not {height}"
                )
            certificate.verify(self._application.validators_at(height))
        except InvalidCertificate as exc:
            log.warning(
                "refused a synced block",
                extra={"peer": peer.url, "block": height, "reason": str(exc)},
            )
            return False
        return await self._engine.apply_synced(block, certificate)
