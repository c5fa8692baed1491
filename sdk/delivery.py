"""What a grantee and a dataset's gateway exchange for one delivery: the request the grantee
signs, and the receipt the gateway signs, as wire models (pydantic: the gateway validates hostile
input with them, the SDK builds and checks with the same ones) and as EIP-712 typed data.

Both are signed under the DataGrants domain of the chain (name "cityledger DataGrants", version
"1", the chain id, the DataGrants address), so a request is bound to one chain and deployment;
it also names the gateway it is for, so no other gateway accepts it.

    DeliveryRequest(bytes32 grantId,address gateway,string[] fields,Condition[] filter,
                    string format,bool sealed,bytes32 nonce,uint64 expiry)
    Condition(string column,string op,string[] values)
    DeliveryReceipt(bytes32 grantId,bytes32 requestHash,address gateway,uint32 accessNumber,
                    uint256 deliveryIndex,uint64 rows,bytes32 contentHash,bytes32 commitment,
                    uint64 checkedAtBlock,uint64 recordedAtBlock,bytes32 recordTx)

The request's EIP-712 digest is its `requestHash`: what AccessLog records as the query hash of
the delivery, and what the receipt names.
"""

from __future__ import annotations

import base64
import re
import secrets
import time
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from eth_keys import keys
from eth_keys.constants import SECPK1_N
from eth_keys.datatypes import PublicKey
from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from cityledger.sdk.errors import LedgerError
from cityledger.sdk.offers import Domain, digest
from cityledger.sdk.signers import Signer

FORMATS = ("csv", "parquet", "jsonl")
Format = Literal["csv", "parquet", "jsonl"]
# Filter operators, each with the symbol `Condition.parse` reads and `str(condition)` prints.
Operator = Literal["eq", "ne", "lt", "le", "gt", "ge", "in"]
OPERATORS: dict[Operator, str] = {
    "eq": "=",
    "ne": "!=",
    "lt": "<",
    "le": "<=",
    "gt": ">",
    "ge": ">=",
    "in": "in",
}
MAX_FIELDS = 256  # DataGrants.MAX_FIELDS
MAX_NAME_LENGTH = 64  # a schema's column names (cityledger.sdk.schema)
MAX_CONDITIONS = 16
MAX_VALUES = 256
MAX_VALUE_LENGTH = 256
DEFAULT_TTL_SECONDS = 120
RECEIPT_HEADER = "Cityledger-Receipt"

Hex32Text = Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{64}$")]
AddressText = Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{40}$")]
SignatureText = Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{130}$")]
ColumnName = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME_LENGTH)]
Value = Annotated[str, StringConstraints(max_length=MAX_VALUE_LENGTH)]
Uint32 = Annotated[int, Field(ge=0, lt=1 << 32)]
Uint64 = Annotated[int, Field(ge=0, lt=1 << 64)]

_DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
_REQUEST_TYPES = {
    "DeliveryRequest": [
        {"name": "grantId", "type": "bytes32"},
        {"name": "gateway", "type": "address"},
        {"name": "fields", "type": "string[]"},
        {"name": "filter", "type": "Condition[]"},
        {"name": "format", "type": "string"},
        {"name": "sealed", "type": "bool"},
        {"name": "nonce", "type": "bytes32"},
        {"name": "expiry", "type": "uint64"},
    ],
    "Condition": [
        {"name": "column", "type": "string"},
        {"name": "op", "type": "string"},
        {"name": "values", "type": "string[]"},
    ],
}
_RECEIPT_TYPES = {
    "DeliveryReceipt": [
        {"name": "grantId", "type": "bytes32"},
        {"name": "requestHash", "type": "bytes32"},
        {"name": "gateway", "type": "address"},
        {"name": "accessNumber", "type": "uint32"},
        {"name": "deliveryIndex", "type": "uint256"},
        {"name": "rows", "type": "uint64"},
        {"name": "contentHash", "type": "bytes32"},
        {"name": "commitment", "type": "bytes32"},
        {"name": "checkedAtBlock", "type": "uint64"},
        {"name": "recordedAtBlock", "type": "uint64"},
        {"name": "recordTx", "type": "bytes32"},
    ]
}


class DeliveryError(LedgerError, ValueError):
    """A request or receipt that is malformed, or a delivery that does not match its receipt."""


