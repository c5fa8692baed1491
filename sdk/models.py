"""Typed, immutable views of what the contracts store and emit. Ids are 0x-hex strings,
addresses checksummed, timestamps aware UTC datetimes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any


def hex32(value: bytes | str) -> str:
    """A bytes32 (raw, or 0x-hex text) as a 0x-hex string."""
    try:
        raw = bytes.fromhex(value.removeprefix("0x")) if isinstance(value, str) else value
    except ValueError:
        raise ValueError(f"{value!r} is not 0x-hex") from None
    if len(raw) != 32:
        raise ValueError(f"{value!r} is not a 32-byte id (64 hex digits after 0x)")
    return "0x" + raw.hex()


def utc(timestamp: int) -> datetime:
    return datetime.fromtimestamp(int(timestamp), tz=UTC)


def label(raw: bytes) -> str:
    """A right-padded ASCII bytes32 label (bytes32("...")) as text."""
    return raw.rstrip(b"\0").decode("ascii", errors="replace")


class Role(IntEnum):
    GRANTOR = 1
    GRANTEE = 2
    AUDITOR = 4
    ALLOCATOR = 8


def role_names(mask: int) -> tuple[str, ...]:
    return tuple(r.name for r in Role if mask & r.value)


class Sensitivity(IntEnum):
    PUBLIC = 0
    INTERNAL = 1
    CONFIDENTIAL = 2
    RESTRICTED = 3


class GrantStatus(IntEnum):
    NONE = 0
    OFFERED = 1
    ACCEPTED = 2
    ACTIVE = 3
    EXPIRED = 4
    SUSPENDED = 5
    REVOKED = 6
    WITHDRAWN = 7


class IncidentStatus(IntEnum):
    NONE = 0
    OPEN = 1
    INVESTIGATING = 2
    ATTRIBUTED = 3
    UNATTRIBUTED = 4
    DISMISSED = 5


class RoundStatus(IntEnum):
    NONE = 0
    OPEN = 1
    VOTING = 2
    APPROVED = 3
    REJECTED = 4
    CANCELLED = 5


class CityStatus(IntEnum):
    NONE = 0
    ACTIVE = 1
    REMOVED = 2


@dataclass(frozen=True)
class City:
    id: str
    name: str
    admin: str
    validator: str
    region: str
    status: CityStatus
    admitted_at: datetime


@dataclass(frozen=True)
class Agency:
    address: str
    city_id: str
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
    city_id: str
    name: str
    deadline: datetime
    status: str
    votes: int
    needed: int


@dataclass(frozen=True)
class Dataset:
    id: str
    owner: str
    city_id: str
    schema_hash: str
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
    id: str
    dataset_id: str
    grantor: str
    grantee: str
    purpose_code: str
    purpose_hash: str
    field_scope: int
    valid_from: datetime
    valid_until: datetime
    access_quota: int
    accesses_used: int
    conditions_hash: str
    stored_status: GrantStatus
    as_of: datetime  # chain time the status was computed for

    @property
    def status(self) -> GrantStatus:
        return grant_status(self.stored_status, self.valid_from, self.valid_until, self.as_of)


@dataclass(frozen=True)
class AccessRecord:
    grant_id: str
    accessor: str
    dataset_id: str
    query_hash: str
    record_count: int
    access_number: int
    timestamp: datetime
    block_number: int
    tx_hash: str


@dataclass(frozen=True)
class LogAnchor:
    agency: str
    index: int
    tree_size: int
    root: str
    anchored_at: datetime


@dataclass(frozen=True)
class Delivery:
    grant_id: str
    index: int
    commitment: str
    method: str
    delivered_records: int
    registered_at: datetime
    grantor: str


@dataclass(frozen=True)
class Incident:
    id: int
    dataset_id: str
    evidence_hash: str
    reporter: str
    status: IncidentStatus
    reported_at: datetime
    updated_at: datetime
    finding_count: int
    suspended_count: int


@dataclass(frozen=True)
class Finding:
    incident_id: int
    index: int
    grant_id: str
    score: int
    method: str
    details_hash: str
    auditor: str
    recorded_at: datetime


@dataclass(frozen=True)
class Pool:
    id: int
    resource_type: str
    unit: str
    capacity: int
    allocated: int
    coordinator_city: str
    default_rule: str
    created_at: datetime
    round_count: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class Request:
    pool_id: int
    round_id: int
    city_id: str
    requester: str
    amount: int
    priority: int
    justification_hash: str
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
    allocations: tuple[tuple[str, int], ...]  # (city id, amount), in filing order


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
