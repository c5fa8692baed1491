"""Whether a signed delivery request may be answered, checked against the chain at its latest
block (final on a QBFT chain: a block in the chain is final).

The order: the request's own signature, gateway and expiry, then its nonce (claimed before any
chain read, so a replay is refused whatever else changed), then the grant at one block: it
exists, the signer is its grantee, its dataset is served here, it is active, grantee and grantor
still hold their roles, the fields and filter columns are within its scope, quota is left; last
the filter's values against their columns' types. The chain checks them all again when the
delivery is recorded: a grant revoked in between still gets nothing."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from eth_keys.datatypes import PublicKey
from eth_typing import ChecksumAddress

from cityledger.gateway.nonces import NonceStore
from cityledger.gateway.refusals import Refusal
from cityledger.gateway.sources import BadValue, Dataset, Sources
from cityledger.sdk.delivery import Condition, DeliveryError, SignedRequest, recover_requester
from cityledger.sdk.errors import ContractRevert, LedgerError
from cityledger.sdk.ledger import Ledger
from cityledger.sdk.models import DatasetId, Grant, GrantStatus, Role


@dataclass(frozen=True)
class Authorised:
    """A request that passed every check, and what it asks for."""

    grant: Grant
    block: int  # the block the grant was checked at
    dataset: Dataset
    columns: tuple[str, ...]  # delivered, in this order
    fields_mask: int  # the delivered columns and the filter's, as recorded on chain
    filter: tuple[Condition, ...]
    requester: PublicKey
    request_hash: str


class Checker:
    def __init__(
        self,
        ledger: Ledger,
        gateway: ChecksumAddress,
        sources: Sources,
        nonces: NonceStore,
        max_ttl: int,
    ) -> None:
        self.ledger = ledger
        self.gateway = gateway
        self.sources = sources
        self.nonces = nonces
        self.max_ttl = max_ttl
        self.domain = ledger.grants.domain

    def authorise(self, path_grant: str, signed: SignedRequest) -> Authorised:
        request = signed.request
        grant_id = request.grant_id.lower()
        if path_grant.lower() != grant_id:
            raise Refusal(
                "GrantMismatch",
                path_grant,
                {"path": path_grant, "grantId": request.grant_id},
                field="request.grantId",
            )
        try:
            requester = recover_requester(self.domain, signed)
        except DeliveryError as exc:
            raise Refusal(
                "BadSignature", grant_id, {"reason": str(exc)}, field="signature"
            ) from None
        signer = requester.to_checksum_address()
        if request.gateway.lower() != self.gateway.lower():
            raise Refusal(
                "WrongGateway", grant_id, {"requested": request.gateway, "gateway": self.gateway}
            )
        now = int(time.time())
        if not now <= request.expiry <= now + self.max_ttl:
            raise Refusal(
                "RequestExpired",
                grant_id,
                {"expiry": request.expiry, "now": now, "maxTtl": self.max_ttl},
            )
        if not self.nonces.claim(signer, request.nonce, request.expiry, now):
            raise Refusal("RequestReplayed", grant_id, {"nonce": request.nonce, "signer": signer})
        try:
            return self._against_chain(grant_id, signed, requester)
        except LedgerError as exc:
            if isinstance(exc, ContractRevert) and exc.error_name == "UnknownGrant":
                raise Refusal("UnknownGrant", grant_id, {"grantId": grant_id}) from None
            raise Refusal("ChainUnavailable", grant_id, {"reason": str(exc)}) from None

    def _against_chain(
        self, grant_id: str, signed: SignedRequest, requester: PublicKey
    ) -> Authorised:
        request = signed.request
        ledger = self.ledger
        block = ledger.history.latest_block()
        grant = ledger.grants.get(grant_id, block)
        context = {"grantor": f"the grantor {grant.grantor}"}
        signer = requester.to_checksum_address()
        if signer != grant.grantee:
            raise Refusal("NotGrantee", grant_id, {"grantId": grant_id, "caller": signer})
        dataset = self.sources.datasets.get(DatasetId(grant.dataset_id))
        served_here = ledger.datasets.gateway(grant.dataset_id, block).gateway == self.gateway
        if dataset is None or not served_here:
            raise Refusal(
                "DatasetNotServed", grant_id, {"grantId": grant_id, "datasetId": grant.dataset_id}
            )
        if grant.status is not GrantStatus.ACTIVE:
            raise Refusal(
                "WrongStatus",
                grant_id,
                {"grantId": grant_id, "status": int(grant.status)},
                context=context,
            )
        # A grant is used only while both its agencies hold their roles (DataGrants).
        for agency, role in ((grant.grantee, Role.GRANTEE), (grant.grantor, Role.GRANTOR)):
            if not ledger.consortium.has_role(agency, role, block):
                raise Refusal("MissingRole", grant_id, {"agency": agency, "role": int(role)})
        columns = self._columns(grant_id, grant, dataset, signed)
        filtered = {c.column for c in request.filter}
        mask = dataset.schema.field_mask([*columns, *filtered])
        if mask & ~grant.field_scope:
            raise Refusal(
                "FieldsOutOfScope",
                grant_id,
                {"grantId": grant_id, "fieldsMask": mask, "fieldScope": grant.field_scope},
            )
        if grant.accesses_used >= grant.access_quota:
            raise Refusal(
                "QuotaExhausted",
                grant_id,
                {"grantId": grant_id, "accessQuota": grant.access_quota},
                context=context,
            )
        try:
            self.sources.check_values(dataset, request.filter)
        except BadValue as bad:
            raise Refusal(
                "BadFilterValue",
                grant_id,
                {"column": bad.column, "value": bad.text, "type": bad.kind},
                field=f"request.filter[{bad.condition}].values[{bad.value}]",
            ) from None
        return Authorised(
            grant=grant,
            block=block,
            dataset=dataset,
            columns=columns,
            fields_mask=mask,
            filter=request.filter,
            requester=requester,
            request_hash=request.request_hash(self.domain),
        )

    @staticmethod
    def _columns(
        grant_id: str, grant: Grant, dataset: Dataset, signed: SignedRequest
    ) -> tuple[str, ...]:
        """The columns to deliver (every granted one when the request names none); refuses a
        field or filter column the schema does not have."""
        names = dataset.schema.names
        named: Mapping[str, str] = {
            **{f"request.fields[{i}]": name for i, name in enumerate(signed.request.fields)},
            **{
                f"request.filter[{i}].column": c.column for i, c in enumerate(signed.request.filter)
            },
        }
        for field, name in named.items():
            if name not in names:
                raise Refusal(
                    "UnknownField",
                    grant_id,
                    {"field": field, "name": name, "columns": list(names)},
                    field=field,
                )
        if signed.request.fields:
            return tuple(signed.request.fields)
        return dataset.schema.fields_of(grant.field_scope & ((1 << len(names)) - 1))
