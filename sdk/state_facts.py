"""Facts an audit states from DataGrants' state (a dataset's owner, a grant's status, grantee and
use of its quota), read from storage words so that each can be proven against a certified state
root rather than asked of a node with `eth_call`.

A grant's status is `DataGrants.statusOf` recomputed (`models.grant_status`): the stored status,
made Active or Expired by the block's time against the grant's validity.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from eth_utils import to_checksum_address

from cityledger.sdk.models import GrantStatus, grant_status, utc
from cityledger.sdk.storage_layout import Location, layout


@dataclass(frozen=True)
class StateFact:
    subject: str  # "dataset 0x…" or "grant 0x…"
    name: str
    value: str
    contract: str
    slots: tuple[int, ...]  # the storage words it was read from


@dataclass(frozen=True)
class FactQuery:
    """The slots a set of facts needs, and how to read the facts from their proven words at a
    block of the given timestamp."""

    contract: str
    slots: tuple[int, ...]
    read: Callable[[Mapping[int, int], int], list[StateFact]]


def dataset_query(dataset_id: bytes) -> FactQuery:
    grants = layout("DataGrants")
    owner = grants.locate("_datasets", dataset_id, "owner")
    subject = "dataset 0x" + dataset_id.hex()

    def read(words: Mapping[int, int], _: int) -> list[StateFact]:
        address = owner.read(words[owner.slot])
        value = to_checksum_address(address.to_bytes(20, "big")) if address else "none"
        return [StateFact(subject, "owner", value, "DataGrants", (owner.slot,))]

    return FactQuery("DataGrants", (owner.slot,), read)


def grant_query(grant_id: bytes) -> FactQuery:
    grants = layout("DataGrants")
    at: dict[str, Location] = {
        name: grants.locate("_grants", grant_id, name)
        for name in (
            "status",
            "validFrom",
            "validUntil",
            "grantee",
            "accessQuota",
            "accessesUsed",
        )
    }
    subject = "grant 0x" + grant_id.hex()

    def read(words: Mapping[int, int], timestamp: int) -> list[StateFact]:
        value = {name: loc.read(words[loc.slot]) for name, loc in at.items()}
        try:
            stored = GrantStatus(value["status"])
        except ValueError:
            stored = GrantStatus.NONE  # unreachable: the contract stores only its enum's values
        status = grant_status(
            stored, utc(value["validFrom"]), utc(value["validUntil"]), utc(timestamp)
        )
        grantee = value["grantee"]

        def fact(name: str, text: str, *fields: str) -> StateFact:
            return StateFact(subject, name, text, "DataGrants", tuple(at[f].slot for f in fields))

        return [
            fact("status", status.name.lower(), "status", "validFrom", "validUntil"),
            fact(
                "grantee",
                to_checksum_address(grantee.to_bytes(20, "big")) if grantee else "none",
                "grantee",
            ),
            fact(
                "accesses",
                f"{value['accessesUsed']} of {value['accessQuota']}",
                "accessesUsed",
                "accessQuota",
            ),
        ]

    slots = tuple(sorted({loc.slot for loc in at.values()}))
    return FactQuery("DataGrants", slots, read)
