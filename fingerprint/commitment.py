"""The delivery commitment: what goes on chain, through LeakRegistry.registerDelivery, before a
marked copy leaves the owner.

    commitment = DeliveryCommitment.of(keys, grant_id, schema, file_hash=file_hash(path),
                                       rows=copy.num_rows, columns=copy.column_names)
    ledger.leaks.register_delivery(grant_id, commitment=commitment.digest(),
                                   method=METHOD, records=commitment.rows)

The digest (keccak256 of the canonical JSON) fixes the grant key (by its hash), the scheme and
its parameters, the schema, the delivered file's hash, its rows and columns. Keeping the JSON
(the preimage) lets the owner later show a verifier that the key it reveals is the one that
was committed before the leak.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_utils import keccak

from cityledger.fingerprint.errors import FingerprintError
from cityledger.fingerprint.keys import DatasetKeys
from cityledger.fingerprint.scheme import NAME, PARAMETERS, VERSION
from cityledger.sdk.models import hex32
from cityledger.sdk.schema import DatasetSchema


@dataclass(frozen=True)
class DeliveryCommitment:
    dataset_id: str
    grant_id: str
    key_commitment: str  # GrantKey.commitment
    schema_hash: str
    file_hash: str  # 0x-hex SHA-256 of the delivered file's bytes
    rows: int
    columns: tuple[str, ...]
    scheme: str = NAME
    version: int = VERSION
    parameters: dict[str, Any] = field(default_factory=PARAMETERS.to_json_object)

    @classmethod
    def of(
        cls,
        keys: DatasetKeys,
        grant_id: str,
        schema: DatasetSchema,
        *,
        file_hash: str,
        rows: int,
        columns: tuple[str, ...] | list[str],
    ) -> DeliveryCommitment:
        return cls(
            dataset_id=keys.dataset_id,
            grant_id=hex32(grant_id),
            key_commitment=keys.grant(grant_id).commitment,
            schema_hash=schema.schema_hash,
            file_hash=hex32(file_hash),
            rows=rows,
            columns=tuple(columns),
        )

    def to_json_object(self) -> dict[str, Any]:
        return {
            "scheme": self.scheme,
            "version": self.version,
            "parameters": self.parameters,
            "datasetId": self.dataset_id,
            "grantId": self.grant_id,
            "keyCommitment": self.key_commitment,
            "schemaHash": self.schema_hash,
            "fileHash": self.file_hash,
            "rows": self.rows,
            "columns": list(self.columns),
        }

    def canonical_json(self) -> str:
        return json.dumps(
            self.to_json_object(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )

    def digest(self) -> str:
        """0x-hex keccak256 of the canonical JSON: the bytes32 commitment on chain."""
        return "0x" + keccak(text=self.canonical_json()).hex()

    @classmethod
    def from_json_object(cls, obj: Any) -> DeliveryCommitment:
        try:
            columns = obj["columns"]
            if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
                raise TypeError("columns must be a list of names")
            made = cls(
                dataset_id=hex32(obj["datasetId"]),
                grant_id=hex32(obj["grantId"]),
                key_commitment=hex32(obj["keyCommitment"]),
                schema_hash=hex32(obj["schemaHash"]),
                file_hash=hex32(obj["fileHash"]),
                rows=int(obj["rows"]),
                columns=tuple(columns),
                scheme=str(obj["scheme"]),
                version=int(obj["version"]),
                parameters=dict(obj["parameters"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise FingerprintError(f"not a delivery commitment ({exc})") from None
        if made.to_json_object() != obj:
            raise FingerprintError("a delivery commitment with fields out of their canonical form")
        return made


def file_hash(path: Path) -> str:
    """0x-hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return "0x" + digest.hexdigest()
