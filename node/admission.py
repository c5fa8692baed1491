"""What makes a transaction admissible on this chain.

The pool admits only such transactions, and a block that holds any other is invalid: the rules
are the same in both places, or a Byzantine proposer could slip into a block what every honest
pool refuses (an unregistered sender, another chain's transaction, an unprotected one).
Every refusal is a `TxRejected` with a sentence an operator or integrator understands.
"""

from __future__ import annotations

from typing import Protocol

from eth.abc import SignedTransactionAPI
from eth_typing import Address
from eth_utils import to_checksum_address

from cityledger.node.config import PoolLimits
from cityledger.node.consensus.signing import SECP256K1_N
from cityledger.node.execution.transactions import CityTransactionBuilder

# Blob transactions carry data the node has no use for and no sidecar handling.
BLOB_TX_TYPE = 3


class TxRejected(Exception):
    """A transaction this chain does not admit; the message says why."""


class HeadState(Protocol):
    """What admission needs from the state a transaction is checked against: the head for the
    pool, a block's parent for block validity."""

    @property
    def chain_id(self) -> int: ...

    @property
    def gas_limit(self) -> int: ...

    def nonce(self, address: Address) -> int: ...

    def balance(self, address: Address) -> int: ...

    def sender_city(self, address: Address) -> bytes | None:
        """The city an account sends for (an agency's or an admin's), b"" for a permitted
        account of no city (the genesis bootstrapper), None if it may not send at all."""
        ...


class Checksummed:
    """An address shown in EIP-55 form, computed only if it is shown (a checksum costs a
    keccak, and only refusals name the sender)."""

    def __init__(self, address: bytes) -> None:
        self._address = address

    def __str__(self) -> str:
        return to_checksum_address(self._address)


def decode_transaction(raw: bytes, limits: PoolLimits) -> SignedTransactionAPI:
    """Decodes a submitted transaction and checks its form and signature."""
    if len(raw) > limits.max_tx_bytes:
        raise TxRejected(f"transaction is {len(raw)} bytes; the limit is {limits.max_tx_bytes}")
    if raw[:1] == bytes([BLOB_TX_TYPE]):
        raise TxRejected("blob transactions (type 3) are not accepted")
    try:
        tx: SignedTransactionAPI = CityTransactionBuilder.decode(raw)
    except Exception as exc:  # pyrlp and py-evm raise several kinds for malformed bytes
        raise TxRejected(f"transaction cannot be decoded: {exc}") from None
    check_form(tx, limits)
    return tx


def check_form(tx: SignedTransactionAPI, limits: PoolLimits) -> None:
    """The rules that need no state: size, type, field ranges and the signature (low s, as
    EIP-2 requires, so a transaction has no second valid encoding)."""
    size = len(tx.encode())
    if size > limits.max_tx_bytes:
        raise TxRejected(f"transaction is {size} bytes; the limit is {limits.max_tx_bytes}")
    if getattr(tx, "type_id", None) == BLOB_TX_TYPE:
        raise TxRejected("blob transactions (type 3) are not accepted")
    try:
        tx.validate()
        if tx.s > SECP256K1_N // 2:
            raise ValueError("signature s value is not in the lower half (EIP-2)")
        tx.sender  # noqa: B018 - recovers the signer; a bad signature fails here
    except Exception as exc:  # field validation and signature recovery raise differently
        raise TxRejected(f"transaction's fields or signature are invalid: {exc}") from None


def check_against(tx: SignedTransactionAPI, head: HeadState) -> bytes:
    """The rules against a state: chain id, gas bounds and the sender's permission. Returns
    the sender's city (see `HeadState.sender_city`)."""
    chain_id = tx.chain_id
    if chain_id is None:
        raise TxRejected(
            f"transaction is not replay-protected (no chain id); sign it with chainId "
            f"{head.chain_id}"
        )
    if chain_id != head.chain_id:
        raise TxRejected(
            f"transaction is for chain id {chain_id}; this chain's id is {head.chain_id}"
        )
    if tx.gas > head.gas_limit:
        raise TxRejected(f"transaction gas {tx.gas} exceeds the block gas limit {head.gas_limit}")
    intrinsic = tx.intrinsic_gas
    if tx.gas < intrinsic:
        raise TxRejected(f"transaction gas {tx.gas} is below its intrinsic cost {intrinsic}")
    city = head.sender_city(tx.sender)
    if city is None:
        raise TxRejected(
            f"sender {Checksummed(tx.sender)} is not a registered agency or city admin of "
            "this consortium"
        )
    return city


def check_block_transaction(
    tx: SignedTransactionAPI, parent: HeadState, limits: PoolLimits
) -> None:
    """Every admission rule, for a transaction in a proposed block on `parent`."""
    check_form(tx, limits)
    check_against(tx, parent)
