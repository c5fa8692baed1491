"""Typed, immutable views of what the contracts store and emit. Ids are 0x-hex strings with a
type of their own (`GrantId`, `DatasetId`, `CityId`; other bytes32 values are `Hex32`),
addresses are `ChecksumAddress`, timestamps aware UTC datetimes. The id types are `str` at run
time: they keep a grant id from being passed where a dataset id is wanted, for mypy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any, NewType

from eth_typing import ChecksumAddress

Hex32 = NewType("Hex32", str)  # a bytes32 as 0x and 64 lowercase hex digits
GrantId = NewType("GrantId", Hex32)
DatasetId = NewType("DatasetId", Hex32)
CityId = NewType("CityId", Hex32)


def hex32(value: bytes | str) -> Hex32:
    """A bytes32 (raw, or 0x-hex text) as a 0x-hex string."""
    shown = value if isinstance(value, str) else "0x" + value.hex()
    try:
        raw = bytes.fromhex(value.removeprefix("0x")) if isinstance(value, str) else value
    except ValueError:
        raise ValueError(f"'{shown}' is not 0x and hex digits") from None
    if len(raw) != 32:
        raise ValueError(f"'{shown}' is not a 32-byte id (0x and 64 hex digits)")
    return Hex32("0x" + raw.hex())


def raw32(value: str) -> bytes:
    """A 0x-hex bytes32 as the 32 bytes a contract call takes."""
    return bytes.fromhex(hex32(value)[2:])


def utc(timestamp: int) -> datetime:
    return datetime.fromtimestamp(int(timestamp), tz=UTC)


def label(raw: bytes) -> str:
    """A right-padded ASCII bytes32 label (bytes32("...")) as text."""
    return raw.rstrip(b"\0").decode("ascii", errors="replace")


class NamedIntEnum(IntEnum):
    """An on-chain enum that prints as its name ("active"), not as its number: IntEnum's str()
    gives the number since Python 3.11. Compares and serialises to contracts as the int."""

    def __str__(self) -> str:
        return self.name.lower()

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


class Role(NamedIntEnum):
    GRANTOR = 1
    GRANTEE = 2
    AUDITOR = 4
    ALLOCATOR = 8
    GATEWAY = 16


def role_names(mask: int) -> tuple[str, ...]:
    return tuple(r.name for r in Role if mask & r.value)


class Sensitivity(NamedIntEnum):
    PUBLIC = 0
    INTERNAL = 1
    CONFIDENTIAL = 2
    RESTRICTED = 3


class GrantStatus(NamedIntEnum):
    NONE = 0
    OFFERED = 1
    ACCEPTED = 2
    ACTIVE = 3
    EXPIRED = 4
    SUSPENDED = 5
    REVOKED = 6
    WITHDRAWN = 7


class IncidentStatus(NamedIntEnum):
    NONE = 0
    OPEN = 1
    INVESTIGATING = 2
    ATTRIBUTED = 3
    UNATTRIBUTED = 4
    DISMISSED = 5


class RoundStatus(NamedIntEnum):
    NONE = 0
    OPEN = 1
    VOTING = 2
    APPROVED = 3
    REJECTED = 4
    CANCELLED = 5


class CityStatus(NamedIntEnum):
    NONE = 0
    ACTIVE = 1
    REMOVED = 2


@dataclass(frozen=True)
class City:
    id: CityId
    name: str
    admin: ChecksumAddress
    validator: ChecksumAddress
    region: str
    status: CityStatus
    admitted_at: datetime


@dataclass(frozen=True)
class Agency:
    address: ChecksumAddress
    city_id: CityId
    name: str
    roles: int
    active: bool

    @property
    def role_names(self) -> tuple[str, ...]:
        return role_names(self.roles)


@dataclass(frozen=True)
class Proposal:
    id: int
    kind: str
    city_id: CityId
    name: str
    deadline: datetime
    status: str
    votes: int
    needed: int


@dataclass(frozen=True)
class Dataset:
    id: DatasetId
    owner: ChecksumAddress
    city_id: CityId
    schema_hash: Hex32
    sensitivity: Sensitivity
    field_count: int
    registered_at: datetime


def grant_status(
    stored: GrantStatus, valid_from: datetime, valid_until: datetime, now: datetime
) -> GrantStatus:
    """The effective status, exactly as DataGrants.statusOf computes it from the stored one."""
    if stored in (GrantStatus.NONE, GrantStatus.REVOKED, GrantStatus.WITHDRAWN):
        return stored
    if now >= valid_until:
        return GrantStatus.EXPIRED
    if stored == GrantStatus.ACCEPTED and now >= valid_from:
        return GrantStatus.ACTIVE
    return stored


@dataclass(frozen=True)
class Grant:
    id: GrantId
    dataset_id: DatasetId
    grantor: ChecksumAddress
    grantee: ChecksumAddress
    purpose_code: str
    purpose_hash: Hex32
    field_scope: int
    valid_from: datetime
    valid_until: datetime
    access_quota: int
    accesses_used: int
    conditions_hash: Hex32
    stored_status: GrantStatus
    as_of: datetime  # chain time the status was computed for

    @property
    def status(self) -> GrantStatus:
        return grant_status(self.stored_status, self.valid_from, self.valid_until, self.as_of)


@dataclass(frozen=True)
class GatewayDesignation:
    """The gateway a dataset's owner designated: its agency address and its URL (the zero
    address and an empty URL when there is none)."""

    dataset_id: DatasetId
    gateway: ChecksumAddress
    url: str

    @property
    def designated(self) -> bool:
        return int(self.gateway, 16) != 0


@dataclass(frozen=True)
class AccessRecord:
    grant_id: GrantId
    accessor: ChecksumAddress  # the grantee
    dataset_id: DatasetId
    recorded_by: ChecksumAddress  # the grantee, or the dataset's gateway that delivered
    query_hash: Hex32
    record_count: int
    access_number: int
    timestamp: datetime
    block_number: int
    tx_hash: str


@dataclass(frozen=True)
class LogAnchor:
    agency: ChecksumAddress
    index: int
    tree_size: int
    root: Hex32
    anchored_at: datetime


@dataclass(frozen=True)
class Delivery:
    grant_id: GrantId
    index: int
    commitment: Hex32
    method: str
    delivered_records: int
    registered_at: datetime
    grantor: ChecksumAddress
    recorded_by: ChecksumAddress  # the grantor, or the dataset's gateway that delivered


@dataclass(frozen=True)
class GatewayDelivery:
    """A delivery a gateway recorded (AccessLog.recordDelivery): its access number in the grant,
    its index among the grant's deliveries in LeakRegistry, and where it is on chain."""

    grant_id: GrantId
    access_number: int
    delivery_index: int
    block_number: int
    tx_hash: str