class _Wire(BaseModel):
    """camelCase on the wire, immutable, no unknown keys."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )


def _raw(hex_text: str) -> bytes:
    return bytes.fromhex(hex_text[2:])


def _typed(domain: Domain, primary: str, types: dict[str, Any], message: dict[str, Any]) -> Any:
    return encode_typed_data(
        full_message={
            "types": {"EIP712Domain": _DOMAIN_FIELDS, **types},
            "primaryType": primary,
            "domain": domain.as_json(),
            "message": message,
        }
    )


class Condition(_Wire):
    """`column op value` (or `column in v1, v2, ...`), compared as the column's type: the
    gateway binds the value as a parameter and casts it to the column's type; it is never SQL."""

    column: ColumnName
    op: Operator
    values: tuple[Value, ...] = Field(min_length=1, max_length=MAX_VALUES)

    @model_validator(mode="after")
    def _one_value_unless_in(self) -> Condition:
        if self.op != "in" and len(self.values) != 1:
            raise ValueError(f"operator {self.op!r} takes exactly one value")
        return self

    @classmethod
    def parse(cls, text: str) -> Condition:
        """'test_result = positive', 'visit_time >= 2026-11-01T00:00:00',
        'cell_id in 7, 9, 12' (values trimmed; no quoting)."""
        match = re.fullmatch(r"\s*(.+?)\s*(<=|>=|!=|=|<|>|\s+in\s+)\s*(.*?)\s*", text)
        if match is None:
            symbols = ", ".join(OPERATORS.values())
            raise DeliveryError(f"{text!r}: expected 'COLUMN OP VALUE' with OP one of {symbols}")
        column, symbol, value = match.group(1), match.group(2).strip(), match.group(3)
        op = next(name for name, sym in OPERATORS.items() if sym == symbol)
        values = tuple(v.strip() for v in value.split(",")) if op == "in" else (value,)
        try:
            return cls(column=column, op=op, values=values)
        except ValidationError as exc:
            raise DeliveryError(f"{text!r}: {exc.errors()[0]['msg']}") from None

    def __str__(self) -> str:
        return f"{self.column} {OPERATORS[self.op]} {', '.join(self.values)}"


class DeliveryRequest(_Wire):
    grant_id: Hex32Text
    gateway: AddressText
    # Empty: every field the grant allows.
    fields: tuple[ColumnName, ...] = Field(default=(), max_length=MAX_FIELDS)
    filter: tuple[Condition, ...] = Field(default=(), max_length=MAX_CONDITIONS)
    format: Format = "csv"
    sealed: bool = False
    nonce: Hex32Text
    expiry: Uint64

    @field_validator("fields")
    @classmethod
    def _distinct(cls, fields: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(fields)) != len(fields):
            raise ValueError("a field is named twice")
        return fields

    @classmethod
    def create(
        cls,
        grant_id: str,
        gateway: str,
        fields: Sequence[str] = (),
        *,
        filter: Sequence[Condition] = (),
        format: Format = "csv",
        sealed: bool = False,
        ttl: int = DEFAULT_TTL_SECONDS,
    ) -> DeliveryRequest:
        """A fresh request: a random nonce, valid for `ttl` seconds from now."""
        return cls(
            grant_id=grant_id.lower(),
            gateway=to_checksum_address(gateway),
            fields=tuple(fields),
            filter=tuple(filter),
            format=format,
            sealed=sealed,
            nonce="0x" + secrets.token_hex(32),
            expiry=int(time.time()) + ttl,
        )

    def message(self) -> dict[str, Any]:
        return {
            "grantId": _raw(self.grant_id),
            "gateway": to_checksum_address(self.gateway),
            "fields": list(self.fields),
            "filter": [
                {"column": c.column, "op": c.op, "values": list(c.values)} for c in self.filter
            ],
            "format": self.format,
            "sealed": self.sealed,
            "nonce": _raw(self.nonce),
            "expiry": self.expiry,
        }

    def signable(self, domain: Domain) -> SignableMessage:
        return _typed(domain, "DeliveryRequest", _REQUEST_TYPES, self.message())  # type: ignore[no-any-return]

    def request_hash(self, domain: Domain) -> str:
        """The EIP-712 digest: what the grantee signs and AccessLog records."""
        return "0x" + digest(self.signable(domain)).hex()


