"""Member cities, their agencies and governance votes (Consortium)."""

from __future__ import annotations

from eth_typing import ChecksumAddress
from eth_utils import keccak, to_checksum_address
from web3.types import BlockIdentifier

from cityledger.contracts.deployment import text32
from cityledger.sdk.chain import Chain
from cityledger.sdk.models import Agency, City, CityStatus, Proposal, hex32, label, utc
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


def city_id(name_or_id: str) -> str:
    """A city's id: 0x-hex ids pass through, names are hashed as the Consortium does."""
    if name_or_id.startswith("0x") and len(name_or_id) == 66:
        return hex32(name_or_id)
    return hex32(keccak(text=name_or_id))


class ConsortiumClient:
    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.contract = chain.contract("Consortium")

    # ------------------------------------------------------------------ reads

    def city(self, name_or_id: str) -> City:
        cid = city_id(name_or_id)
        name, admin, validator, region, status, admitted = self.chain.call(
            self.contract.functions.getCity(bytes.fromhex(cid[2:]))
        )
        return City(
            id=cid,
            name=str(name),
            admin=to_checksum_address(admin),
            validator=to_checksum_address(validator),
            region=label(bytes(region)),
            status=CityStatus(int(status)),
            admitted_at=utc(int(admitted)),
        )

    def cities(self, *, include_removed: bool = False) -> list[City]:
        fn = (
            self.contract.functions.allCities()
            if include_removed
            else self.contract.functions.memberCities()
        )
        return [self.city(hex32(bytes(c))) for c in self.chain.call(fn)]

    def agency(self, address: str) -> Agency:
        address = to_checksum_address(address)
        cid, name, roles, active = self.chain.call(self.contract.functions.getAgency(address))
        return Agency(address, hex32(bytes(cid)), str(name), int(roles), bool(active))

    def agencies(self, city: str) -> list[Agency]:
        addresses = self.chain.call(
            self.contract.functions.agenciesOf(bytes.fromhex(city_id(city)[2:]))
        )
        return [self.agency(a) for a in addresses]

    def validators(self, block: BlockIdentifier = "latest") -> list[ChecksumAddress]:
        """The validator set Consortium reports at `block` (the node uses the parent block's)."""
        return [
            to_checksum_address(v)
            for v in self.chain.call(self.contract.functions.getValidators(), block)
        ]

    def proposal(self, proposal_id: int) -> Proposal:
        fields, status, votes, needed = self.chain.call(
            self.contract.functions.getProposal(proposal_id)
        )
        return Proposal(
            id=proposal_id,
            kind=PROPOSAL_KINDS[int(fields[0])],
            city_id=hex32(bytes(fields[1])),
            name=str(fields[7]),
            deadline=utc(int(fields[10])),
            status=PROPOSAL_STATUSES[int(status)],
            votes=int(votes),
            needed=int(needed),
        )

    def proposals(self) -> list[Proposal]:
        count = int(self.chain.call(self.contract.functions.proposalCount()))
        return [self.proposal(i) for i in range(1, count + 1)]

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
            self.contract.functions.proposeRemoveCity(bytes.fromhex(city_id(city)[2:]))
        )
        return int(emitted_once(self.chain, receipt, "Consortium", "ProposalCreated")["proposalId"])

    def vote(self, proposal_id: int) -> bool:
        """Votes for a proposal; True when this vote executed it."""
        receipt = self.chain.transact(self.contract.functions.vote(proposal_id))
        return bool(emitted(self.chain, receipt, "Consortium", "ProposalExecuted"))
