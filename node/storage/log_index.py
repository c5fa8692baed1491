"""The log index: which block holds logs of an address or topic, so eth_getLogs needs no scan.

Per block, its logs are kept as one record. The index keys (`schema`) point into those
records: address or topic slot and topic, then block and position, with empty values; a range
query is a LevelDB range scan over one address or topic.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from eth.abc import DatabaseAPI, ReceiptAPI, SignedTransactionAPI

from cityledger.node.execution.raw_rlp import decode_stored
from cityledger.node.storage import schema
from cityledger.node.storage.leveldb import LevelDB


@dataclass(frozen=True)
class IndexedLog:
    block_number: int
    log_index: int
    transaction_index: int
    transaction_hash: bytes
    address: bytes
    topics: tuple[bytes, ...]
    data: bytes


@dataclass(frozen=True)
class LogFilter:
    """eth_getLogs semantics: any of `addresses` (empty: any); topics position by position,
    each None (anything) or a set of alternatives."""

    from_block: int
    to_block: int
    addresses: frozenset[bytes]
    topics: tuple[frozenset[bytes] | None, ...]

    def matches(self, log: IndexedLog) -> bool:
        if self.addresses and log.address not in self.addresses:
            return False
        if len(self.topics) > len(log.topics):
            return False
        return all(
            wanted is None or topic in wanted
            for wanted, topic in zip(self.topics, log.topics, strict=False)
        )

    @property
    def is_selective(self) -> bool:
        return bool(self.addresses) or any(t is not None for t in self.topics)


class TooManyLogs(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"query matches more than {limit} logs; narrow the block range or filter")
        self.limit = limit


def index_block(
    db: DatabaseAPI,
    block_number: int,
    transactions: Sequence[SignedTransactionAPI],
    receipts: Sequence[ReceiptAPI],
) -> None:
    """Stages the log table and index entries of one block (written with the block itself)."""
    records: list[bytes] = []
    for tx_index, (tx, receipt) in enumerate(zip(transactions, receipts, strict=True)):
        for log in receipt.logs:
            log_index = len(records)
            topics = [t.to_bytes(32, "big") for t in log.topics]
            records.append(_record(log_index, tx_index, tx.hash, log.address, topics, log.data))
            db[schema.address_index_key(log.address, block_number, log_index)] = b""
            for slot, topic in enumerate(topics):
                db[schema.topic_index_key(slot, topic, block_number, log_index)] = b""
    if records:
        db[schema.log_table_key(block_number)] = _table(records)


def _table(records: Sequence[bytes]) -> bytes:
    """count, then count + 1 offsets (4 bytes each, from the end of the table), then records."""
    offsets = list(itertools.accumulate((len(r) for r in records), initial=0))
    header = len(records).to_bytes(4, "big") + b"".join(o.to_bytes(4, "big") for o in offsets)
    return header + b"".join(records)


# A log in a table: log index (4 bytes), transaction index (4), transaction hash (32), address
# (20), topic count (1), the topics (32 each), then the data. Fixed fields read by slicing: a log
# costs a microsecond to read where an RLP decoder's call alone costs several.
_HEAD = 61


def _record(
    log_index: int,
    tx_index: int,
    tx_hash: bytes,
    address: bytes,
    topics: Sequence[bytes],
    data: bytes,
) -> bytes:
    return b"".join(
        (
            log_index.to_bytes(4, "big"),
            tx_index.to_bytes(4, "big"),
            tx_hash,
            address,
            bytes([len(topics)]),
            *topics,
            data,
        )
    )


def _read_record(block_number: int, record: bytes) -> IndexedLog:
    count = record[60]
    end = _HEAD + 32 * count
    return IndexedLog(
        block_number,
        int.from_bytes(record[0:4], "big"),
        int.from_bytes(record[4:8], "big"),
        record[8:40],
        record[40:60],
        tuple(record[i : i + 32] for i in range(_HEAD, end, 32)),
        record[end:],
    )


def _listed(block_number: int, fields: Sequence[Any]) -> IndexedLog:
    """A log of a block stored as one RLP list (before log tables)."""
    log_index, tx_index, tx_hash, address, topics, data = fields
    return IndexedLog(
        block_number=block_number,
        log_index=int.from_bytes(log_index, "big"),
        transaction_index=int.from_bytes(tx_index, "big"),
        transaction_hash=tx_hash,
        address=address,
        topics=tuple(topics),
        data=data,
    )


# Index entries read from each option before choosing: enough to tell a small option (it ends
# sooner) and, among large ones, the sparsest (its SAMPLE-th entry lies furthest on).
SAMPLE = 1_024

# An index position as the last 12 bytes of its key: block number (8) and log index (4),
# big-endian, so that they sort as (block, log) and are compared without being parsed.
Position = bytes


class LogIndex:
    """Answers log queries from the index whose entries are fewest for the query's range: the
    address index, or the index of one topic position. A sample of each option decides (so the
    cost follows the smallest, not the chain): options that end within it are intersected,
    otherwise the sparsest is streamed. Only the logs at the chosen positions are
    decoded. `decoded_logs` counts the logs decoded, for tests and measurements."""

    def __init__(self, db: LevelDB) -> None:
        self._db = db
        self.decoded_logs = 0

    def _block_logs(
        self, block_number: int, wanted: Sequence[int] | None = None
    ) -> list[IndexedLog]:
        """The block's logs at `wanted` positions (all without), decoding only those."""
        try:
            table = self._db[schema.log_table_key(block_number)]
        except KeyError:
            return self._listed_block_logs(block_number, wanted)
        count = int.from_bytes(table[:4], "big")
        start = 4 + 4 * (count + 1)
        positions = range(count) if wanted is None else [i for i in wanted if i < count]
        found = []
        for i in positions:
            offset = int.from_bytes(table[4 + 4 * i : 8 + 4 * i], "big")
            end = int.from_bytes(table[8 + 4 * i : 12 + 4 * i], "big")
            found.append(_read_record(block_number, table[start + offset : start + end]))
        self.decoded_logs += len(found)
        return found

    def _listed_block_logs(
        self, block_number: int, wanted: Sequence[int] | None
    ) -> list[IndexedLog]:
        """A block stored as one RLP list (before log tables): decoded whole."""
        try:
            raw = self._db[schema.log_record_key(block_number)]
        except KeyError:
            return []
        records = decode_stored(raw)
        self.decoded_logs += len(records)
        chosen = records if wanted is None else [records[i] for i in wanted if i < len(records)]
        return [_listed(block_number, fields) for fields in chosen]

    def _positions(self, prefixes: Sequence[bytes], log_filter: LogFilter) -> Iterator[Position]:
        """Index positions under any of `prefixes` within the filter's blocks, in order."""
        streams = []
        for prefix in prefixes:
            start = prefix + schema.block_number_key(log_filter.from_block)
            stop = prefix + schema.block_number_key(log_filter.to_block + 1)
            streams.append(key[-12:] for key in self._db.iterate_keys(start, stop))
        return heapq.merge(*streams) if len(streams) > 1 else streams[0]

    def _options(self, log_filter: LogFilter) -> list[list[bytes]]:
        options = []
        if log_filter.addresses:
            options.append([schema.LOGS_BY_ADDRESS + a for a in sorted(log_filter.addresses)])
        for slot, wanted in enumerate(log_filter.topics):
            if wanted is not None:
                options.append(
                    [schema.LOGS_BY_TOPIC + bytes([slot]) + topic for topic in sorted(wanted)]
                )
        return options

    def _selected_positions(self, log_filter: LogFilter) -> Iterable[Position]:
        """The positions to check, in order. Each option's first `SAMPLE` entries in the range
        are read: options with fewer are small, and intersected; when none is that small, the
        option whose SAMPLE-th entry lies furthest on is the sparsest, and it is streamed."""
        streams = [self._positions(option, log_filter) for option in self._options(log_filter)]
        read = [list(itertools.islice(stream, SAMPLE)) for stream in streams]
        small = [set(r) for r in read if len(r) < SAMPLE]
        if small:
            return sorted(set.intersection(*small))
        sparsest = max(range(len(read)), key=lambda i: read[i][-1])
        return itertools.chain(read[sparsest], streams[sparsest])

    def _all_blocks_with_logs(self, log_filter: LogFilter) -> Iterable[int]:
        blocks = []
        for prefix in (schema.LOG_TABLE, schema.LOG_RECORD):
            start = prefix + schema.block_number_key(log_filter.from_block)
            stop = prefix + schema.block_number_key(log_filter.to_block + 1)
            blocks.append(
                int.from_bytes(k[len(prefix) :], "big") for k in self._db.iterate_keys(start, stop)
            )
        return heapq.merge(*blocks)

    def query(self, log_filter: LogFilter, limit: int) -> list[IndexedLog]:
        found: list[IndexedLog] = []
        if log_filter.is_selective:
            by_block = itertools.groupby(self._selected_positions(log_filter), lambda p: p[:8])
            for block, positions in by_block:
                wanted = [int.from_bytes(p[8:], "big") for p in positions]
                for log in self._block_logs(int.from_bytes(block, "big"), wanted):
                    if log_filter.matches(log):
                        found.append(log)
                if len(found) > limit:
                    raise TooManyLogs(limit)
            return found
        for block in self._all_blocks_with_logs(log_filter):
            found.extend(log for log in self._block_logs(block) if log_filter.matches(log))
            if len(found) > limit:
                raise TooManyLogs(limit)
        return found
