"""Member cities, their agencies and governance votes (Consortium)."""

from __future__ import annotations

from eth_typing import ChecksumAddress
from eth_utils import keccak, to_checksum_address
from web3.types import BlockIdentifier

from cityledger.contracts.deployment import text32
from cityledger.sdk.chain import Chain
from cityledger.sdk.models import (
    Agency,
    City,
    CityId,
    CityStatus,
    Proposal,
    hex32,
    label,
    raw32,
    utc,
)
from cityledger.sdk.receipts import emitted, emitted_once

PROPOSAL_STATUSES = ("none", "open", "executed", "expired")
PROPOSAL_KINDS = (
    "AdmitCity",
    "RemoveCity",
    "ChangeValidator",
    "ChangeAdmin",
    "SetRule",
    "SetAuditor",
)


def city_id(name_or_id: str) -> CityId:
    """A city's id: 0x-hex ids pass through, names are hashed as the Consortium does."""
    if name_or_id.startswith("0x") and len(name_or_id) == 66:
        return CityId(hex32(name_or_id))
    return CityId(hex32(keccak(text=name_or_id)))


class ConsortiumClient:
    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.contract = chain.contract("Consortium")

    # ------------------------------------------------------------------ reads

    def city(self, name_or_id: str) -> City:
        cid = city_id(name_or_id)
        city = self.chain.call_named(self.contract.functions.getCity(raw32(cid)))
        return City(
            id=cid,
            name=str(city["name"]),
            admin=to_checksum_address(city["admin"]),
            validator=to_checksum_address(city["validator"]),
            region=label(bytes(city["region"])),
            status=CityStatus(int(city["status"])),
            admitted_at=utc(int(city["admittedAt"])),
        )

    def cities(self, *, include_removed: bool = False) -> list[City]:
        fn = (
            self.contract.functions.allCities()
            if include_removed
            else self.contract.functions.memberCities()
        )
        return [self.city(hex32(bytes(c))) for c in self.chain.call(fn)]

    def agency(self, address: str) -> Agency:
        checksummed = to_checksum_address(address)
        agency = self.chain.call_named(self.contract.functions.getAgency(checksummed))
        return Agency(
            address=checksummed,
            city_id=CityId(hex32(bytes(agency["cityId"]))),
            name=str(agency["name"]),
            roles=int(agency["roles"]),
            active=bool(agency["active"]),
        )

    def agencies(self, city: str) -> list[Agency]:
        addresses = self.chain.call(self.contract.functions.agenciesOf(raw32(city_id(city))))
        return [self.agency(a) for a in addresses]

    def has_role(self, agency: str, role: int, block: BlockIdentifier = "latest") -> bool:
        """Consortium.hasRole: an active agency of a member city holding every bit of `role`."""
        fn = self.contract.functions.hasRole(to_checksum_address(agency), role)
        return bool(self.chain.call(fn, block))

    def validators(self, block: BlockIdentifier = "latest") -> list[ChecksumAddress]:
        """The validator set Consortium reports at `block` (the node uses the parent block's)."""
        return [
            to_checksum_address(v)
            for v in self.chain.call(self.contract.functions.getValidators(), block)
        ]

    def proposal(self, proposal_id: int) -> Proposal:
        answer = self.chain.call_named(self.contract.functions.getProposal(proposal_id))
        proposal = answer["proposal"]
        return Proposal(
            id=proposal_id,
            kind=PROPOSAL_KINDS[int(proposal["kind"])],
            city_id=CityId(hex32(bytes(proposal["cityId"]))),
            name=str(proposal["name"]),
            deadline=utc(int(proposal["deadline"])),
            status=PROPOSAL_STATUSES[int(answer["status"])],
            votes=int(answer["votes"]),
            needed=int(answer["needed"]),
        )

    def proposals(self, *, offset: int = 0, limit: int | None = None) -> list[Proposal]:
        """Proposals in the order they were made, from the `offset`-th, at most `limit`."""
        count = int(self.chain.call(self.contract.functions.proposalCount()))
        last = count if limit is None else min(count, offset + limit)
        return [self.proposal(i) for i in range(offset + 1, last + 1)]

    # ------------------------------------------------------------------ city admins

    def register_agency(self, address: str, name: str, roles: int) -> Agency:
        """A city admin registers an agency of its own city (AUDITOR only by vote)."""
        self.chain.transact(
            self.contract.functions.registerAgency(to_checksum_address(address), name, roles)
        )
        return self.agency(address)

    def propose_admit(self, name: str, admin: str, validator: str, region: str) -> int:
        receipt = self.chain.transact(
            self.contract.functions.proposeAdmitCity(
                name, to_checksum_address(admin), to_checksum_address(validator), text32(region)
            )
        )
        return int(emitted_once(self.chain, receipt, "Consortium", "ProposalCreated")["proposalId"])

    def propose_remove(self, city: str) -> int:
        receipt = self.chain.transact(
            self.contract.functions.proposeRemoveCity(raw32(city_id(city)))
        )
        return int(emitted_once(self.chain, receipt, "Consortium", "ProposalCreated")["proposalId"])

    def vote(self, proposal_id: int) -> bool:
        """Votes for a proposal; True when this vote executed it."""
        receipt = self.chain.transact(self.contract.functions.vote(proposal_id))
        return bool(emitted(self.chain, receipt, "Consortium", "ProposalExecuted"))
