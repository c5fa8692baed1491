"""Grant offers as EIP-712 typed data, signed with eth_account, and a desk that drives DataGrants
and AccessLog on the test consortium."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from chain_helpers import TestConsortium
from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils import keccak
from web3.contract import Contract
from web3.types import TxReceipt

# Re-exported: the contract tests take the grant vocabulary from here.
from cityledger.sdk.models import GrantStatus as GrantStatus
from cityledger.sdk.models import Sensitivity as Sensitivity

DOMAIN_NAME = "cityledger DataGrants"
DOMAIN_VERSION = "1"

OFFER_FIELDS = [
    {"name": "datasetId", "type": "bytes32"},
    {"name": "grantor", "type": "address"},
    {"name": "grantee", "type": "address"},
    {"name": "purposeCode", "type": "bytes32"},
    {"name": "purposeHash", "type": "bytes32"},
    {"name": "fieldScope", "type": "uint256"},
    {"name": "validFrom", "type": "uint64"},
    {"name": "validUntil", "type": "uint64"},
    {"name": "accessQuota", "type": "uint32"},
    {"name": "conditionsHash", "type": "bytes32"},
    {"name": "salt", "type": "bytes32"},
]
ACCEPTANCE_FIELDS = [{"name": "grantId", "type": "bytes32"}]
DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
# secp256k1 group order: s and n - s both verify, only the low one is canonical.
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@dataclass(frozen=True)
class Offer:
    datasetId: bytes
    grantor: ChecksumAddress
    grantee: ChecksumAddress
    purposeCode: bytes
    purposeHash: bytes
    fieldScope: int
    validFrom: int
    validUntil: int
    accessQuota: int
    conditionsHash: bytes
    salt: bytes

    def message(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def as_tuple(self) -> tuple[Any, ...]:
        return dataclasses.astuple(self)

    def replace(self, **changes: Any) -> Offer:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Domain:
    chain_id: int
    verifying_contract: ChecksumAddress

    def data(self) -> dict[str, Any]:
        return {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": self.chain_id,
            "verifyingContract": self.verifying_contract,
        }


def _typed(
    domain: Domain, primary: str, fields: list[dict[str, str]], message: dict[str, Any]
) -> SignableMessage:
    return encode_typed_data(
        full_message={
            "types": {"EIP712Domain": DOMAIN_FIELDS, primary: fields},
            "primaryType": primary,
            "domain": domain.data(),
            "message": message,
        }
    )


def digest(signable: SignableMessage) -> bytes:
    """The EIP-712 digest: keccak256(0x19 || 0x01 || domainSeparator || structHash)."""
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


def offer_message(offer: Offer, domain: Domain) -> SignableMessage:
    return _typed(domain, "GrantOffer", OFFER_FIELDS, offer.message())


def acceptance_message(grant_id: bytes, domain: Domain) -> SignableMessage:
    return _typed(domain, "GrantAcceptance", ACCEPTANCE_FIELDS, {"grantId": grant_id})


def grant_id_of(offer: Offer, domain: Domain) -> bytes:
    """The grant id, computed offline: the digest the grantor signs."""
    return digest(offer_message(offer, domain))


def sign(signable: SignableMessage, signer: LocalAccount) -> bytes:
    return bytes(Account.sign_message(signable, signer.key).signature)


def high_s_twin(signature: bytes) -> bytes:
    """The malleable twin (r, n - s, v flipped) of a valid signature: ecrecover accepts it."""
    r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
    return r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])


class GrantDesk:
    """DataGrants and AccessLog on the test consortium, with offline signing."""

    def __init__(self, consortium: TestConsortium) -> None:
        self.c = consortium
        self.grants: Contract = consortium.contracts["DataGrants"]
        self.log: Contract = consortium.contracts["AccessLog"]
        self.domain = Domain(consortium.w3.eth.chain_id, self.grants.address)
        self._salt = 0

    def agency(self, key: str) -> LocalAccount:
        return self.c.agencies[key]

    def register_dataset(
        self,
        owner: LocalAccount,
        name: str,
        field_count: int = 16,
        sensitivity: Sensitivity = Sensitivity.CONFIDENTIAL,
    ) -> bytes:
        dataset_id = keccak(text=name)
        schema_hash = keccak(text=f"schema of {name}")
        self.c.transact(
            self.grants.functions.registerDataset(
                dataset_id, name, schema_hash, sensitivity, field_count
            ),
            owner,
        )
        return dataset_id

    def make_offer(
        self,
        dataset_id: bytes,
        grantor: LocalAccount,
        grantee: LocalAccount,
        *,
        scope: int = 0b1111,
        starts_in: int = 0,
        lasts: int = 3600,
        quota: int = 5,
    ) -> Offer:
        self._salt += 1
        now = self.c.now()
        return Offer(
            datasetId=dataset_id,
            grantor=grantor.address,
            grantee=grantee.address,
            purposeCode=b"EPI-TRACE".ljust(32, b"\0"),
            purposeHash=keccak(text="epidemic contact tracing, case 2026-117"),
            fieldScope=scope,
            validFrom=now + starts_in,
            validUntil=now + starts_in + lasts,
            accessQuota=quota,
            conditionsHash=keccak(text="no onward transfer; delete after 30 days"),
            salt=self._salt.to_bytes(32, "big"),
        )

    def sign_offer(self, offer: Offer, signer: LocalAccount, domain: Domain | None = None) -> bytes:
        return sign(offer_message(offer, domain or self.domain), signer)

    def sign_acceptance(
        self, grant_id: bytes, signer: LocalAccount, domain: Domain | None = None
    ) -> bytes:
        return sign(acceptance_message(grant_id, domain or self.domain), signer)

    def grant_id(self, offer: Offer) -> bytes:
        return grant_id_of(offer, self.domain)

    def offer(
        self, offer: Offer, grantor: LocalAccount, submitter: LocalAccount
    ) -> tuple[bytes, TxReceipt]:
        receipt = self.c.transact(
            self.grants.functions.offerGrant(offer.as_tuple(), self.sign_offer(offer, grantor)),
            submitter,
        )
        return self.grant_id(offer), receipt

    def accept(self, grant_id: bytes, grantee: LocalAccount, submitter: LocalAccount) -> TxReceipt:
        return self.c.transact(
            self.grants.functions.acceptGrant(grant_id, self.sign_acceptance(grant_id, grantee)),
            submitter,
        )

    def submit(
        self, offer: Offer, grantor: LocalAccount, grantee: LocalAccount, submitter: LocalAccount
    ) -> bytes:
        grant_id = self.grant_id(offer)
        self.c.transact(
            self.grants.functions.submitGrant(
                offer.as_tuple(),
                self.sign_offer(offer, grantor),
                self.sign_acceptance(grant_id, grantee),
            ),
            submitter,
        )
        return grant_id

    def status(self, grant_id: bytes) -> GrantStatus:
        return GrantStatus(self.grants.functions.statusOf(grant_id).call())

    def record_access(
        self, grant_id: bytes, accessor: LocalAccount, fields: int = 0b1, records: int = 10
    ) -> TxReceipt:
        query_hash = keccak(text=f"query {records} {fields}")
        return self.c.transact(
            self.log.functions.recordAccess(grant_id, query_hash, records, fields), accessor
        )