class SignedRequest(_Wire):
    """The body of POST /v1/grants/{grantId}/deliveries."""

    request: DeliveryRequest
    signature: SignatureText


def sign_request(signer: Signer, domain: Domain, request: DeliveryRequest) -> SignedRequest:
    signature = signer.sign_message(request.signable(domain))
    return SignedRequest(request=request, signature="0x" + signature.hex())


def recover_requester(domain: Domain, signed: SignedRequest) -> PublicKey:
    """The public key that signed the request (its address is `.to_checksum_address()`): the
    gateway checks it is the grantee's, and seals a delivery to it. Refuses high-s signatures
    and v outside {27, 28}, as DataGrants does."""
    raw = _raw(signed.signature)
    r, s, v = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big"), raw[64]
    if v not in (27, 28) or not 0 < s <= SECPK1_N // 2 or not 0 < r < SECPK1_N:
        raise DeliveryError("the signature is not a canonical 65-byte r || s || v (v 27 or 28)")
    try:
        signature = keys.Signature(vrs=(v - 27, r, s))
        return signature.recover_public_key_from_msg_hash(_raw(signed.request.request_hash(domain)))
    except Exception as exc:  # eth-keys raises several types for unrecoverable signatures
        raise DeliveryError(f"the signature recovers no key: {exc}") from None


class DeliveryReceipt(_Wire):
    """What the gateway signs once the delivery is recorded on chain, before the data leaves."""

    grant_id: Hex32Text
    request_hash: Hex32Text
    gateway: AddressText
    access_number: Uint32  # the delivery's access number in the grant (AccessRecorded)
    delivery_index: Annotated[int, Field(ge=0)]  # its index in LeakRegistry.deliveriesOf
    rows: Uint64
    content_hash: Hex32Text  # SHA-256 of the delivered file (before sealing)
    commitment: Hex32Text  # the fingerprint commitment registered on chain
    checked_at_block: Uint64  # the grant was checked at this (final) block
    recorded_at_block: Uint64  # the record is in this block
    record_tx: Hex32Text
    format: Format
    sealed: bool
    method: Annotated[str, StringConstraints(max_length=32)]  # the marking method's label

    def message(self) -> dict[str, Any]:
        return {
            "grantId": _raw(self.grant_id),
            "requestHash": _raw(self.request_hash),
            "gateway": to_checksum_address(self.gateway),
            "accessNumber": self.access_number,
            "deliveryIndex": self.delivery_index,
            "rows": self.rows,
            "contentHash": _raw(self.content_hash),
            "commitment": _raw(self.commitment),
            "checkedAtBlock": self.checked_at_block,
            "recordedAtBlock": self.recorded_at_block,
            "recordTx": _raw(self.record_tx),
        }

    def signable(self, domain: Domain) -> SignableMessage:
        return _typed(domain, "DeliveryReceipt", _RECEIPT_TYPES, self.message())  # type: ignore[no-any-return]


class SignedReceipt(_Wire):
    receipt: DeliveryReceipt
    signature: SignatureText

    def header(self) -> str:
        """The receipt as the value of the Cityledger-Receipt response header."""
        return base64.urlsafe_b64encode(self.model_dump_json(by_alias=True).encode()).decode()

    @classmethod
    def from_header(cls, value: str) -> SignedReceipt:
        if len(value) > 8192:
            raise DeliveryError("the receipt header is too long")
        try:
            return cls.model_validate_json(base64.urlsafe_b64decode(value.encode()))
        except (ValueError, ValidationError) as exc:
            raise DeliveryError(f"unreadable delivery receipt: {exc}") from None

    def signer(self, domain: Domain) -> ChecksumAddress:
        try:
            return to_checksum_address(
                Account.recover_message(
                    self.receipt.signable(domain), signature=_raw(self.signature)
                )
            )
        except Exception as exc:  # eth-account raises several types for bad signatures
            raise DeliveryError(f"the receipt's signature recovers no key: {exc}") from None


def sign_receipt(signer: Signer, domain: Domain, receipt: DeliveryReceipt) -> SignedReceipt:
    signature = signer.sign_message(receipt.signable(domain))
    return SignedReceipt(receipt=receipt, signature="0x" + signature.hex())
