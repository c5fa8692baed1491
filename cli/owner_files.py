"""A dataset's files as its owner keeps them: the original data, the schema and the secret.

Named by options (`--source`, `--schema`, `--secret`) or else by the config file's
`[[datasets]]` table for the dataset (settings.py), and checked before use: the schema must be
the one registered on chain, the secret the dataset's. Needs cityledger[data].
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cityledger.cli.context import CliError, CliState, fingerprint_errors, passphrase
from cityledger.cli.settings import config_path
from cityledger.fingerprint.commitment import KeptCommitments
from cityledger.fingerprint.keys import DatasetKeys
from cityledger.fingerprint.matching import Reference
from cityledger.sdk.grants_client import dataset_id
from cityledger.sdk.ledger import Ledger
from cityledger.sdk.schema import DatasetSchema


@dataclass(frozen=True)
class OwnerDataset:
    name: str  # as the secret file names it
    schema: DatasetSchema
    keys: DatasetKeys
    source: Path | None  # the original data, where the command needs it
    kept: KeptCommitments  # the preimages of its delivery commitments, beside the secret

    def reference(self) -> Reference:
        """The original data, prepared for tracing."""
        if self.source is None:
            raise CliError(f"no original data of {self.name}: give --source FILE")
        with fingerprint_errors():
            return Reference.load(self.source, self.schema, self.keys)


def owner_dataset(
    cli: CliState,
    ledger: Ledger,
    dataset: str,
    *,
    source: Path | None = None,
    schema: Path | None = None,
    secret: Path | None = None,
    need_source: bool = False,
) -> OwnerDataset:
    """The owner's files of `dataset` (a name or an id), loaded and checked."""
    wanted = dataset_id(dataset)
    configured = next((d for d in cli.settings.datasets if dataset_id(d.name) == wanted), None)
    if configured is not None:
        source = source or configured.source
        schema = schema or configured.schema
        secret = secret or configured.secret
    if schema is None or secret is None or (need_source and source is None):
        options = "--source, --schema and --secret" if need_source else "--schema and --secret"
        raise CliError(
            f"where are the files of dataset {dataset}? give {options}, or a [[datasets]] table "
            f"for it in the config file {config_path()}"
        )
    loaded = DatasetSchema.load(schema)
    registered = ledger.datasets.get(wanted)
    if loaded.schema_hash != registered.schema_hash:
        raise CliError(
            f"the schema {schema} hashes to {loaded.schema_hash}, but dataset {dataset} "
            f"registered {registered.schema_hash}"
        )
    with fingerprint_errors():
        keys = DatasetKeys.load(secret, passphrase(f"Passphrase for the secret {secret}"))
    if keys.dataset_id != wanted:
        raise CliError(f"{secret} is the secret of {keys.dataset}, not of dataset {dataset}")
    return OwnerDataset(keys.dataset, loaded, keys, source, KeptCommitments(secret))