@dataclass(frozen=True)
class Incident:
    id: int
    dataset_id: DatasetId
    evidence_hash: Hex32
    reporter: ChecksumAddress
    status: IncidentStatus
    reported_at: datetime
    updated_at: datetime
    finding_count: int
    suspended_count: int


@dataclass(frozen=True)
class Finding:
    incident_id: int
    index: int
    grant_id: GrantId
    score: int
    method: str
    details_hash: Hex32
    auditor: ChecksumAddress
    recorded_at: datetime


@dataclass(frozen=True)
class Pool:
    id: int
    resource_type: str
    unit: str
    capacity: int
    allocated: int
    coordinator_city: CityId
    default_rule: str
    created_at: datetime
    round_count: int
    members: tuple[CityId, ...]


@dataclass(frozen=True)
class Request:
    pool_id: int
    round_id: int
    city_id: CityId
    requester: ChecksumAddress
    amount: int
    priority: int
    justification_hash: Hex32
    filed_at: datetime


@dataclass(frozen=True)
class Round:
    pool_id: int
    id: int
    rule: str
    status: RoundStatus
    amount: int
    total_requested: int
    total_allocated: int
    opened_at: datetime
    approvals: int
    rejections: int
    allocations: tuple[tuple[CityId, int], ...]  # (city id, amount), in filing order


@dataclass(frozen=True)
class HistoryEvent:
    """One event of a trace: where it happened on chain and what it said."""

    block_number: int
    log_index: int
    tx_hash: str
    timestamp: datetime
    contract: str
    event: str
    args: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "blockNumber": self.block_number,
            "logIndex": self.log_index,
            "txHash": self.tx_hash,
            "timestamp": self.timestamp.isoformat(),
            "contract": self.contract,
            "event": self.event,
            "args": self.args,
        }
