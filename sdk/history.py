"""Event history at scale: eth_getLogs filtered by indexed topics over block ranges that adapt
to what the node allows, and time ranges turned into block ranges by bisection over block
timestamps. Nothing here scans the chain block by block.

A query that hits the node's result cap (ours and geth's -32005, Besu's, anvil's, hosted
providers' "too many results" or "range too large"), or whose answer is longer than this client
reads at once (64 MiB: anvil has no cap), is narrowed by halving its block range until it
passes; a range that comes back sparse is widened for the next request. The next range is asked
before this one is decoded, through `cityledger.sdk.untrusted_rpc` (answers bounded in size and
nesting), so the node reads while this process decodes. Logs are decoded straight from their
JSON form (`cityledger.sdk.event_decoding`). An event that records its block's time
(AccessRecorded's `timestamp` is `block.timestamp`) dates itself; the timestamps of the other
events' blocks are read in batches, one request per block at most.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, cast

from eth_utils import event_abi_to_log_topic, to_bytes

from cityledger.contracts.artifacts import load_artifact
from cityledger.sdk.chain import Chain, translated_errors
from cityledger.sdk.errors import LedgerError, LedgerTransportError
from cityledger.sdk.event_decoding import decode_log
from cityledger.sdk.models import HistoryEvent, utc
from cityledger.sdk.untrusted_rpc import AnswerTooLarge, Call, UntrustedNode

# The first request spans this many blocks; later ones are sized from the logs a block held in
# the last one, to bring about `TARGET_LOGS` (half of the common 10,000 cap), and at most double.
DEFAULT_CHUNK_BLOCKS = 5_000
TARGET_LOGS = 5_000
TIMESTAMP_BATCH = 100
# Words the common nodes and providers use when a log query is too large for them.
_TOO_LARGE = ("more than", "too many", "exceed", "limit", "range", "too large", "response size")


class HistoryError(LedgerError):
    """History cannot be read as asked (for example one block holds more logs than the node
    returns at once)."""


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


def _position(log: dict[str, Any]) -> tuple[int, int]:
    """(block number, log index) of a log as JSON-RPC gives it."""
    return int(str(log["blockNumber"]), 16), int(str(log["logIndex"]), 16)


class _TooLarge(Exception):
    """The node refused a log query as too large."""


class History:
    """Reads system-contract events in block order, in block ranges that adapt to the node."""

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

    def _read_timestamps(self, blocks: Iterable[int]) -> None:
        """Timestamps of `blocks` not known yet, in JSON-RPC batches."""
        missing = sorted({b for b in blocks if b not in self._timestamps})
        for i in range(0, len(missing), TIMESTAMP_BATCH):
            part = missing[i : i + TIMESTAMP_BATCH]
            requests = [("eth_getBlockByNumber", [hex(b), False]) for b in part]
            with translated_errors("eth_getBlockByNumber"):
                batch = getattr(self.chain.w3.provider, "make_batch_request", None)
                answers = batch(requests) if batch is not None else None
            if not isinstance(answers, list) or len(answers) != len(part):
                for block in part:  # a node without batches: one at a time
                    self.timestamp(block)
                continue
            for block, answer in zip(part, answers, strict=True):
                result = answer.get("result") if isinstance(answer, dict) else None
                if not isinstance(result, dict):
                    raise HistoryError(f"block {block} could not be read: {answer}")
                self._timestamps[block] = int(str(result["timestamp"]), 16)

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

    def _log_calls(self, filters: Sequence[TopicFilter], start: int, end: int) -> list[Call]:
        calls: list[Call] = []
        for flt in filters:
            topics: list[Any] = [["0x" + _event_topics(flt.contract)[e].hex() for e in flt.events]]
            if flt.position is not None and flt.value is not None:
                topics += [None] * (flt.position - 1) + ["0x" + flt.value.hex()]
            query = {
                "address": self.chain.addresses[flt.contract],
                "fromBlock": hex(start),
                "toBlock": hex(end),
                "topics": topics,
            }
            calls.append(("eth_getLogs", [query]))
        return calls

    @staticmethod
    def _received_logs(node: UntrustedNode) -> list[tuple[tuple[int, int], dict[str, Any]]]:
        """The logs the node answered to the last `_log_calls`, each once, in (block, log
        index) order, with that position."""
        seen: dict[tuple[int, int], dict[str, Any]] = {}
        try:
            answers = node.answers()
        except AnswerTooLarge as refusal:  # a node without a cap of its own (anvil)
            raise _TooLarge(str(refusal)) from None
        for answer in answers:
            if "error" in answer:
                error = answer["error"]
                message = str(error.get("message") if isinstance(error, dict) else error)
                code = error.get("code") if isinstance(error, dict) else None
                if code == -32005 or any(word in message.lower() for word in _TOO_LARGE):
                    raise _TooLarge(message)
                raise LedgerTransportError(f"eth_getLogs: JSON-RPC error: {message}")
            try:
                for log in answer["result"]:
                    seen[_position(log)] = log
            except (KeyError, TypeError, ValueError):
                raise LedgerTransportError(
                    f"eth_getLogs: node {node.url} answered something other than logs"
                ) from None
        return [(key, seen[key]) for key in sorted(seen)]

    def decode(self, log: dict[str, Any]) -> HistoryEvent:
        return self._dated([self._undated(_position(log), log)])[0]

    def _undated(
        self, position: tuple[int, int], log: dict[str, Any]
    ) -> tuple[int, int, str, str, str, dict[str, Any]]:
        contract, event, args = decode_log(log)
        return (
            *position,
            str(log["transactionHash"]),
            contract,
            event,
            args,
        )

    def _dated(
        self, decoded: list[tuple[int, int, str, str, str, dict[str, Any]]]
    ) -> list[HistoryEvent]:
        for block, _, _, _, _, args in decoded:
            if isinstance(args.get("timestamp"), int):
                self._timestamps.setdefault(block, args["timestamp"])
        blocks = {block for block, *_ in decoded}
        self._read_timestamps(blocks)
        moments = {block: utc(self._timestamps[block]) for block in blocks}
        return [
            HistoryEvent(
                block_number=block,
                log_index=log_index,
                tx_hash=tx_hash,
                timestamp=moments[block],
                contract=contract,
                event=event,
                args=args,
            )
            for block, log_index, tx_hash, contract, event, args in decoded
        ]

    def events(
        self,
        filters: Sequence[TopicFilter],
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Iterator[HistoryEvent]:
        """Every matching event in (block, log index) order, fetched one block range at a time,
        the next range read while the caller handles this one; a caller that stops early never
        pays for more than one range ahead. Memory follows two ranges' logs."""
        start, end = self.block_range(since, until)
        return self.events_in(filters, start, end)

    def events_in(
        self, filters: Sequence[TopicFilter], start: int, end: int
    ) -> Iterator[HistoryEvent]:
        """`events` in the block range [start, end] as given (a caller that proves what it
        read pins the exact range).

        The next range is asked before this one is decoded and handed on, so the node reads it
        meanwhile: one request in flight, no thread. A range the node refuses as too large is
        halved and asked again from the same block, so what is held stays one range however
        busy the chain; a sparse one widens the next."""
        node = UntrustedNode(self._node_url())
        try:
            span = max(1, self.chunk_blocks)
            asked = self._ask(node, filters, start, min(start + span - 1, end))
            while asked is not None:
                chunk_start, chunk_end = asked
                try:
                    logs = self._received_logs(node)
                except _TooLarge as refusal:
                    if chunk_start == chunk_end:
                        raise HistoryError(
                            f"block {chunk_start} holds more events than the node returns at "
                            f"once ({refusal}); raise the node's log limit"
                        ) from None
                    span = (chunk_end - chunk_start + 1) // 2
                    asked = self._ask(node, filters, chunk_start, chunk_start + span - 1)
                    continue
                blocks = chunk_end - chunk_start + 1
                per_block = len(logs) / blocks
                span = max(
                    1, min(2 * blocks, int(TARGET_LOGS / per_block) if per_block else 2 * blocks)
                )
                asked = self._ask(node, filters, chunk_end + 1, min(chunk_end + span, end))
                yield from self._dated([self._undated(*entry) for entry in logs])
        finally:
            node.close()

    def _ask(
        self, node: UntrustedNode, filters: Sequence[TopicFilter], start: int, end: int
    ) -> tuple[int, int] | None:
        """Sends the log query of [start, end]; None when the range is empty."""
        if start > end:
            return None
        node.send(self._log_calls(filters, start, end))
        return start, end

    def _node_url(self) -> str:
        url = getattr(self.chain.w3.provider, "endpoint_uri", None)
        if not url:
            raise HistoryError("event history is read over HTTP JSON-RPC; this chain has no URL")
        return str(url)

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
