"""The log index on real LevelDB: a query costs what its most selective index costs (counted in
logs decoded), and answers exactly what a scan of every log would (hypothesis)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
import rlp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cityledger.node.storage import schema
from cityledger.node.storage.leveldb import LevelDB
from cityledger.node.storage.log_index import (
    IndexedLog,
    LogFilter,
    LogIndex,
    TooManyLogs,
    index_block,
)

CONTRACT = b"\xaa" * 20
OTHER = b"\xbb" * 20
EVENT = (1).to_bytes(32, "big")
BUSY, QUIET = (2).to_bytes(32, "big"), (3).to_bytes(32, "big")


@dataclass(frozen=True)
class Log:
    address: bytes
    topics: tuple[int, ...]
    data: bytes


@dataclass(frozen=True)
class Receipt:
    logs: tuple[Log, ...]


@dataclass(frozen=True)
class Transaction:
    hash: bytes


def write_block(db: LevelDB, number: int, logs: Sequence[tuple[bytes, tuple[bytes, ...]]]) -> None:
    """One transaction a log, as the node's index_block stages them."""
    txs = [Transaction(bytes([i % 256]) * 32) for i in range(len(logs))]
    receipts = [
        Receipt((Log(address, tuple(int.from_bytes(t, "big") for t in topics), b"d"),))
        for address, topics in logs
    ]
    staged: dict[bytes, bytes] = {}
    index_block(cast(Any, staged), number, cast(Any, txs), cast(Any, receipts))
    db.write_atomically(staged, set())


@pytest.fixture
def db(tmp_path: Path) -> Iterator[LevelDB]:
    database = LevelDB(tmp_path / "db")
    yield database
    database.close()


def test_a_quiet_datasets_query_decodes_its_own_logs_only(db: LevelDB) -> None:
    # 400 blocks of a busy dataset's accesses (20 a block), and a quiet dataset's access in
    # 10 of them: the quiet query must not decode the busy blocks it does not touch.
    quiet_blocks = set(range(7, 400, 40))
    for number in range(1, 401):
        logs = [(CONTRACT, (EVENT, b"\x01" * 32, b"\x02" * 32, BUSY))] * 20
        if number in quiet_blocks:
            logs.append((CONTRACT, (EVENT, b"\x01" * 32, b"\x02" * 32, QUIET)))
        write_block(db, number, logs)
    index = LogIndex(db)
    quiet = LogFilter(
        0, 400, frozenset([CONTRACT]), (frozenset([EVENT]), None, None, frozenset([QUIET]))
    )
    found = index.query(quiet, limit=10_000)
    assert [log.block_number for log in found] == sorted(quiet_blocks)
    # Only the quiet logs themselves are decoded, not the busy logs around them.
    assert index.decoded_logs == len(quiet_blocks)
    with pytest.raises(TooManyLogs):
        index.query(
            LogFilter(0, 400, frozenset([CONTRACT]), (None, None, None, frozenset([BUSY]))),
            limit=1_000,
        )


topics = st.sampled_from([EVENT, BUSY, QUIET, b"\x09" * 32])
logs_strategy = st.lists(
    st.lists(
        st.tuples(st.sampled_from([CONTRACT, OTHER]), st.lists(topics, min_size=0, max_size=4)),
        max_size=6,
    ),
    min_size=1,
    max_size=12,
)
filters = st.builds(
    lambda a, t, start, span: LogFilter(start, start + span, a, t),
    st.frozensets(st.sampled_from([CONTRACT, OTHER]), max_size=2),
    st.lists(st.none() | st.frozensets(topics, min_size=1, max_size=2), max_size=4).map(tuple),
    st.integers(0, 12),
    st.integers(0, 12),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(blocks=logs_strategy, log_filter=filters, limit=st.integers(1, 30))
def test_the_index_answers_what_a_scan_of_every_log_answers(
    tmp_path_factory: pytest.TempPathFactory,
    blocks: list[list[tuple[bytes, list[bytes]]]],
    log_filter: LogFilter,
    limit: int,
) -> None:
    database = LevelDB(tmp_path_factory.mktemp("index") / "db")
    try:
        every: list[IndexedLog] = []
        for number, block in enumerate(blocks, start=1):
            write_block(database, number, [(a, tuple(t)) for a, t in block])
            every += [
                IndexedLog(number, i, i, bytes([i % 256]) * 32, a, tuple(t), b"d")
                for i, (a, t) in enumerate(block)
            ]
        expected = [
            log
            for log in every
            if log_filter.from_block <= log.block_number <= log_filter.to_block
            and log_filter.matches(log)
        ]
        index = LogIndex(database)
        if len(expected) > limit:
            with pytest.raises(TooManyLogs):
                index.query(log_filter, limit)
        else:
            assert index.query(log_filter, limit) == expected
    finally:
        database.close()


def test_blocks_stored_as_one_rlp_list_before_log_tables_are_still_read(db: LevelDB) -> None:
    write_block(db, 1, [(CONTRACT, (EVENT, QUIET))])
    # Block 2 as nodes stored blocks before log tables: one RLP list of the block's logs.
    old = [[b"", b"", b"\x07" * 32, OTHER, [EVENT, BUSY], b"old"]]
    db.write_atomically({schema.log_record_key(2): rlp.encode(old)}, set())
    db.write_atomically({schema.address_index_key(OTHER, 2, 0): b""}, set())
    index = LogIndex(db)
    everything = index.query(LogFilter(0, 5, frozenset(), ()), limit=10)
    assert [(log.block_number, log.data) for log in everything] == [(1, b"d"), (2, b"old")]
    (found,) = index.query(LogFilter(0, 5, frozenset([OTHER]), ()), limit=10)
    assert found.topics == (EVENT, BUSY) and found.transaction_hash == b"\x07" * 32
