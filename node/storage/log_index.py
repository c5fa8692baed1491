"""The log index: which block holds logs of an address or topic, so eth_getLogs needs no scan.

Per block, its logs are kept as one record. The index keys (`schema`) point into those
records: address or topic slot and topic, then block and position, with empty values; a range
query is a LevelDB range scan over one address or topic.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import rlp
from eth.abc import DatabaseAPI, ReceiptAPI, SignedTransactionAPI

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
    """Stages the log record and index entries of one block (written with the block itself)."""
    records: list[list[object]] = []
    log_index = 0
    for tx_index, (tx, receipt) in enumerate(zip(transactions, receipts, strict=True)):
        for log in receipt.logs:
            topics = [t.to_bytes(32, "big") for t in log.topics]
            records.append([log_index, tx_index, tx.hash, log.address, topics, log.data])
            db[schema.address_index_key(log.address, block_number, log_index)] = b""
            for slot, topic in enumerate(topics):
                db[schema.topic_index_key(slot, topic, block_number, log_index)] = b""
            log_index += 1
    if records:
        db[schema.log_record_key(block_number)] = rlp.encode(records)


class LogIndex:
    def __init__(self, db: LevelDB) -> None:
        self._db = db

    def _block_logs(self, block_number: int) -> list[IndexedLog]:
        try:
            raw = self._db[schema.log_record_key(block_number)]
        except KeyError:
            return []
        return [
            IndexedLog(
                block_number=block_number,
                log_index=rlp.sedes.big_endian_int.deserialize(log_index),
                transaction_index=rlp.sedes.big_endian_int.deserialize(tx_index),
                transaction_hash=tx_hash,
                address=address,
                topics=tuple(topics),
                data=data,
            )
            for log_index, tx_index, tx_hash, address, topics, data in rlp.decode(raw)
        ]

    def _positions(self, prefix: bytes, log_filter: LogFilter) -> Iterator[tuple[int, int]]:
        start = prefix + schema.block_number_key(log_filter.from_block)
        stop = prefix + schema.block_number_key(log_filter.to_block + 1)
        for key, _ in self._db.iterate(start, stop):
            tail = key[len(prefix) :]
            yield int.from_bytes(tail[:8], "big"), int.from_bytes(tail[8:12], "big")

    def _candidates(self, log_filter: LogFilter) -> Iterable[int]:
        """Blocks that may hold matching logs, from the most selective index available."""
        prefixes: list[bytes]
        if log_filter.addresses:
            prefixes = [schema.LOGS_BY_ADDRESS + a for a in sorted(log_filter.addresses)]
        else:
            slot, wanted = next((i, t) for i, t in enumerate(log_filter.topics) if t is not None)
            prefixes = [schema.LOGS_BY_TOPIC + bytes([slot]) + topic for topic in sorted(wanted)]
        blocks: set[int] = set()
        for prefix in prefixes:
            blocks.update(block for block, _ in self._positions(prefix, log_filter))
        return sorted(blocks)

    def _all_blocks_with_logs(self, log_filter: LogFilter) -> Iterable[int]:
        start = schema.log_record_key(log_filter.from_block)
        stop = schema.log_record_key(log_filter.to_block + 1)
        for key, _ in self._db.iterate(start, stop):
            yield int.from_bytes(key[len(schema.LOG_RECORD) :], "big")

    def query(self, log_filter: LogFilter, limit: int) -> list[IndexedLog]:
        blocks = (
            self._candidates(log_filter)
            if log_filter.is_selective
            else self._all_blocks_with_logs(log_filter)
        )
        found: list[IndexedLog] = []
        for block in blocks:
            found.extend(log for log in self._block_logs(block) if log_filter.matches(log))
            if len(found) > limit:
                raise TooManyLogs(limit)
        return found
