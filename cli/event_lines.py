"""Events as a person reads them: who did what, under which grant, when — with names instead of
hex ("Harbin Health Commission read 42 records of jiamusi/epidemic-travel-trace").

`EventLine.as_json` keeps every id of the event beside the names (`--json`), `csv_row` gives
flat columns, and `what` the sentence a table shows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cityledger.cli.views import field_indices

if TYPE_CHECKING:
    from cityledger.cli.names import Names
    from cityledger.sdk.models import HistoryEvent

ZERO_ADDRESS = "0x" + "0" * 40
CSV_COLUMNS = (
    "blockNumber",
    "timestamp",
    "event",
    "who",
    "whoAddress",
    "grantId",
    "grantee",
    "dataset",
    "datasetId",
    "incidentId",
    "records",
    "what",
    "txHash",
)


@dataclass(frozen=True)
class EventLine:
    event: HistoryEvent
    who: str | None  # the account that acted
    who_name: str | None
    grant: str | None
    grantee_name: str | None  # whose grant it is
    dataset: str | None  # the dataset's id
    dataset_name: str | None
    what: str

    def as_json(self) -> dict[str, Any]:
        return {
            **self.event.as_json(),
            "who": None if self.who is None else {"address": self.who, "name": self.who_name},
            "grantId": self.grant,
            "grantee": self.grantee_name,
            "datasetId": self.dataset,
            "dataset": self.dataset_name,
            "what": self.what,
        }

    def csv_row(self) -> list[object]:
        args = self.event.args
        records = args.get("recordCount", args.get("deliveredRecords"))
        return [
            self.event.block_number,
            self.event.timestamp.isoformat(),
            self.event.event,
            self.who_name or "",
            self.who or "",
            self.grant or "",
            self.grantee_name or "",
            self.dataset_name or "",
            self.dataset or "",
            args.get("incidentId", ""),
            "" if records is None else records,
            self.what,
            self.event.tx_hash,
        ]


def _day(timestamp: int) -> str:
    return datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%d")


def _label(hex32: str) -> str:
    """A bytes32 label (purpose code, method, resource) as its text."""
    raw = bytes.fromhex(str(hex32).removeprefix("0x")).rstrip(b"\0")
    return raw.decode("ascii", errors="replace")


def _enum(names: tuple[str, ...], value: Any) -> str:
    index = int(value)
    return names[index] if 0 <= index < len(names) else str(index)


_SENSITIVITY = ("public", "internal", "confidential", "restricted")
_INCIDENT_STATUS = ("none", "open", "investigating", "attributed", "unattributed", "dismissed")
_RULES = ("proportional", "priority-weighted", "max-min-fair")
_ROUND_STATUS = ("none", "open", "voting", "approved", "rejected", "cancelled")

# An event's actor (the argument naming who acted) and its sentence, by event name.
_Said = Callable[["Narrator", Mapping[str, Any]], str]
_SAYINGS: dict[str, tuple[str | None, _Said]] = {
    # DataGrants
    "DatasetRegistered": (
        "owner",
        lambda n, a: (
            f"registered dataset {a['name']} ({_enum(_SENSITIVITY, a['sensitivity'])}, "
            f"{a['fieldCount']} fields)"
        ),
    ),
    "GatewayDesignated": (
        "owner",
        lambda n, a: (
            f"designated {n.agency(a['gateway'])} to serve {n.dataset(a['datasetId'])} at "
            f"{a['url']}"
            if a["gateway"] != ZERO_ADDRESS
            else f"withdrew the gateway of {n.dataset(a['datasetId'])}"
        ),
    ),
    "GrantOffered": (
        "grantor",
        lambda n, a: (
            f"offered {n.dataset(a['datasetId'])} to {n.agency(a['offer']['grantee'])} for "
            f"{_label(a['offer']['purposeCode'])}: fields "
            f"{','.join(map(str, field_indices(int(a['offer']['fieldScope']))))}, "
            f"{a['offer']['accessQuota']} accesses, valid {_day(a['offer']['validFrom'])} to "
            f"{_day(a['offer']['validUntil'])}"
        ),
    ),
    "GrantAccepted": (
        "grantee",
        lambda n, a: f"accepted the grant of {n.dataset(a['datasetId'])}: it is in force",
    ),
    "OfferWithdrawn": (
        "grantor",
        lambda n, a: f"withdrew its offer to {n.grantee(a['grantId'])}",
    ),
    "GrantRevoked": (
        "grantor",
        lambda n, a: f"revoked the grant to {n.grantee(a['grantId'])} for good",
    ),
    "GrantSuspended": (
        "by",
        lambda n, a: (
            f"suspended the grant to {n.grantee(a['grantId'])} "
            + (f"for incident {int(a['cause'], 16)}" if a["forIncident"] else "pending review")
        ),
    ),
    "GrantReinstated": (
        "auditor",
        lambda n, a: f"reinstated the grant to {n.grantee(a['grantId'])}",
    ),
    "AccessCounted": (
        "grantee",
        lambda n, a: f"used access {a['accessesUsed']} of {a['accessQuota']}",
    ),
    # AccessLog
    "AccessRecorded": (
        "accessor",
        lambda n, a: (
            f"read {a['recordCount']} records of {n.dataset(a['datasetId'])} "
            f"(access #{a['accessNumber']})"
            if a["recordedBy"] == a["accessor"]
            else f"received {a['recordCount']} records of {n.dataset(a['datasetId'])} from "
            f"{n.agency(a['recordedBy'])} (delivery, access #{a['accessNumber']})"
        ),
    ),
    "LogAnchored": (
        "agency",
        lambda n, a: (
            f"anchored its access log: {a['treeSize']} entries (anchor #{a['anchorIndex']})"
        ),
    ),
    # LeakRegistry
    "DeliveryRegistered": (
        "recordedBy",
        lambda n, a: (
            f"committed to the marks of delivery #{a['deliveryIndex']} to "
            f"{n.grantee(a['grantId'])}: {a['deliveredRecords']} records "
            f"({_label(a['method'])})"
        ),
    ),
    "IncidentReported": (
        "reporter",
        lambda n, a: f"reported incident {a['incidentId']}: a leak of {n.dataset(a['datasetId'])}",
    ),
    "IncidentStatusChanged": (
        "auditor",
        lambda n, a: (
            f"moved incident {a['incidentId']} from "
            f"{_enum(_INCIDENT_STATUS, a['previousStatus'])} to "
            f"{_enum(_INCIDENT_STATUS, a['newStatus'])}"
        ),
    ),
    "FindingRecorded": (
        "auditor",
        lambda n, a: (
            f"found that incident {a['incidentId']}'s data came from "
            f"{n.grantee(a['grantId'])}'s copy (score {a['score']}, {_label(a['method'])})"
        ),
    ),
    "ImplicatedGrantSuspended": (
        "auditor",
        lambda n, a: (
            f"suspended the grant to {n.grantee(a['grantId'])} for incident {a['incidentId']}"
        ),
    ),
    # Consortium
    "CityAdmitted": (None, lambda n, a: f"{a['name']} was admitted as a member city"),
    "CityRemoved": (None, lambda n, a: f"{n.city(a['cityId'])} was removed"),
    "ValidatorChanged": (
        None,
        lambda n, a: f"{n.city(a['cityId'])}'s validator became {a['newValidator']}",
    ),
    "AdminChanged": (
        None,
        lambda n, a: f"{n.city(a['cityId'])}'s admin became {a['newAdmin']}",
    ),
    "AgencyRegistered": (
        "agency",
        lambda n, a: f"was registered as an agency of {n.city(a['cityId'])}",
    ),
    "AgencyRolesChanged": ("agency", lambda n, a: "had its roles changed"),
    "AgencyDeactivated": ("agency", lambda n, a: "was deactivated"),
    # ResourceAllocation
    "PoolCreated": (
        None,
        lambda n, a: (
            f"{n.city(a['coordinatorCity'])} created pool {a['poolId']}: {a['capacity']} "
            f"{_label(a['unit'])} of {_label(a['resourceType'])}"
        ),
    ),
    "RoundOpened": (
        None,
        lambda n, a: (
            f"{n.city(a['coordinatorCity'])} opened round {a['roundId']} of pool "
            f"{a['poolId']}: {a['amount']} by {_enum(_RULES, a['rule'])}"
        ),
    ),
    "RequestFiled": (
        "requester",
        lambda n, a: (
            f"asked for {a['amount']} for {n.city(a['cityId'])} in round {a['roundId']} of "
            f"pool {a['poolId']} (priority {a['priority']})"
        ),
    ),
    "AllocationComputed": (
        None,
        lambda n, a: (
            f"{n.city(a['cityId'])} was allocated {a['allocated']} of {a['requested']} asked "
            f"(round {a['roundId']} of pool {a['poolId']})"
        ),
    ),
    "RoundVoted": (
        "voter",
        lambda n, a: (
            f"{'approved' if a['approve'] else 'rejected'} round {a['roundId']} of pool "
            f"{a['poolId']} for {n.city(a['cityId'])} ({a['approvals']} for, "
            f"{a['rejections']} against)"
        ),
    ),
    "ReceiptConfirmed": (
        "confirmer",
        lambda n, a: (
            f"confirmed {n.city(a['cityId'])} received {a['received']} of {a['allocated']} "
            f"(round {a['roundId']} of pool {a['poolId']})"
        ),
    ),
    "RoundClosed": (
        None,
        lambda n, a: (
            f"round {a['roundId']} of pool {a['poolId']} closed: {a['totalAllocated']} "
            f"allocated of {a['totalRequested']} asked"
        ),
    ),
    "RoundApproved": (
        None,
        lambda n, a: f"round {a['roundId']} of pool {a['poolId']} was approved",
    ),
    "RoundRejected": (
        None,
        lambda n, a: f"round {a['roundId']} of pool {a['poolId']} was rejected",
    ),
    "RoundCancelled": (
        None,
        lambda n, a: f"round {a['roundId']} of pool {a['poolId']} was cancelled",
    ),
}


class Narrator:
    """Tells events with the chain's names; a grant's grantee is looked up once a run."""

    def __init__(self, names: Names) -> None:
        self.names = names
        self._grantees: dict[str, str] = {}

    def agency(self, address: str) -> str:
        return self.names.agency_name(address)

    def dataset(self, dataset_id: str) -> str:
        return self.names.dataset_name(dataset_id)

    def city(self, city_id: str) -> str:
        return self.names.city_name(city_id)

    def grantee(self, grant_id: str) -> str:
        if grant_id not in self._grantees:
            grant = self.names.ledger.grants.get(grant_id)
            self._grantees[grant_id] = self.agency(grant.grantee)
        return self._grantees[grant_id]

    def line(self, event: HistoryEvent) -> EventLine:
        args = event.args
        if event.event == "GrantOffered":  # the offer names the grantee: no lookup later
            self._grantees[str(args["grantId"])] = self.agency(args["offer"]["grantee"])
        actor, say = _SAYINGS.get(event.event, (None, _generic(event.event)))
        who = str(args[actor]) if actor is not None and actor in args else None
        grant = args.get("grantId")
        dataset = args.get("datasetId") or (args["offer"]["datasetId"] if "offer" in args else None)
        return EventLine(
            event=event,
            who=who,
            who_name=None if who is None else self.agency(who),
            grant=None if grant is None else str(grant),
            grantee_name=None if grant is None else self.grantee(str(grant)),
            dataset=None if dataset is None else str(dataset),
            dataset_name=None if dataset is None else self.dataset(str(dataset)),
            what=say(self, args),
        )


def _generic(name: str) -> _Said:
    """An event without a sentence of its own: its name and arguments."""
    return lambda n, a: name + ": " + ", ".join(f"{k} {v}" for k, v in a.items())
