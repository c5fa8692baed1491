"""A block's tries and header as the SDK rebuilds them (cityledger.sdk.block_tries and
block_header, written from the Yellow Paper), against independent code: the `trie` package's
HexaryTrie, py-evm's receipt encoding and py-evm's Cancun header hash, on random inputs."""

from __future__ import annotations

from typing import Any

import rlp
from eth.rlp.logs import Log as EvmLog
from eth.rlp.receipts import Receipt as EvmReceipt
from eth.vm.forks.cancun.blocks import CancunBlockHeader
from eth.vm.forks.cancun.receipts import CancunTypedReceipt
from hypothesis import given, settings
from hypothesis import strategies as st
from trie.hexary import HexaryTrie

from cityledger.sdk.block_header import BlockHeader, HeaderError
from cityledger.sdk.block_tries import EMPTY_TRIE_ROOT, Log, Receipt, ordered_trie_root

words = st.binary(min_size=32, max_size=32)
addresses = st.binary(min_size=20, max_size=20)


@settings(max_examples=200, deadline=None)
@given(items=st.lists(st.binary(min_size=1, max_size=120), max_size=300))
def test_an_ordered_trie_has_the_root_the_trie_package_computes(items: list[bytes]) -> None:
    trie = HexaryTrie({})
    for index, item in enumerate(items):
        trie[rlp.encode(index)] = item
    assert ordered_trie_root(items) == trie.root_hash
    assert ordered_trie_root([]) == EMPTY_TRIE_ROOT


logs = st.builds(
    Log,
    address=addresses,
    topics=st.lists(words, max_size=4).map(tuple),
    data=st.binary(max_size=200),
)


@settings(max_examples=200, deadline=None)
@given(
    tx_type=st.sampled_from([0, 1, 2, 3]),
    status=st.integers(0, 1),
    gas=st.integers(0, 2**63),
    bloom=st.binary(min_size=256, max_size=256),
    entries=st.lists(logs, max_size=5),
)
def test_a_receipt_encodes_as_py_evm_encodes_it(
    tx_type: int, status: int, gas: int, bloom: bytes, entries: list[Log]
) -> None:
    ours = Receipt(tx_type, status, gas, bloom, tuple(entries))
    theirs = EvmReceipt(
        state_root=b"\x01" if status else b"",
        gas_used=gas,
        logs=[
            EvmLog(e.address, tuple(int.from_bytes(t, "big") for t in e.topics), e.data)
            for e in entries
        ],
        bloom=int.from_bytes(bloom, "big"),
    )
    encoded = rlp.encode(theirs) if tx_type == 0 else CancunTypedReceipt(tx_type, theirs).encode()
    assert ours.encode() == encoded


def _ints(words: tuple[bytes, ...]) -> list[int]:
    return [int.from_bytes(word, "big") for word in words]


def test_a_receipt_from_json_refuses_what_is_not_one() -> None:
    good: dict[str, Any] = {
        "type": "0x2",
        "status": "0x1",
        "cumulativeGasUsed": "0x5208",
        "logsBloom": "0x" + "00" * 256,
        "logs": [{"address": "0x" + "11" * 20, "topics": ["0x" + "22" * 32], "data": "0x"}],
    }
    assert Receipt.from_json(good).logs[0].topics == (b"\x22" * 32,)
    broken_ones: list[tuple[object, str]] = [
        ({**good, "logs": None}, "logs"),
        ({**good, "status": "0x2"}, "range"),
        ({**good, "logsBloom": "0x00"}, "logsBloom"),
        ({**good, "logs": [{**good["logs"][0], "topics": ["0x" + "22" * 32] * 5}]}, "topics"),
        ("not a receipt", "object"),
    ]
    for broken, reason in broken_ones:
        try:
            Receipt.from_json(broken)
        except ValueError as exc:
            assert reason in str(exc)
        else:
            raise AssertionError(f"accepted {broken!r}")


