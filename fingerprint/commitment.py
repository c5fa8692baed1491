"""The delivery commitment: what goes on chain, through LeakRegistry.registerDelivery, before a
marked copy leaves the owner.

    commitment = DeliveryCommitment.of(keys, grant_id, schema, file_hash=file_hash(path),
                                       rows=copy.num_rows, columns=copy.column_names)
    ledger.leaks.register_delivery(grant_id, commitment=commitment.digest(),
                                   method=METHOD, records=commitment.rows)

The digest (keccak256 of the canonical JSON) fixes the grant key (by its hash), the scheme and
its parameters, the schema, the delivered file's hash, its rows and columns. Keeping the JSON
(the preimage) lets the owner later show a verifier that the key it reveals is the one that
was committed before the leak: `KeptCommitments` keeps them beside the dataset's secret file,
one line each, written before the commitment goes on chain.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
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


class KeptCommitments:
    """The preimages of a dataset's delivery commitments, kept by its owner (or its gateway) in
    SECRET.commitments.jsonl beside the secret file: a reveal needs them, the chain holds only
    their hashes. Lines are appended under a lock, so a gateway and the owner's CLI can share
    the file."""

    def __init__(self, secret: Path) -> None:
        self.path = secret.with_name(secret.name + ".commitments.jsonl")

    def keep(self, commitment: DeliveryCommitment) -> None:
        """Appends the commitment's canonical JSON and waits until it is on disk."""
        line = (commitment.canonical_json() + "\n").encode()
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as exc:
            raise FingerprintError(f"cannot keep the commitment in {self.path}: {exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def of_grant(self, grant_id: str) -> list[DeliveryCommitment]:
        """The grant's kept commitments, each once, in the order they were kept."""
        grant = hex32(grant_id)
        found: dict[str, DeliveryCommitment] = {}
        try:
            # A last line without its newline was cut short before it was kept, so before its
            # commitment could go on chain: it is left out.
            lines = self.path.read_text(encoding="utf-8").split("\n")[:-1]
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as exc:
            raise FingerprintError(f"cannot read the kept commitments {self.path}: {exc}") from None
        for number, line in enumerate(lines, 1):
            try:
                commitment = DeliveryCommitment.from_json_object(json.loads(line))
            except (json.JSONDecodeError, FingerprintError) as exc:
                raise FingerprintError(f"{self.path}:{number}: {exc}") from None
            if commitment.grant_id == grant:
                found.setdefault(commitment.digest(), commitment)
        return list(found.values())
