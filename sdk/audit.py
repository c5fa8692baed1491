"""Audit traces: the time-ordered history of a dataset, a grant, an agency or a city across all
system contracts, read with indexed topics (which events carry which id, at which position)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

from cityledger.sdk.consortium_client import ConsortiumClient, city_id
from cityledger.sdk.errors import LedgerInputError
from cityledger.sdk.grants_client import dataset_id
from cityledger.sdk.history import History, TopicFilter, topic_for
from cityledger.sdk.models import HistoryEvent, hex32

_GRANT_LIFE = (
    "GrantOffered",
    "GrantAccepted",
    "OfferWithdrawn",
    "GrantRevoked",
    "GrantSuspended",
    "GrantReinstated",
)

# (contract, events, topic position of the key) for each kind of trace key.
_BY_DATASET = (
    ("DataGrants", ("DatasetRegistered",), 1),
    ("DataGrants", _GRANT_LIFE, 2),
    ("AccessLog", ("AccessRecorded",), 3),
    ("LeakRegistry", ("DeliveryRegistered", "IncidentReported", "IncidentStatusChanged"), 2),
    ("LeakRegistry", ("ImplicatedGrantSuspended",), 3),
)
_BY_GRANT = (
    ("DataGrants", _GRANT_LIFE, 1),
    ("AccessLog", ("AccessRecorded",), 1),
    ("LeakRegistry", ("DeliveryRegistered",), 1),
    ("LeakRegistry", ("FindingRecorded", "ImplicatedGrantSuspended"), 2),
)
_BY_AGENCY = (
    ("Consortium", ("AgencyRegistered", "AgencyRolesChanged", "AgencyDeactivated"), 1),
    ("DataGrants", ("DatasetRegistered",), 2),
    ("DataGrants", _GRANT_LIFE, 3),
    ("AccessLog", ("AccessRecorded",), 2),
    ("AccessLog", ("LogAnchored",), 1),
    (
        "LeakRegistry",
        ("DeliveryRegistered", "IncidentReported", "IncidentStatusChanged", "FindingRecorded"),
        3,
    ),
)
_BY_CITY = (
    ("Consortium", ("CityAdmitted", "CityRemoved", "ValidatorChanged", "AdminChanged"), 1),
    ("Consortium", ("AgencyRegistered", "AgencyRolesChanged", "AgencyDeactivated"), 2),
    ("DataGrants", ("DatasetRegistered",), 3),
    ("AccessLog", ("LogAnchored",), 2),
    ("ResourceAllocation", ("PoolCreated",), 2),
    (
        "ResourceAllocation",
        ("RequestFiled", "AllocationComputed", "RoundVoted", "ReceiptConfirmed"),
        3,
    ),
)


def _filters(table: tuple[tuple[str, tuple[str, ...], int], ...], key: str) -> list[TopicFilter]:
    value = topic_for(key)
    return [TopicFilter(contract, events, position, value) for contract, events, position in table]


class AuditClient:
    def __init__(self, history: History, consortium: ConsortiumClient) -> None:
        self.history = history
        self.consortium = consortium

    def trace(
        self,
        *,
        dataset: str | None = None,
        grant: str | None = None,
        agency: str | None = None,
        city: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Iterator[HistoryEvent]:
        """Every event about the one key given, in chain order, fetched lazily by block chunks.
        A city's trace includes its agencies' events."""
        filters = self.filters(dataset=dataset, grant=grant, agency=agency, city=city)
        return self.history.events(filters, since=since, until=until)

    def filters(
        self,
        *,
        dataset: str | None = None,
        grant: str | None = None,
        agency: str | None = None,
        city: str | None = None,
    ) -> list[TopicFilter]:
        """The event filters of `trace` for the one key given. A dataset's include the findings
        on its incidents: a finding names its incident and grant, not the dataset."""
        if dataset is not None and city is None:
            reported = TopicFilter(
                "LeakRegistry", ("IncidentReported",), 2, topic_for(dataset_id(dataset))
            )
            findings = incident_findings(self.history.events([reported]))
            return key_filters(dataset=dataset, grant=grant, agency=agency) + findings
        if city is None:
            return key_filters(dataset=dataset, grant=grant, agency=agency)
        if any(k is not None for k in (dataset, grant, agency)):
            raise LedgerInputError("trace exactly one of: dataset, grant, agency, city")
        filters = _filters(_BY_CITY, city_id(city))
        for member in self.consortium.agencies(city):
            filters += _filters(_BY_AGENCY, member.address)
        return filters


def incident_findings(events: Iterable[HistoryEvent]) -> list[TopicFilter]:
    """The filters of the findings on the incidents that these events report (a dataset's
    trace includes them: a finding names its incident and grant, not the dataset)."""
    return [
        TopicFilter("LeakRegistry", ("FindingRecorded",), 1, topic_for(int(e.args["incidentId"])))
        for e in events
        if e.event == "IncidentReported"
    ]


def key_filters(
    *, dataset: str | None = None, grant: str | None = None, agency: str | None = None
) -> list[TopicFilter]:
    """The event filters of a trace by dataset, grant or agency, which the key alone fixes (a
    city's also need its agencies, read from the chain)."""
    keys = [k for k in (dataset, grant, agency) if k is not None]
    if len(keys) != 1:
        raise LedgerInputError("trace exactly one of: dataset, grant, agency, city")
    if dataset is not None:
        return _filters(_BY_DATASET, dataset_id(dataset))
    if grant is not None:
        return _filters(_BY_GRANT, hex32(grant))
    assert agency is not None
    return _filters(_BY_AGENCY, agency)
