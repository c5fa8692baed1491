"""Event history at scale: eth_getLogs filtered by indexed topics over block ranges that adapt
to what the node allows, and time ranges turned into block ranges by bisection over block
timestamps. Nothing here scans the chain block by block.

A query that hits the node's result cap (ours and geth's -32005, Besu's, anvil's, hosted
providers' "too many results" or "range too large") is narrowed by halving its block range until
it passes; a range that comes back sparse is widened for the next request. Logs are decoded
straight from their JSON form (`cityledger.sdk.event_decoding`). An event that records its
block's time (AccessRecorded's `timestamp` is `block.timestamp`) dates itself; the timestamps of
the other events' blocks are read in batches, one request per block at most.
"""

from __future__ import annotations

import math
import queue
import threading
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


def _read_ahead(chunks: Iterator[list[HistoryEvent]]) -> Iterator[list[HistoryEvent]]:
    """`chunks`, each produced in a worker thread while the caller handles the one before: the
    node answers the next query while this process decodes and writes the last."""
    ahead: queue.Queue[list[HistoryEvent] | BaseException | None] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def produce() -> None:
        try:
            for chunk in chunks:
                while not stop.is_set():
                    try:
                        ahead.put(chunk, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            ahead.put(None)
        except BaseException as exc:  # handed to the caller's thread, raised there
            ahead.put(exc)

    worker = threading.Thread(target=produce, name="history-read-ahead", daemon=True)
    worker.start()
    try:
        while (item := ahead.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


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
        self.requests = 0  # eth_getLogs requests made (narrowing included), for measurements

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

    def _query(self, flt: TopicFilter, start: int, end: int) -> list[dict[str, Any]]:
        topics: list[Any] = [["0x" + _event_topics(flt.contract)[e].hex() for e in flt.events]]
        if flt.position is not None and flt.value is not None:
            topics += [None] * (flt.position - 1) + ["0x" + flt.value.hex()]
        params = {
            "address": self.chain.addresses[flt.contract],
            "fromBlock": hex(start),
            "toBlock": hex(end),
            "topics": topics,
        }
        self.requests += 1
        with translated_errors("eth_getLogs"):
            response = self.chain.w3.provider.make_request(cast(Any, "eth_getLogs"), [params])
        if "error" in response:
            error = response["error"]
            message = str(error.get("message") if isinstance(error, dict) else error)
            code = error.get("code") if isinstance(error, dict) else None
            if code == -32005 or any(word in message.lower() for word in _TOO_LARGE):
                raise _TooLarge(message)
            raise LedgerTransportError(f"eth_getLogs: JSON-RPC error: {message}")
        return list(response.get("result") or [])

    def _chunk(self, filters: Sequence[TopicFilter], start: int, end: int) -> list[dict[str, Any]]:
        """Every log of `filters` in [start, end] once, in (block, log index) order."""
        seen: dict[tuple[int, int], dict[str, Any]] = {}
        for flt in filters:
            for log in self._query(flt, start, end):
                seen[int(str(log["blockNumber"]), 16), int(str(log["logIndex"]), 16)] = log
        return [seen[key] for key in sorted(seen)]

    def decode(self, log: dict[str, Any]) -> HistoryEvent:
        return self._dated([self._undated(log)])[0]

    def _undated(self, log: dict[str, Any]) -> tuple[int, int, str, str, str, dict[str, Any]]:
        contract, event, args = decode_log(log)
        block = int(str(log["blockNumber"]), 16)
        return (
            block,
            int(str(log["logIndex"]), 16),
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
        read pins the exact range)."""
        for chunk in _read_ahead(self._ranges(filters, start, end)):
            yield from chunk

    def _ranges(
        self, filters: Sequence[TopicFilter], start: int, end: int
    ) -> Iterator[list[HistoryEvent]]:
        """[start, end] a chunk at a time. A chunk the node refuses as too large is halved and
        asked again from the same block, so that what is held at once stays one chunk however
        busy the range: never the whole range gathered before the first event is handed on."""
        span = max(1, self.chunk_blocks)
        chunk_start = start
        while chunk_start <= end:
            chunk_end = min(chunk_start + span - 1, end)
            try:
                logs = self._chunk(filters, chunk_start, chunk_end)
            except _TooLarge as refusal:
                if chunk_start == chunk_end:
                    raise HistoryError(
                        f"block {chunk_start} holds more events than the node returns at "
                        f"once ({refusal}); raise the node's log limit"
                    ) from None
                span = (chunk_end - chunk_start + 1) // 2
                continue
            yield self._dated([self._undated(log) for log in logs])
            blocks = chunk_end - chunk_start + 1
            per_block = len(logs) / blocks
            span = max(
                1, min(2 * blocks, int(TARGET_LOGS / per_block) if per_block else 2 * blocks)
            )
            chunk_start = chunk_end + 1

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
