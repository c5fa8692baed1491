"""The audit trail of data access (AccessLog): per-access records and anchors of off-chain logs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from eth_utils import keccak, to_checksum_address

from cityledger.contracts.deployment import text32
from cityledger.sdk import merkle
from cityledger.sdk.chain import Chain
from cityledger.sdk.errors import ContractRevert, LedgerInputError
from cityledger.sdk.grants_client import dataset_id, with_grantor
from cityledger.sdk.history import History, TopicFilter, topic_for
from cityledger.sdk.models import (
    AccessRecord,
    DatasetId,
    GatewayDelivery,
    GrantId,
    LogAnchor,
    hex32,
    raw32,
    utc,
)
from cityledger.sdk.receipts import emitted_once, tx_hash


def _record(event: Mapping[str, Any], block_number: int, tx: str) -> AccessRecord:
    """An AccessRecorded event (bytes32 as 0x-hex) as a record."""
    return AccessRecord(
        grant_id=GrantId(hex32(str(event["grantId"]))),
        accessor=to_checksum_address(event["accessor"]),
        dataset_id=DatasetId(hex32(str(event["datasetId"]))),
        recorded_by=to_checksum_address(event["recordedBy"]),
        query_hash=hex32(str(event["queryHash"])),
        record_count=int(event["recordCount"]),
        access_number=int(event["accessNumber"]),
        timestamp=utc(int(event["timestamp"])),
        block_number=block_number,
        tx_hash=tx,
    )


def query_hash(query: str | bytes) -> str:
    """The hash recorded for a query: the query itself stays with the agency."""
    return hex32(keccak(query if isinstance(query, bytes) else query.encode()))


class AccessClient:
    def __init__(self, chain: Chain, history: History | None = None) -> None:
        self.chain = chain
        self.contract = chain.contract("AccessLog")
        self.history = history  # to list access records (AccessRecorded events)

    def record(self, grant_id: str, *, query: str, records: int, fields: int) -> AccessRecord:
        """Records one access by the signer (the grantee) under `grant_id`. A grant that is not
        active, a field outside its scope or an exhausted quota raises the contract's typed error,
        whose message names the grant, the reason and who can fix it."""
        fn = self.contract.functions.recordAccess(
            raw32(grant_id),
            raw32(query_hash(query)),
            records,
            fields,
        )
        try:
            receipt = self.chain.transact(fn)
        except ContractRevert as exc:
            raise with_grantor(self.chain, exc) from None
        event = emitted_once(self.chain, receipt, "AccessLog", "AccessRecorded")
        return _record(
            {k: "0x" + v.hex() if isinstance(v, bytes) else v for k, v in event.items()},
            int(receipt["blockNumber"]),
            tx_hash(receipt),
        )

    def records(
        self,
        *,
        grant: str | None = None,
        accessor: str | None = None,
        dataset: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> list[AccessRecord]:
        """Recorded accesses (and deliveries) under one grant, by one grantee, or of one
        dataset, or all of them, in chain order, a page at a time (read from events)."""
        if self.history is None:
            raise LedgerInputError("listing access records reads events: connect with a Ledger")
        given = [(1, grant), (2, accessor), (3, None if dataset is None else dataset_id(dataset))]
        keys = [(position, value) for position, value in given if value is not None]
        if len(keys) > 1:
            raise LedgerInputError("list the records of one grant, accessor or dataset at most")
        position, value = keys[0] if keys else (None, None)
        flt = TopicFilter(
            "AccessLog",
            ("AccessRecorded",),
            position,
            None if value is None else topic_for(value),
        )
        return [
            _record(e.args, e.block_number, e.tx_hash)
            for e in self.history.page([flt], offset=offset, limit=limit)
        ]

    def record_delivery(
        self,
        grant_id: str,
        *,
        request_hash: str,
        records: int,
        fields: int,
        commitment: str,
        method: str,
    ) -> GatewayDelivery:
        """The signer, the dataset's designated gateway, records one delivery under `grant_id`:
        counted against the grant as an access by its grantee, with the fingerprint commitment of
        the delivered copy, in one transaction. A refusal raises the contract's typed error (the
        grant's, DataGrants', or NotDatasetGateway) and nothing is recorded."""
        fn = self.contract.functions.recordDelivery(
            raw32(grant_id), raw32(request_hash), records, fields, raw32(commitment), text32(method)
        )
        try:
            receipt = self.chain.transact(fn)
        except ContractRevert as exc:
            raise with_grantor(self.chain, exc) from None
        access = emitted_once(self.chain, receipt, "AccessLog", "AccessRecorded")
        delivery = emitted_once(self.chain, receipt, "LeakRegistry", "DeliveryRegistered")
        return GatewayDelivery(
            grant_id=GrantId(hex32(grant_id)),
            access_number=int(access["accessNumber"]),
            delivery_index=int(delivery["deliveryIndex"]),
            block_number=int(receipt["blockNumber"]),
            tx_hash=tx_hash(receipt),
        )

    def anchor(
        self, tree_size: int, root: bytes, consistency_proof: Sequence[bytes] = ()
    ) -> LogAnchor:
        """Anchors the signer's off-chain log head; every anchor after the first needs the RFC 9162
        consistency proof from the previous head (cityledger.sdk.merkle.consistency_proof)."""
        self.chain.transact(
            self.contract.functions.anchorLog(tree_size, root, list(consistency_proof))
        )
        return self.latest_anchor(self.chain.require_signer().address)

    def anchor_log(self, entries: Sequence[bytes]) -> LogAnchor:
        """Anchors the head of the signer's whole off-chain log (`entries` in append order),
        proving it extends the last anchored head. Refuses locally, before sending, a log whose
        anchored prefix no longer hashes to the anchored root: such a log was rewritten."""
        agency = self.chain.require_signer().address
        count = int(self.chain.call(self.contract.functions.anchorCount(agency)))
        proof: list[bytes] = []
        if count:
            last = self.anchor_at(agency, count - 1)
            if last.tree_size > len(entries):
                raise LedgerInputError(
                    f"the log has {len(entries)} entries but {last.tree_size} are already anchored"
                )
            if "0x" + merkle.root_hash(entries[: last.tree_size]).hex() != last.root:
                raise LedgerInputError(
                    f"the first {last.tree_size} entries no longer hash to the anchored root "
                    f"{last.root}: the log was rewritten"
                )
            proof = merkle.consistency_proof(entries, last.tree_size)
        return self.anchor(len(entries), merkle.root_hash(entries), proof)

    def anchors(self, agency: str) -> list[LogAnchor]:
        agency = to_checksum_address(agency)
        count = int(self.chain.call(self.contract.functions.anchorCount(agency)))
        return [self.anchor_at(agency, i) for i in range(count)]

    def anchor_at(self, agency: str, index: int) -> LogAnchor:
        checksummed = to_checksum_address(agency)
        anchor = self.chain.call_named(self.contract.functions.anchorAt(checksummed, index))
        return LogAnchor(
            agency=checksummed,
            index=index,
            tree_size=int(anchor["treeSize"]),
            root=hex32(bytes(anchor["root"])),
            anchored_at=utc(int(anchor["anchoredAt"])),
        )

    def latest_anchor(self, agency: str) -> LogAnchor:
        agency = to_checksum_address(agency)
        count = int(self.chain.call(self.contract.functions.anchorCount(agency)))
        return self.anchor_at(agency, max(count - 1, 0))  # index 0 of none: NoAnchor
