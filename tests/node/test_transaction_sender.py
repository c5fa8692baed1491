"""The node recovers a transaction's sender itself; py-evm's own path is the reference."""

from __future__ import annotations

import pytest
import rlp
from eth.vm.forks.cancun.transactions import CancunTransactionBuilder
from eth_account import Account
from eth_keys import keys as keys_api
from eth_typing import Address
from eth_utils import ValidationError
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from cityledger.node.consensus.signing import SECP256K1_N
from cityledger.node.execution.raw_rlp import encode_items
from cityledger.node.execution.transactions import (
    CityTransactionBuilder,
    _plain_dynamic_fee_payload,
)

keys = st.binary(min_size=32, max_size=32).filter(lambda k: 0 < int.from_bytes(k) < SECP256K1_N)
fields = st.fixed_dictionaries(
    {
        "nonce": st.integers(0, 2**64 - 1),
        "gas": st.integers(21_000, 30_000_000),
        "value": st.integers(0, 2**96),
        "data": st.binary(max_size=64),
        "chainId": st.integers(1, 2**32),
    }
)


def with_signature(y_parity: int, r: int, s: int, nonce: int = 0) -> bytes:
    """A dynamic-fee transaction carrying whatever signature values it is given."""
    signed = CancunTransactionBuilder.new_dynamic_fee_transaction(
        chain_id=4242,
        nonce=nonce,
        max_priority_fee_per_gas=0,
        max_fee_per_gas=0,
        gas=21_000,
        to=Address(b"\x11" * 20),
        value=0,
        data=b"",
        access_list=[],
        y_parity=y_parity,
        r=r,
        s=s,
    )
    encoded: bytes = signed.encode()
    return encoded


def sender_or_error(builder: type[CancunTransactionBuilder], raw: bytes) -> bytes | str:
    try:
        sender: bytes = builder.decode(raw).sender
    except Exception as exc:  # eth-keys, coincurve and py-evm each raise their own kinds
        return type(exc).__name__
    return sender


@settings(max_examples=150, deadline=None)
@given(key=keys, tx=fields, typed=st.booleans())
def test_signed_transactions_recover_to_the_same_sender_as_py_evm(
    key: bytes, tx: dict[str, object], typed: bool
) -> None:
    shape = ({"maxFeePerGas": 0, "maxPriorityFeePerGas": 0} if typed else {"gasPrice": 0}) | {
        "to": "0x" + "11" * 20
    }
    raw = bytes(Account.sign_transaction(tx | shape, key).raw_transaction)
    ours = CityTransactionBuilder.decode(raw).sender
    assert ours == CancunTransactionBuilder.decode(raw).sender
    assert ours == bytes.fromhex(Account.from_key(key).address[2:])


access_lists = st.lists(
    st.fixed_dictionaries(
        {
            "address": st.binary(min_size=20, max_size=20).map(lambda a: "0x" + a.hex()),
            "storageKeys": st.lists(
                st.binary(min_size=32, max_size=32).map(lambda k: "0x" + k.hex()), max_size=3
            ),
        }
    ),
    max_size=3,
)
shapes = st.one_of(
    st.just({"gasPrice": 7}),  # legacy, EIP-155
    st.builds(lambda a: {"gasPrice": 7, "accessList": a}, access_lists),  # type 1
    st.builds(
        lambda a: {"maxFeePerGas": 9, "maxPriorityFeePerGas": 2, "accessList": a}, access_lists
    ),  # type 2
)


@settings(max_examples=150, deadline=None)
@given(key=keys, tx=fields, shape=shapes, create=st.booleans())
def test_hash_signing_message_and_encoding_read_off_the_bytes_match_py_evm(
    key: bytes, tx: dict[str, object], shape: dict[str, object], create: bool
) -> None:
    # The node derives these from the bytes it decoded; py-evm re-encodes the fields.
    raw = bytes(
        Account.sign_transaction(
            tx | shape | ({} if create else {"to": "0x" + "11" * 20}), key
        ).raw_transaction
    )
    ours, reference = CityTransactionBuilder.decode(raw), CancunTransactionBuilder.decode(raw)
    assert ours.encode() == reference.encode() == raw
    assert ours.hash == reference.hash
    assert ours.get_message_for_signing() == reference.get_message_for_signing()


