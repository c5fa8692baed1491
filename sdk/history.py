"""Event history at scale: eth_getLogs filtered by indexed topics over bounded block ranges, and
time ranges turned into block ranges by bisection over block timestamps. Nothing here scans
the chain block by block."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, cast

from eth_utils import event_abi_to_log_topic, to_bytes, to_checksum_address
from hexbytes import HexBytes
from web3.types import FilterParams, LogReceipt

from cityledger.contracts.artifacts import SYSTEM_CONTRACTS, load_artifact
from cityledger.sdk.chain import Chain
from cityledger.sdk.models import HistoryEvent, utc

DEFAULT_CHUNK_BLOCKS = 5_000


@dataclass(frozen=True)
class TopicFilter:
    """Events of one contract whose indexed argument at `position` (1-3) equals `value`
    (a 32-byte topic), or all of them when `position` is None."""

    contract: str
    events: tuple[str, ...]
    position: int | None = None
    value: bytes | None = None


def topic_for(value: str | int) -> bytes:
    """An indexed argument as its topic: bytes32 ids as they are, addresses left-padded,
    integers big-endian."""
    if isinstance(value, int):
        return value.to_bytes(32, "big")
    raw = to_bytes(hexstr=value)
    if len(raw) == 20:
        return raw.rjust(32, b"\0")
    if len(raw) != 32:
        raise ValueError(f"{value} is neither an address nor a 32-byte id")
    return raw


@cache
def _event_topics(contract: str) -> dict[str, bytes]:
    return {
        str(entry["name"]): event_abi_to_log_topic(cast(Any, entry))  # type: ignore[typeddict-item]
        for entry in load_artifact(contract).abi
        if entry.get("type") == "event"
    }


@cache
def _topic_index() -> dict[bytes, tuple[str, str]]:
    return {
        topic: (contract, event)
        for contract in SYSTEM_CONTRACTS
        for event, topic in _event_topics(contract).items()
    }


def _plain(value: Any) -> Any:
    """Decoded event values as JSON-friendly data: bytes as 0x-hex, structs as dicts."""
    if isinstance(value, bytes | HexBytes):
        return "0x" + bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return to_checksum_address(value)
    return value


class History:
    """Reads system-contract events in block order, chunk by chunk."""

    def __init__(
        self, chain: Chain, first_block: int = 0, chunk_blocks: int = DEFAULT_CHUNK_BLOCKS
    ):
        self.chain = chain
        self.first_block = first_block
        self.chunk_blocks = chunk_blocks
        self._timestamps: dict[int, int] = {}

    def latest_block(self) -> int:
        return self.chain.rpc("eth_blockNumber", lambda: int(self.chain.w3.eth.block_number))

    def timestamp(self, block: int) -> int:
        if block not in self._timestamps:
            self._timestamps[block] = self.chain.block_timestamp(block)
        return self._timestamps[block]

    def first_block_at_or_after(self, timestamp: int) -> int:
        """The first block with timestamp >= `timestamp` (latest + 1 if none): a bisection."""
        low, high = self.first_block, self.latest_block() + 1
        while low < high:
            middle = (low + high) // 2
            if self.timestamp(middle) >= timestamp:
                high = middle
            else:
                low = middle + 1
        return low

    def block_range(self, since: datetime | None, until: datetime | None) -> tuple[int, int]:
        """Blocks whose timestamps lie in [since, until] (block times are whole seconds)."""
        start = (
            self.first_block
            if since is None
            else self.first_block_at_or_after(math.ceil(since.timestamp()))
        )
        if until is None:
            return start, self.latest_block()
        return start, self.first_block_at_or_after(math.floor(until.timestamp()) + 1) - 1

    def _logs(self, flt: TopicFilter, start: int, end: int) -> list[LogReceipt]:
        topics: list[Any] = [["0x" + _event_topics(flt.contract)[e].hex() for e in flt.events]]
        if flt.position is not None and flt.value is not None:
            topics += [None] * (flt.position - 1) + ["0x" + flt.value.hex()]
        params: FilterParams = {
            "address": self.chain.addresses[flt.contract],
            "fromBlock": start,
            "toBlock": end,
            "topics": topics,
        }
        return self.chain.rpc("eth_getLogs", lambda: list(self.chain.w3.eth.get_logs(params)))

    def decode(self, log: LogReceipt) -> HistoryEvent:
        contract, event = _topic_index()[bytes(log["topics"][0])]
        decoded = self.chain.contract(contract).events[event]().process_log(log)
        block = int(log["blockNumber"])
        return HistoryEvent(
            block_number=block,
            log_index=int(log["logIndex"]),
            tx_hash="0x" + bytes(log["transactionHash"]).hex(),
            timestamp=utc(self.timestamp(block)),
            contract=contract,
            event=event,
            args=_plain(dict(decoded["args"])),
        )

    def events(
        self,
        filters: Sequence[TopicFilter],
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Iterator[HistoryEvent]:
        """Every matching event in (block, log index) order, fetched one block chunk at a time;
        a caller that stops early never pays for the rest."""
        start, end = self.block_range(since, until)
        for chunk_start in range(start, end + 1, self.chunk_blocks):
            chunk_end = min(chunk_start + self.chunk_blocks - 1, end)
            seen: dict[tuple[int, int], LogReceipt] = {}
            for flt in filters:
                for log in self._logs(flt, chunk_start, chunk_end):
                    seen[(int(log["blockNumber"]), int(log["logIndex"]))] = log
            for key in sorted(seen):
                yield self.decode(seen[key])

    def page(
        self,
        filters: Sequence[TopicFilter],
        *,
        offset: int = 0,
        limit: int = 100,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[HistoryEvent]:
        """One page of `events` (offset/limit over the time-ordered result)."""
        result: list[HistoryEvent] = []
        for index, item in enumerate(self.events(filters, since=since, until=until)):
            if index >= offset + limit:
                break
            if index >= offset:
                result.append(item)
        return result
