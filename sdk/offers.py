"""Grant offers and acceptances as EIP-712 typed data, and the offer file that carries them
between agencies.

The grantor signs the offer (its digest is the grant id), the grantee signs
GrantAcceptance(grantId); either can happen offline. An offer file holds the offer, the
domain (chain id and DataGrants address) and whichever signatures exist; reading one checks
every signature it holds, so a file altered in transit is refused before anything is sent.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from eth_utils import keccak, to_checksum_address

from cityledger.sdk.errors import LedgerInputError
from cityledger.sdk.json_files import read_json_object
from cityledger.sdk.models import hex32
from cityledger.sdk.signers import Signer

DOMAIN_NAME = "cityledger DataGrants"
DOMAIN_VERSION = "1"
OFFER_FILE_KIND = "cityledger.grant-offer"
OFFER_FILE_VERSION = 1

_DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
_OFFER_FIELDS = [
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
_ACCEPTANCE_FIELDS = [{"name": "grantId", "type": "bytes32"}]


class OfferError(LedgerInputError):
    """An offer or offer file that is malformed or whose signatures do not check out."""


@dataclass(frozen=True)
class Domain:
    """The EIP-712 domain of one DataGrants deployment."""

    chain_id: int
    verifying_contract: str

    def as_json(self) -> dict[str, Any]:
        return {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": self.chain_id,
            "verifyingContract": to_checksum_address(self.verifying_contract),
        }


@dataclass(frozen=True)
class GrantOffer:
    """What the grantor signs (DataGrants.GrantOffer). Hashes and ids are 0x-hex bytes32."""

    dataset_id: str
    grantor: str
    grantee: str
    purpose_code: str
    purpose_hash: str
    field_scope: int
    valid_from: int
    valid_until: int
    access_quota: int
    conditions_hash: str
    salt: str

    @classmethod
    def create(
        cls,
        *,
        dataset_id: str,
        grantor: str,
        grantee: str,
        purpose: str,
        purpose_text: str,
        fields: int,
        valid_from: datetime,
        valid_until: datetime,
        access_quota: int,
        conditions: str = "",
    ) -> GrantOffer:
        """An offer from human terms: `purpose` is a short code (at most 32 ASCII bytes), the
        purpose and conditions texts are hashed (they stay off chain), `fields` is the bit mask
        of the dataset's fields, and a fresh random salt makes the offer unique."""
        return cls(
            dataset_id=hex32(dataset_id),
            grantor=to_checksum_address(grantor),
            grantee=to_checksum_address(grantee),
            purpose_code=hex32(purpose.encode("ascii").ljust(32, b"\0")),
            purpose_hash=hex32(keccak(text=purpose_text)),
            field_scope=fields,
            valid_from=int(valid_from.timestamp()),
            valid_until=int(valid_until.timestamp()),
            access_quota=access_quota,
            conditions_hash=hex32(keccak(text=conditions)) if conditions else hex32(bytes(32)),
            salt=hex32(secrets.token_bytes(32)),
        )

    def message(self) -> dict[str, Any]:
        """The EIP-712 message (Solidity field names)."""
        return {
            "datasetId": bytes.fromhex(self.dataset_id[2:]),
            "grantor": to_checksum_address(self.grantor),
            "grantee": to_checksum_address(self.grantee),
            "purposeCode": bytes.fromhex(self.purpose_code[2:]),
            "purposeHash": bytes.fromhex(self.purpose_hash[2:]),
            "fieldScope": self.field_scope,
            "validFrom": self.valid_from,
            "validUntil": self.valid_until,
            "accessQuota": self.access_quota,
            "conditionsHash": bytes.fromhex(self.conditions_hash[2:]),
            "salt": bytes.fromhex(self.salt[2:]),
        }

    def as_tuple(self) -> tuple[Any, ...]:
        """The ABI tuple for DataGrants.offerGrant / submitGrant."""
        return tuple(self.message().values())

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GrantOffer:
        try:
            return cls(
                dataset_id=hex32(str(data["dataset_id"])),
                grantor=to_checksum_address(str(data["grantor"])),
                grantee=to_checksum_address(str(data["grantee"])),
                purpose_code=hex32(str(data["purpose_code"])),
                purpose_hash=hex32(str(data["purpose_hash"])),
                field_scope=int(data["field_scope"]),
                valid_from=int(data["valid_from"]),
                valid_until=int(data["valid_until"]),
                access_quota=int(data["access_quota"]),
                conditions_hash=hex32(str(data["conditions_hash"])),
                salt=hex32(str(data["salt"])),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise OfferError(f"malformed grant offer: {exc!r}") from None


def _typed(
    domain: Domain, primary: str, fields: list[dict[str, str]], message: dict[str, Any]
) -> SignableMessage:
    return encode_typed_data(
        full_message={
            "types": {"EIP712Domain": _DOMAIN_FIELDS, primary: fields},
            "primaryType": primary,
            "domain": domain.as_json(),
            "message": message,
        }
    )


def offer_message(domain: Domain, offer: GrantOffer) -> SignableMessage:
    return _typed(domain, "GrantOffer", _OFFER_FIELDS, offer.message())


def acceptance_message(domain: Domain, grant_id: str) -> SignableMessage:
    return _typed(
        domain, "GrantAcceptance", _ACCEPTANCE_FIELDS, {"grantId": bytes.fromhex(grant_id[2:])}
    )


def digest(message: SignableMessage) -> bytes:
    """keccak256(0x19 || 0x01 || domainSeparator || structHash): what DataGrants hashes."""
    return keccak(b"\x19" + message.version + message.header + message.body)


def grant_id(domain: Domain, offer: GrantOffer) -> str:
    """The id DataGrants will give the grant: the offer's EIP-712 digest."""
    return hex32(digest(offer_message(domain, offer)))


def recover(message: SignableMessage, signature: str) -> str:
    try:
        return str(Account.recover_message(message, signature=bytes.fromhex(signature[2:])))
    except Exception as exc:  # eth-account raises several types for malformed signatures
        raise OfferError(f"unreadable signature: {exc}") from None


@dataclass(frozen=True)
class OfferFile:
    """A signed offer on its way between agencies: grantor's signature, and the grantee's once
    it countersigned."""

    domain: Domain
    offer: GrantOffer
    grantor_signature: str
    grantee_signature: str | None = None

    @property
    def grant_id(self) -> str:
        return grant_id(self.domain, self.offer)

    def verify(self) -> None:
        """Raises OfferError unless every signature present is the right party's over exactly
        these terms."""
        signer = recover(offer_message(self.domain, self.offer), self.grantor_signature)
        if signer != self.offer.grantor:
            raise OfferError(
                f"the offer signature is by {signer}, not the grantor {self.offer.grantor}: "
                "the file was altered or signed with the wrong key"
            )
        if self.grantee_signature is not None:
            signer = recover(acceptance_message(self.domain, self.grant_id), self.grantee_signature)
            if signer != self.offer.grantee:
                raise OfferError(
                    f"the acceptance signature is by {signer}, not the grantee "
                    f"{self.offer.grantee}: the file was altered or signed with the wrong key"
                )

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": OFFER_FILE_KIND,
            "version": OFFER_FILE_VERSION,
            "domain": self.domain.as_json(),
            "grantId": self.grant_id,
            "offer": self.offer.as_json(),
            "grantorSignature": self.grantor_signature,
            "granteeSignature": self.grantee_signature,
        }

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps(self.as_json(), indent=2) + "\n")
        return path

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OfferFile:
        if data.get("kind") != OFFER_FILE_KIND or data.get("version") != OFFER_FILE_VERSION:
            raise OfferError("not a cityledger grant offer file (kind/version)")
        try:
            domain_data = data["domain"]
            if (
                domain_data.get("name") != DOMAIN_NAME
                or domain_data.get("version") != DOMAIN_VERSION
            ):
                raise OfferError("offer file for another EIP-712 domain")
            domain = Domain(
                int(domain_data["chainId"]), to_checksum_address(domain_data["verifyingContract"])
            )
            grantee_sig = data.get("granteeSignature")
            loaded = cls(
                domain,
                GrantOffer.from_json(data["offer"]),
                str(data["grantorSignature"]),
                None if grantee_sig is None else str(grantee_sig),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, OfferError):
                raise
            raise OfferError(f"malformed offer file: {exc!r}") from None
        if "grantId" in data and data["grantId"] != loaded.grant_id:
            raise OfferError("the offer file's grantId does not match its terms: it was altered")
        loaded.verify()
        return loaded

    @classmethod
    def read(cls, path: Path) -> OfferFile:
        return cls.from_json(read_json_object(path, "offer file", OfferError))


def sign_offer(signer: Signer, domain: Domain, offer: GrantOffer) -> OfferFile:
    """The grantor signs an offer (offline: no node needed)."""
    if signer.address != offer.grantor:
        raise OfferError(
            f"the offer names grantor {offer.grantor}, but the key is {signer.address}"
        )
    signed = OfferFile(
        domain, offer, "0x" + signer.sign_message(offer_message(domain, offer)).hex()
    )
    signed.verify()
    return signed


def countersign(signer: Signer, offer_file: OfferFile) -> OfferFile:
    """The grantee signs its acceptance of a verified offer (offline: no node needed)."""
    offer_file.verify()
    if signer.address != offer_file.offer.grantee:
        raise OfferError(
            f"the offer names grantee {offer_file.offer.grantee}, but the key is {signer.address}"
        )
    signature = signer.sign_message(acceptance_message(offer_file.domain, offer_file.grant_id))
    return replace(offer_file, grantee_signature="0x" + signature.hex())
