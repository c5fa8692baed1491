"""Leak accountability (LeakRegistry): delivery commitments, incidents, findings, suspensions."""

from __future__ import annotations

from collections.abc import Sequence

from eth_utils import keccak, to_checksum_address

from cityledger.contracts.deployment import text32
from cityledger.sdk.chain import Chain
from cityledger.sdk.errors import ContractRevert
from cityledger.sdk.grants_client import dataset_id, with_grantor
from cityledger.sdk.models import (
    DatasetId,
    Delivery,
    Finding,
    GrantId,
    Incident,
    IncidentStatus,
    hex32,
    label,
    raw32,
    utc,
)
from cityledger.sdk.receipts import emitted_once


class LeaksClient:
    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.contract = chain.contract("LeakRegistry")

    def register_delivery(
        self, grant_id: str, *, commitment: str, method: str, records: int
    ) -> Delivery:
        """The grantor commits to the fingerprint marking of a copy delivered under a grant."""
        fn = self.contract.functions.registerDelivery(
            raw32(grant_id), raw32(commitment), text32(method), records
        )
        receipt = self.chain.transact(fn)
        index = int(
            emitted_once(self.chain, receipt, "LeakRegistry", "DeliveryRegistered")["deliveryIndex"]
        )
        return self.deliveries(grant_id)[index]

    def report(self, dataset: str, *, evidence: bytes) -> Incident:
        """An auditor reports a leak of `dataset`; only the evidence's hash goes on chain."""
        fn = self.contract.functions.reportIncident(raw32(dataset_id(dataset)), keccak(evidence))
        receipt = self.chain.transact(fn)
        return self.incident(
            int(emitted_once(self.chain, receipt, "LeakRegistry", "IncidentReported")["incidentId"])
        )

    def set_status(self, incident_id: int, status: IncidentStatus, reason: str = "") -> Incident:
        self.chain.transact(
            self.contract.functions.setIncidentStatus(incident_id, int(status), keccak(text=reason))
        )
        return self.incident(incident_id)

    def attribute(
        self,
        incident_id: int,
        grant_id: str,
        *,
        score: int,
        method: str,
        details: str = "",
        details_hash: str | None = None,
    ) -> Finding:
        """An auditor records a finding: the incident's data came from `grant_id`'s copy. The
        details go on chain by hash: keccak256 of the text `details`, or `details_hash` as given
        (for instance the hash of a reveal file)."""
        digest = keccak(text=details) if details_hash is None else raw32(details_hash)
        fn = self.contract.functions.recordFinding(
            incident_id, raw32(grant_id), score, text32(method), digest
        )
        receipt = self.chain.transact(fn)
        index = int(
            emitted_once(self.chain, receipt, "LeakRegistry", "FindingRecorded")["findingIndex"]
        )
        return self.findings(incident_id)[index]

    def suspend_implicated(self, incident_id: int, grant_ids: Sequence[str]) -> Incident:
        try:
            self.chain.transact(
                self.contract.functions.suspendImplicatedGrants(
                    incident_id, [raw32(g) for g in grant_ids]
                )
            )
        except ContractRevert as exc:
            raise with_grantor(self.chain, exc) from None
        return self.incident(incident_id)

    def incident(self, incident_id: int) -> Incident:
        incident = self.chain.call_named(self.contract.functions.getIncident(incident_id))
        return Incident(
            id=incident_id,
            dataset_id=DatasetId(hex32(bytes(incident["datasetId"]))),
            evidence_hash=hex32(bytes(incident["evidenceHash"])),
            reporter=to_checksum_address(incident["reporter"]),
            status=IncidentStatus(int(incident["status"])),
            reported_at=utc(int(incident["reportedAt"])),
            updated_at=utc(int(incident["updatedAt"])),
            finding_count=int(incident["findingCount"]),
            suspended_count=int(incident["suspendedCount"]),
        )

    def incidents(
        self, dataset: str | None = None, *, offset: int = 0, limit: int | None = 100
    ) -> list[Incident]:
        """The incidents of one dataset, or every incident, in the order they were reported,
        a page at a time (all from `offset` when `limit` is None)."""
        functions = self.contract.functions
        if dataset is not None:
            ids = [
                int(i)
                for i in self.chain.call(functions.incidentsOfDataset(raw32(dataset_id(dataset))))
            ]
        else:
            ids = list(range(1, int(self.chain.call(functions.incidentCount())) + 1))
        return [self.incident(i) for i in ids[offset : None if limit is None else offset + limit]]

    def findings(self, incident_id: int) -> list[Finding]:
        return [
            Finding(
                incident_id=incident_id,
                index=index,
                grant_id=GrantId(hex32(bytes(f["grantId"]))),
                score=int(f["score"]),
                method=label(bytes(f["method"])),
                details_hash=hex32(bytes(f["detailsHash"])),
                auditor=to_checksum_address(f["auditor"]),
                recorded_at=utc(int(f["recordedAt"])),
            )
            for index, f in enumerate(
                self.chain.call_named(self.contract.functions.findingsOf(incident_id))
            )
        ]

    def suspended_grants(self, incident_id: int) -> list[str]:
        return [
            hex32(bytes(g))
            for g in self.chain.call(self.contract.functions.suspendedGrantsOf(incident_id))
        ]

    def deliveries(self, grant_id: str) -> list[Delivery]:
        return [
            Delivery(
                grant_id=GrantId(hex32(grant_id)),
                index=index,
                commitment=hex32(bytes(d["commitment"])),
                method=label(bytes(d["method"])),
                delivered_records=int(d["deliveredRecords"]),
                registered_at=utc(int(d["registeredAt"])),
                grantor=to_checksum_address(d["grantor"]),
                recorded_by=to_checksum_address(d["recordedBy"]),
            )
            for index, d in enumerate(
                self.chain.call_named(self.contract.functions.deliveriesOf(raw32(grant_id)))
            )
        ]