@settings(max_examples=100, deadline=None)
@given(
    parent=words,
    roots=st.tuples(words, words, words),
    coinbase=addresses,
    bloom=st.integers(0, 2**2048 - 1),
    number=st.integers(0, 2**40),
    gas=st.tuples(st.integers(0, 2**40), st.integers(0, 2**40)),
    timestamp=st.integers(0, 2**40),
    extra=st.binary(max_size=32),
    base_fee=st.integers(0, 2**64),
    blob=st.tuples(st.integers(0, 2**40), st.integers(0, 2**40)),
    beacon=words,
)
def test_a_header_hashes_as_py_evm_hashes_it(
    parent: bytes,
    roots: tuple[bytes, bytes, bytes],
    coinbase: bytes,
    bloom: int,
    number: int,
    gas: tuple[int, int],
    timestamp: int,
    extra: bytes,
    base_fee: int,
    blob: tuple[int, int],
    beacon: bytes,
) -> None:
    fields: dict[str, Any] = dict(
        difficulty=0,
        block_number=number,
        gas_limit=gas[0],
        timestamp=timestamp,
        coinbase=coinbase,
        parent_hash=parent,
        state_root=roots[0],
        transaction_root=roots[1],
        receipt_root=roots[2],
        bloom=bloom,
        gas_used=gas[1],
        extra_data=extra,
        base_fee_per_gas=base_fee,
        withdrawals_root=roots[0],
        blob_gas_used=blob[0],
        excess_blob_gas=blob[1],
        parent_beacon_block_root=beacon,
    )
    header = CancunBlockHeader(**fields)
    served = _served(header)
    parsed = BlockHeader.from_json(served)
    assert parsed.hash == header.hash
    assert (parsed.number, parsed.receipts_root) == (number, roots[2])
    served["timestamp"] = hex(timestamp + 1)
    assert BlockHeader.from_json(served).hash != header.hash


def _served(header: Any) -> dict[str, str]:
    """The header as eth_getBlockByNumber serves it."""

    def data(value: bytes) -> str:
        return "0x" + value.hex()

    return {
        "parentHash": data(header.parent_hash),
        "sha3Uncles": data(header.uncles_hash),
        "miner": data(header.coinbase),
        "stateRoot": data(header.state_root),
        "transactionsRoot": data(header.transaction_root),
        "receiptsRoot": data(header.receipt_root),
        "logsBloom": data(header.bloom.to_bytes(256, "big")),
        "difficulty": hex(header.difficulty),
        "number": hex(header.block_number),
        "gasLimit": hex(header.gas_limit),
        "gasUsed": hex(header.gas_used),
        "timestamp": hex(header.timestamp),
        "extraData": data(header.extra_data),
        "mixHash": data(header.mix_hash),
        "nonce": data(header.nonce),
        "baseFeePerGas": hex(header.base_fee_per_gas),
        "withdrawalsRoot": data(header.withdrawals_root),
        "blobGasUsed": hex(header.blob_gas_used),
        "excessBlobGas": hex(header.excess_blob_gas),
        "parentBeaconBlockRoot": data(header.parent_beacon_block_root),
        "hash": "0x" + "00" * 32,  # a node's word, never read
    }


def test_a_header_with_a_malformed_field_is_refused() -> None:
    fields: dict[str, Any] = dict(
        difficulty=0,
        block_number=7,
        gas_limit=30_000_000,
        timestamp=1,
        parent_beacon_block_root=b"\0" * 32,
    )
    header = CancunBlockHeader(**fields)
    assert BlockHeader.from_json(_served(header)).hash == header.hash
    for field, value in (
        ("stateRoot", "0x12"),
        ("number", "12"),
        ("logsBloom", "0xzz"),
        ("extraData", "0x" + "00" * 2000),
    ):
        try:
            BlockHeader.from_json({**_served(header), field: value})
        except HeaderError as exc:
            assert field in str(exc)
            continue
        raise AssertionError(f"accepted {field}={value}")
