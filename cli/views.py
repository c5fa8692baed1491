"""The chain's records as the CLI prints them: every id with the name of what it is beside it
(`grantee` and `grantee_name`, `dataset_id` and `dataset`), so that `--json` carries both and
tables show names."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cityledger.cli.output import jsonable

if TYPE_CHECKING:
    from cityledger.cli.names import Names
    from cityledger.sdk.models import (
        AccessRecord,
        Agency,
        Dataset,
        Finding,
        Grant,
        Incident,
    )


def field_indices(mask: int) -> list[int]:
    """A field mask as the indices it names: 0b1001 is [0, 3]."""
    return [i for i in range(mask.bit_length()) if mask >> i & 1]


def grant_view(names: Names, grant: Grant) -> dict[str, Any]:
    return {
        **jsonable(grant),
        "dataset": names.dataset_name(grant.dataset_id),
        "grantor_name": names.agency_name(grant.grantor),
        "grantee_name": names.agency_name(grant.grantee),
        "fields": field_indices(grant.field_scope),
    }


GRANT_FIELDS = {  # `grant show`
    "id": "grant",
    "status": "status",
    "dataset": "dataset",
    "grantor_name": "grantor",
    "grantor": "grantor address",
    "grantee_name": "grantee",
    "grantee": "grantee address",
    "purpose_code": "purpose",
    "purpose_hash": "purpose text hash",
    "fields": "fields",
    "accesses_used": "accesses used",
    "access_quota": "quota",
    "valid_from": "valid from (UTC)",
    "valid_until": "valid until (UTC)",
    "conditions_hash": "conditions hash",
}
GRANT_COLUMNS = {
    "id": "grant",
    "status": "status",
    "dataset": "dataset",
    "grantor_name": "grantor",
    "grantee_name": "grantee",
    "purpose_code": "purpose",
    "fields": "fields",
    "accesses_used": "used",
    "access_quota": "quota",
    "valid_until": "valid until (UTC)",
}


def dataset_view(names: Names, dataset: Dataset) -> dict[str, Any]:
    return {
        "name": names.dataset_name(dataset.id),
        **jsonable(dataset),
        "owner_name": names.agency_name(dataset.owner),
        "city": names.city_name(dataset.city_id),
    }


DATASET_FIELDS = {  # `dataset show`
    "name": "dataset",
    "id": "id",
    "owner_name": "owner",
    "owner": "owner address",
    "city": "city",
    "sensitivity": "sensitivity",
    "field_count": "fields",
    "schema_hash": "schema hash",
    "registered_at": "registered (UTC)",
    "gateway_name": "gateway",
    "gateway": "gateway address",
    "gateway_url": "gateway url",
}
DATASET_COLUMNS = {
    "name": "dataset",
    "owner_name": "owner",
    "sensitivity": "sensitivity",
    "field_count": "fields",
    "registered_at": "registered (UTC)",
    "id": "id",
}


def agency_view(names: Names, agency: Agency) -> dict[str, Any]:
    return {
        "name": agency.name,
        "address": agency.address,
        "roles": ",".join(agency.role_names).lower(),
        "active": agency.active,
        "city_id": agency.city_id,
        "city": names.city_name(agency.city_id),
    }


AGENCY_COLUMNS = ["name", "city", "roles", "active", "address"]


def incident_view(names: Names, incident: Incident) -> dict[str, Any]:
    return {
        **jsonable(incident),
        "dataset": names.dataset_name(incident.dataset_id),
        "reporter_name": names.agency_name(incident.reporter),
    }


INCIDENT_FIELDS = {  # `leak show`
    "id": "incident",
    "dataset": "dataset",
    "status": "status",
    "reporter_name": "reported by",
    "reported_at": "reported (UTC)",
    "updated_at": "updated (UTC)",
    "evidence_hash": "evidence hash",
    "finding_count": "findings",
    "suspended_count": "suspended grants",
}
INCIDENT_COLUMNS = {
    "id": "incident",
    "dataset": "dataset",
    "status": "status",
    "reporter_name": "reported by",
    "reported_at": "reported (UTC)",
    "finding_count": "findings",
    "suspended_count": "suspended grants",
}


def finding_view(names: Names, finding: Finding) -> dict[str, Any]:
    grant = names.ledger.grants.get(finding.grant_id)
    return {
        **jsonable(finding),
        "grantee": grant.grantee,
        "grantee_name": names.agency_name(grant.grantee),
        "auditor_name": names.agency_name(finding.auditor),
    }


FINDING_COLUMNS = {
    "index": "finding",
    "grant_id": "grant",
    "grantee_name": "grantee (whose copy)",
    "score": "score",
    "method": "method",
    "auditor_name": "recorded by",
    "recorded_at": "recorded (UTC)",
}


def access_view(names: Names, record: AccessRecord) -> dict[str, Any]:
    return {
        **jsonable(record),
        "dataset": names.dataset_name(record.dataset_id),
        "accessor_name": names.agency_name(record.accessor),
        "recorded_by_name": names.agency_name(record.recorded_by),
    }


ACCESS_COLUMNS = {
    "timestamp": "time (UTC)",
    "accessor_name": "by",
    "grant_id": "grant",
    "dataset": "dataset",
    "access_number": "access",
    "record_count": "records",
    "recorded_by_name": "recorded by",
    "block_number": "block",
}
