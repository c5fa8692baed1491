"""The node recovers a transaction's sender itself; py-evm's own path is the reference."""

from __future__ import annotations

import pytest
from eth.vm.forks.cancun.transactions import CancunTransactionBuilder
from eth_account import Account
from eth_keys import keys as keys_api
from eth_utils import ValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from cityledger.node.chain import CityTransactionBuilder
from cityledger.node.consensus.signing import SECP256K1_N

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
        to=b"\x11" * 20,
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
        nonce=3, gas_price=1, gas=21_000, to=b"\x11" * 20, value=5, data=b"\x01"
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
