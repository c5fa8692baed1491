"""What a proposer is about to build, announced before it executes the block.

Every validator executes a proposal before it votes. Without a preview the others start only
once the proposal arrives, after the proposer has executed the whole block itself: on shared
cores the two executions run one after the other and one core waits through the first. With a
preview the others execute the same transactions on the same parent meanwhile; when the proposal
arrives, a follower whose execution gave that very block hash votes at once, and any other
follower re-executes the proposal as before.

A preview is a hint, never a vote: it changes no consensus rule and is not stored. A wrong or
forged one costs the follower one wasted execution, so a node takes previews only from the
proposer of the height and round it is in (see `Node._receive_preview`).
"""

from __future__ import annotations

from dataclasses import dataclass

import rlp

from cityledger.node.execution.raw_rlp import decode_items

HASH_BYTES = 32
ADDRESS_BYTES = 20


@dataclass(frozen=True)
class BlockPreview:
    height: int
    parent_hash: bytes
    coinbase: bytes
    timestamp: int
    transactions: tuple[bytes, ...]  # hashes, in block order

    def encode(self) -> bytes:
        encoded: bytes = rlp.encode(
            [self.height, self.parent_hash, self.coinbase, self.timestamp, list(self.transactions)]
        )
        return encoded

    @classmethod
    def decode(cls, raw: bytes) -> BlockPreview:
        """Raises ValueError, naming what is wrong, for anything but a well-formed preview."""
        try:
            items = decode_items(raw, max_depth=2)
        except rlp.DecodingError as exc:
            raise ValueError(f"a block preview is not RLP: {exc}") from None
        if not isinstance(items, list) or len(items) != 5:
            raise ValueError("a block preview is [height, parent, coinbase, timestamp, hashes]")
        height, parent_hash, coinbase, timestamp, hashes = items
        if not all(isinstance(i, bytes) for i in (height, parent_hash, coinbase, timestamp)):
            raise ValueError("a block preview's first four items are byte strings")
        if len(parent_hash) != HASH_BYTES or len(coinbase) != ADDRESS_BYTES:
            raise ValueError("a block preview's parent is a 32-byte hash, its coinbase an address")
        if not isinstance(hashes, list) or any(
            not isinstance(h, bytes) or len(h) != HASH_BYTES for h in hashes
        ):
            raise ValueError("a block preview's transactions are a list of 32-byte hashes")
        return cls(
            int.from_bytes(height, "big"),
            parent_hash,
            coinbase,
            int.from_bytes(timestamp, "big"),
            tuple(hashes),
        )
