"""Decoding submitted transactions: a signature checked once per object, and the common
EIP-1559 form decoded without py-evm's sedes."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import coincurve
import rlp
from eth.abc import (
    SignedTransactionAPI,
)
from eth.vm.forks.cancun.transactions import (
    CancunLegacyTransaction,
    CancunTransactionBuilder,
    CancunTypedTransaction,
)
from eth.vm.forks.london.constants import DYNAMIC_FEE_TRANSACTION_TYPE
from eth.vm.forks.london.transactions import DynamicFeeTransaction
from eth_typing import Address, Hash32
from eth_utils import ValidationError, int_to_big_endian, keccak

from cityledger.node.consensus.signing import SECP256K1_N, address_of
from cityledger.node.decoding import check_rlp_depth
from cityledger.node.execution.raw_rlp import decode_items, encode_items

# A typed transaction's storage keys sit four lists down: payload, access list, entry, keys.
TRANSACTION_RLP_DEPTH = 4


class _VerifiedOnce(SignedTransactionAPI):
    """Checks the signature and recovers the signer once per decoded transaction: py-evm asks
    again while admitting, building and re-executing it, and each answer costs elliptic-curve
    work. A node keeps the objects its pool decoded, so a validator checks a transaction once."""

    @cached_property
    def _sender(self) -> Address:
        # py-evm's rules (y parity 0 or 1, r and s below the curve order) and its recovery over
        # the signing message, straight through coincurve: eth-keys' signature and key objects
        # and its backend lookup cost more than the curve arithmetic. Property-tested against
        # py-evm's own path (tests/node/test_transaction_sender.py).
        y_parity, r, s = self.y_parity, self.r, self.s
        if y_parity not in (0, 1) or not (0 <= r < SECP256K1_N and 0 <= s < SECP256K1_N):
            raise ValidationError(f"signature values out of range (y parity {y_parity})")
        public_key = coincurve.PublicKey.from_signature_and_message(
            r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([y_parity]),
            keccak(self.get_message_for_signing()),
            hasher=None,
        )
        return Address(address_of(public_key))

    @cached_property
    def _signature_valid(self) -> bool:
        # Recovering the signer is the check: py-evm's recovers and then verifies against the
        # key it recovered, which cannot fail, at twice the cost. Raises (and is asked again).
        try:
            self._sender  # noqa: B018
        except Exception as exc:  # eth-keys raises several kinds for malformed signatures
            raise ValidationError(f"invalid signature: {exc}") from None
        return True

    # The bytes this transaction was decoded from, if it was: RLP decoding is strict, so they
    # are its canonical encoding. Its hash, its signing message and its leaf in a block's
    # transaction trie derive from them instead of re-encoding the fields each time.
    _encoding: bytes | None = None

    def encode(self) -> bytes:
        if self._encoding is None:
            self._encoding = super().encode()  # type: ignore[safe-super]
        return self._encoding

    @cached_property
    def _hash(self) -> Hash32:
        return Hash32(keccak(self.encode()))

    @property
    def hash(self) -> Hash32:
        return self._hash

    def get_sender(self) -> Address:
        return self._sender

    def check_signature_validity(self) -> None:
        self._signature_valid  # noqa: B018

    def __deepcopy__(self, memo: dict[int, object]) -> _VerifiedOnce:
        # Transactions are immutable; py-evm's block.copy(...) deep-copies every one of them
        # twice per block it builds, and a copy would also lose the checked signature.
        return self


class _VerifiedOnceTypedTransaction(_VerifiedOnce, CancunTypedTransaction):
    def get_message_for_signing(self) -> bytes:
        # Every typed payload ends with y parity, r and s; the signed message is the type byte
        # and the payload without them (EIP-2718 and each type's EIP).
        encoding = self.encode()
        return encoding[:1] + encode_items(decode_items(encoding[1:])[:-3])


class _VerifiedOnceLegacyTransaction(_VerifiedOnce, CancunLegacyTransaction):
    def get_message_for_signing(self) -> bytes:
        # py-evm's own rule (EIP-155: chain id, 0, 0 in place of v, r, s), from the cached
        # encoding rather than a fresh one.
        parts: list[bytes] = decode_items(self.encode())[:-3]
        if self.chain_id is not None:
            parts += [int_to_big_endian(self.chain_id), b"", b""]
        return encode_items(parts)


class CityTransactionBuilder(CancunTransactionBuilder):
    """Decodes submitted transactions (blocks read back from disk use py-evm's own classes)."""

    legacy_signed = _VerifiedOnceLegacyTransaction
    typed_transaction = _VerifiedOnceTypedTransaction

    @classmethod
    def decode(cls, encoded: bytes) -> SignedTransactionAPI:
        encoded = bytes(encoded)
        # py-evm's sedes and rusty-rlp decode recursively: bound the nesting first. Malformed
        # RLP is refused as pyrlp refuses it.
        try:
            check_rlp_depth(
                encoded[1:] if encoded[:1] < b"\x80" else encoded, TRANSACTION_RLP_DEPTH
            )
        except ValueError as exc:
            raise rlp.DecodingError(f"not RLP: {exc}", encoded) from None
        inner = _plain_dynamic_fee_payload(encoded)
        transaction = (
            super().decode(encoded)
            if inner is None
            else cls.typed_transaction(DYNAMIC_FEE_TRANSACTION_TYPE, inner)
        )
        if isinstance(transaction, _VerifiedOnce):
            transaction._encoding = encoded
        return transaction


_DYNAMIC_FEE_FIELDS = 12
_ACCESS_LIST, _TO = 8, 5
_INTEGER_FIELDS = (0, 1, 2, 3, 4, 6, 9, 10, 11)


def _plain_dynamic_fee_payload(encoded: bytes) -> DynamicFeeTransaction | None:
    """The common transaction (EIP-1559, no access list) decoded without py-evm's sedes, which
    cost about 45 us of the 140 us a node spends admitting one; None for anything else, which
    py-evm then decodes, or refuses with its own message. Only a canonical encoding with the
    fields py-evm's sedes accept passes (tests/node/test_transaction_sender.py compares both
    decoders on valid and mangled bytes; rusty-rlp's strict mode refuses non-canonical RLP)."""
    if encoded[:1] != bytes([DYNAMIC_FEE_TRANSACTION_TYPE]):
        return None
    payload = encoded[1:]
    try:
        items = decode_items(payload)
    except rlp.DecodingError:
        return None
    if not isinstance(items, list) or len(items) != _DYNAMIC_FEE_FIELDS:
        return None
    if items[_ACCESS_LIST] != []:
        return None
    fields: list[Any] = []
    for index, item in enumerate(items):
        if index == _ACCESS_LIST:
            fields.append(())
            continue
        if not isinstance(item, bytes):
            return None
        if index in _INTEGER_FIELDS:
            if item[:1] == b"\x00":
                return None  # not the minimal big-endian form pyrlp requires
            fields.append(int.from_bytes(item, "big"))
        elif index == _TO and len(item) not in (0, 20):
            return None
        else:
            fields.append(item)
    return DynamicFeeTransaction(*fields)
