"""Leak accountability (LeakRegistry): delivery commitments, incidents, findings, suspensions."""

from __future__ import annotations

from collections.abc import Sequence

from eth_utils import keccak, to_checksum_address

from cityledger.contracts.deployment import text32
from cityledger.sdk.chain import Chain
from cityledger.sdk.errors import ContractRevert
from cityledger.sdk.grants_client import dataset_id, with_grantor
from cityledger.sdk.models import Delivery, Finding, Incident, IncidentStatus, hex32, label, utc
from cityledger.sdk.receipts import emitted_once


def _b32(value: str) -> bytes:
    return bytes.fromhex(hex32(value)[2:])


class LeaksClient:
    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.contract = chain.contract("LeakRegistry")

    def register_delivery(
        self, grant_id: str, *, commitment: str, method: str, records: int
    ) -> Delivery:
        """The grantor commits to the fingerprint marking of a copy delivered under a grant."""
        fn = self.contract.functions.registerDelivery(
            _b32(grant_id), _b32(commitment), text32(method), records
        )
        receipt = self.chain.transact(fn)
        index = int(
            emitted_once(self.chain, receipt, "LeakRegistry", "DeliveryRegistered")["deliveryIndex"]
        )
        return self.deliveries(grant_id)[index]

    def report(self, dataset: str, *, evidence: bytes) -> Incident:
        """An auditor reports a leak of `dataset`; only the evidence's hash goes on chain."""
        fn = self.contract.functions.reportIncident(_b32(dataset_id(dataset)), keccak(evidence))
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
        self, incident_id: int, grant_id: str, *, score: int, method: str, details: str = ""
    ) -> Finding:
        """An auditor records a finding: the incident's data came from `grant_id`'s copy."""
        fn = self.contract.functions.recordFinding(
            incident_id, _b32(grant_id), score, text32(method), keccak(text=details)
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
                    incident_id, [_b32(g) for g in grant_ids]
                )
            )
        except ContractRevert as exc:
            raise with_grantor(self.chain, exc) from None
        return self.incident(incident_id)

    def incident(self, incident_id: int) -> Incident:
        (dataset, evidence, reporter, status, reported, updated, findings, suspended) = (
            self.chain.call(self.contract.functions.getIncident(incident_id))
        )
        return Incident(
            id=incident_id,
            dataset_id=hex32(bytes(dataset)),
            evidence_hash=hex32(bytes(evidence)),
            reporter=to_checksum_address(reporter),
            status=IncidentStatus(int(status)),
            reported_at=utc(int(reported)),
            updated_at=utc(int(updated)),
            finding_count=int(findings),
            suspended_count=int(suspended),
        )

    def incidents(self, dataset: str) -> list[Incident]:
        ids = self.chain.call(self.contract.functions.incidentsOfDataset(_b32(dataset_id(dataset))))
        return [self.incident(int(i)) for i in ids]

    def findings(self, incident_id: int) -> list[Finding]:
        return [
            Finding(
                incident_id=incident_id,
                index=index,
                grant_id=hex32(bytes(grant)),
                score=int(score),
                method=label(bytes(method)),
                details_hash=hex32(bytes(details)),
                auditor=to_checksum_address(auditor),
                recorded_at=utc(int(at)),
            )
            for index, (grant, score, method, details, auditor, at) in enumerate(
                self.chain.call(self.contract.functions.findingsOf(incident_id))
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
                grant_id=hex32(grant_id),
                index=index,
                commitment=hex32(bytes(commitment)),
                method=label(bytes(method)),
                delivered_records=int(records),
                registered_at=utc(int(at)),
                grantor=to_checksum_address(grantor),
            )
            for index, (commitment, method, records, at, grantor) in enumerate(
                self.chain.call(self.contract.functions.deliveriesOf(_b32(grant_id)))
            )
        ]