def test_a_pre_eip155_legacy_transaction_signs_the_same_message_as_in_py_evm() -> None:
    unsigned = CancunTransactionBuilder.create_unsigned_transaction(
        nonce=3, gas_price=1, gas=21_000, to=Address(b"\x11" * 20), value=5, data=b"\x01"
    )
    raw = unsigned.as_signed_transaction(keys_api.PrivateKey(b"\x01" * 32)).encode()
    ours, reference = CityTransactionBuilder.decode(raw), CancunTransactionBuilder.decode(raw)
    assert ours.chain_id is None
    assert ours.get_message_for_signing() == reference.get_message_for_signing()
    assert ours.sender == reference.sender


signature_values = st.one_of(
    st.integers(0, SECP256K1_N + 5),
    st.sampled_from([0, 1, SECP256K1_N - 1, SECP256K1_N, 2**256 - 1]),
)


@settings(max_examples=300, deadline=None)
@given(
    y_parity=st.integers(0, 3),
    r=signature_values,
    s=signature_values,
    nonce=st.integers(0, 1000),
)
def test_arbitrary_signature_values_are_refused_or_recovered_exactly_as_py_evm_does(
    y_parity: int, r: int, s: int, nonce: int
) -> None:
    raw = with_signature(y_parity, r, s, nonce)
    reference = sender_or_error(CancunTransactionBuilder, raw)
    ours = sender_or_error(CityTransactionBuilder, raw)
    if isinstance(reference, bytes):
        assert ours == reference
    else:
        assert isinstance(ours, str)  # refused too, whatever the exception's name


def test_a_transaction_deep_copies_to_itself_keeping_its_checked_signature() -> None:
    from copy import deepcopy

    raw = bytes(
        Account.sign_transaction(
            {
                "nonce": 0,
                "gas": 21_000,
                "maxFeePerGas": 0,
                "maxPriorityFeePerGas": 0,
                "to": "0x" + "11" * 20,
                "chainId": 4242,
            },
            b"\x01" * 32,
        ).raw_transaction
    )
    tx = CityTransactionBuilder.decode(raw)
    tx.check_signature_validity()
    assert deepcopy(tx) is tx


def test_an_out_of_range_y_parity_is_a_validation_error() -> None:
    raw = with_signature(y_parity=2, r=1, s=1)
    tx = CityTransactionBuilder.decode(raw)
    with pytest.raises(ValidationError, match="invalid signature"):
        tx.check_signature_validity()


def integer_item(value: int, padded: bool) -> bytes:
    minimal = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return b"\x00" + minimal if padded else minimal


# A well-formed dynamic-fee payload item by item, and at most one defect put into it.
payload_items = st.tuples(
    *[st.builds(integer_item, st.integers(0, 2**64), st.just(False))] * 5,
    st.sampled_from([b"", b"\x11" * 20]),
    st.builds(integer_item, st.integers(0, 2**64), st.just(False)),
    st.binary(max_size=40),
    st.just([]),
    *[st.builds(integer_item, st.integers(0, 2**256), st.just(False))] * 3,
).map(list)
defects = st.one_of(
    st.just(None),
    st.sampled_from(["padded", "short to", "long to", "list as data", "access list"]),
    st.sampled_from(["junk access list", "bytes as access list", "one item fewer", "one more"]),
    st.just("a byte in long form"),  # 0x05 as 0x81 0x05: RLP that is not canonical
    st.tuples(st.integers(0, 400), st.integers(0, 255)),  # one byte replaced
    st.integers(0, 400),  # cut short there
    st.binary(min_size=1, max_size=3),  # trailing bytes
)


def with_defect(items: list[object], defect: object, index: int) -> bytes:
    items = list(items)
    if defect == "padded":
        integer_fields = [0, 1, 2, 3, 4, 6, 9, 10, 11]
        field = integer_fields[index % len(integer_fields)]
        items[field] = b"\x00" + items[field]  # type: ignore[operator]
    elif defect in ("short to", "long to"):
        items[5] = b"\x11" * (19 if defect == "short to" else 21)
    elif defect == "list as data":
        items[7] = [b"\x01"]
    elif defect == "access list":  # well formed: py-evm decodes it, the fast path declines
        items[8] = [[b"\x22" * 20, [b"\x33" * 32]]]
    elif defect == "junk access list":
        items[8] = [b"\x01"]
    elif defect == "bytes as access list":
        items[8] = b""
    elif defect == "one item fewer":
        items = items[:-1]
    elif defect == "one more":
        items.append(b"\x01")
    raw = bytearray(b"\x02" + encode_items(items))
    if defect == "a byte in long form":
        body = b"".join(
            b"\x81\x05" if i == 7 else encode_items(item) for i, item in enumerate(items)
        )
        header = bytes([0xC0 + len(body)]) if len(body) < 56 else bytes([0xF8, len(body)])
        raw = bytearray(b"\x02" + header + body)
    if isinstance(defect, tuple):
        raw[defect[0] % len(raw)] = defect[1]
    elif isinstance(defect, int):
        raw = raw[: defect % len(raw)]
    elif isinstance(defect, bytes):
        raw += defect
    return bytes(raw)


def decoded_or_error(builder: type[CancunTransactionBuilder], raw: bytes) -> object:
    try:
        transaction = builder.decode(raw)
    except Exception:  # pyrlp and py-evm raise their own kinds; the node's depth scan runs first
        return "refused"
    inner = transaction._inner  # type: ignore[attr-defined]
    if b"\x02" + rlp.encode(type(inner)(*inner)) != raw:
        # py-evm lets a partial item past the last field through (it keeps the bytes it was
        # given); the node refuses that as malformed RLP. Only canonical input is compared.
        return "refused"
    return (type(inner), [(type(v), v) for v in inner], transaction.encode(), transaction.hash)


@settings(max_examples=300, deadline=None)
@given(items=payload_items, defect=defects, index=st.integers(0, 8))
@example(  # a trailing 0x81 inside the list: py-evm keeps it, the node refuses it
    items=[
        *(b"\x80", b"\x80", b"\x01\x00", b"\x01\x00", b"\x01\x00\x00", b"", b"\x01\x00\x00"),
        *(b"\x00" * 4, [], b"\x01" + b"\x00" * 4, b"\x01" + b"\x00" * 4, b"\x81"),
    ],
    defect=(244, 1),
    index=0,
)
def test_a_dynamic_fee_transaction_decodes_as_py_evm_decodes_it_or_not_at_all(
    items: list[object], defect: object, index: int
) -> None:
    # The node decodes plain EIP-1559 transactions without py-evm's sedes; whatever the bytes,
    # it must accept exactly what py-evm accepts, as the same fields, and refuse the rest.
    raw = with_defect(items, defect, index)
    ours = decoded_or_error(CityTransactionBuilder, raw)
    reference = decoded_or_error(CancunTransactionBuilder, raw)
    event("refused" if isinstance(reference, str) else "decoded")
    assert ours == reference


def test_signed_dynamic_fee_transactions_take_the_fast_path_with_py_evms_fields() -> None:
    key = b"\x07" * 32
    for shape in ({"to": "0x" + "11" * 20, "data": b"\x01\x02"}, {"data": b"\x60\x00"}):
        tx = {"nonce": 3, "gas": 90_000, "maxFeePerGas": 5, "maxPriorityFeePerGas": 1}
        raw = bytes(Account.sign_transaction(tx | shape | {"chainId": 4242}, key).raw_transaction)
        assert _plain_dynamic_fee_payload(raw) is not None
        ours = decoded_or_error(CityTransactionBuilder, raw)
        assert ours == decoded_or_error(CancunTransactionBuilder, raw)
        assert (
            CityTransactionBuilder.decode(raw).sender == CancunTransactionBuilder.decode(raw).sender
        )
