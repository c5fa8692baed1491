"""The gateway's wiring, in one place: from its configuration to a running HTTPS server.

At start it refuses to serve, saying why, unless its key is a GATEWAY agency, every configured
dataset is registered on chain with the schema hash of its configured schema, designates this
gateway at this URL, and fits its file; and unless its attempt log extends what it anchored."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from dataclasses import dataclass

import uvicorn

from cityledger.fingerprint.commitment import KeptCommitments
from cityledger.fingerprint.errors import SecretFileError
from cityledger.fingerprint.keys import DatasetKeys
from cityledger.gateway.app import DatasetInfo, GatewayInfo, create_app
from cityledger.gateway.attempts import Anchorer, AttemptLog, AttemptLogError
from cityledger.gateway.checks import Checker
from cityledger.gateway.config import ConfigError, DatasetSource, GatewayConfig
from cityledger.gateway.deliveries import Deliverer
from cityledger.gateway.limits import BodyLimits
from cityledger.gateway.nonces import NonceStore
from cityledger.gateway.sources import SourceError, Sources
from cityledger.sdk.errors import ContractRevert, LedgerError
from cityledger.sdk.ledger import Ledger
from cityledger.sdk.models import DatasetId, Role
from cityledger.sdk.schema import DatasetSchema, SchemaError
from cityledger.sdk.signers import KeystoreError, Signer, load_keystore

log = logging.getLogger("cityledger.gateway")

MAX_BODY_BYTES = 64 << 10
MAX_JSON_DEPTH = 8


class GatewayStartError(Exception):
    """The gateway cannot serve as configured; the message says why and what to do."""


@dataclass
class Gateway:
    config: GatewayConfig
    server: uvicorn.Server
    anchorer: Anchorer
    nonces: NonceStore
    attempts: AttemptLog

    def run(self) -> None:
        self.anchorer.start()
        try:
            self.server.run()
        finally:
            self.anchorer.stop()
            self.nonces.close()
            self.attempts.close()


def _dataset(
    ledger: Ledger, signer: Signer, config: GatewayConfig, source: DatasetSource, sources: Sources
) -> DatasetSchema:
    """Checks one configured dataset against the chain and serves its file."""
    name = source.name
    try:
        schema = DatasetSchema.load(source.schema)
    except SchemaError as exc:
        raise GatewayStartError(f"dataset {name}: {exc}") from None
    try:
        registered = ledger.datasets.get(name)
    except ContractRevert as exc:
        if exc.error_name != "UnknownDataset":
            raise
        raise GatewayStartError(
            f"dataset {name} is not registered on chain; its owner registers it first"
        ) from None
    if schema.schema_hash != registered.schema_hash:
        raise GatewayStartError(
            f"dataset {name}: the configured schema {source.schema} hashes to "
            f"{schema.schema_hash}, but the dataset registered schema hash "
            f"{registered.schema_hash}; serve the schema that was registered"
        )
    designation = ledger.datasets.gateway(registered.id)
    if (designation.gateway, designation.url) != (signer.address, config.url):
        raise GatewayStartError(
            f"dataset {name} designates gateway {designation.gateway} at {designation.url!r}, "
            f"not this gateway {signer.address} at {config.url!r}; its owner designates this "
            "one (cityledger dataset set-gateway)"
        )
    try:
        sources.add(name, registered.id, schema, source.source)
    except SourceError as exc:
        raise GatewayStartError(str(exc)) from None
    return schema


def build(config: GatewayConfig) -> Gateway:
    """Everything the gateway needs, checked; raises GatewayStartError if it cannot serve."""
    try:
        passphrase = config.passphrase()
        signer = load_keystore(config.keystore, passphrase)
    except (ConfigError, KeystoreError) as exc:
        raise GatewayStartError(str(exc)) from None
    ledger = Ledger.connect(config.rpc, signer, consortium=config.consortium)
    try:
        if not ledger.consortium.has_role(signer.address, Role.GATEWAY):
            raise GatewayStartError(
                f"the gateway's key {signer.address} is not an active agency with the GATEWAY "
                "role; its city admin registers it (cityledger agency register ADDRESS "
                "--roles gateway)"
            )
        sources = Sources(config.duckdb_memory_mb, config.duckdb_threads)
        keys: dict[DatasetId, DatasetKeys] = {}
        kept: dict[DatasetId, KeptCommitments] = {}
        infos = []
        for source in config.datasets:
            schema = _dataset(ledger, signer, config, source, sources)
            dataset_id = next(i for i, d in sources.datasets.items() if d.name == source.name)
            try:
                keys[dataset_id] = DatasetKeys.load(source.secret, passphrase)
            except SecretFileError as exc:
                raise GatewayStartError(f"dataset {source.name}: {exc}") from None
            if keys[dataset_id].dataset_id != dataset_id:
                raise GatewayStartError(
                    f"dataset {source.name}: {source.secret} is the secret of another dataset"
                )
            kept[dataset_id] = KeptCommitments(source.secret)
            if not os.access(kept[dataset_id].path.parent, os.W_OK):
                raise GatewayStartError(
                    f"dataset {source.name}: the preimages of delivery commitments are kept in "
                    f"{kept[dataset_id].path}, but its folder is not writable"
                )
            infos.append(
                DatasetInfo(
                    name=source.name,
                    datasetId=dataset_id,
                    schemaHash=schema.schema_hash,
                    columns=list(schema.names),
                )
            )
        attempts = AttemptLog(config.attempt_log)
        anchorer = Anchorer(attempts, ledger.access, config.anchor_interval)
        try:
            anchorer.check(signer.address)
        except AttemptLogError as exc:
            raise GatewayStartError(str(exc)) from None
        info = GatewayInfo(
            gateway=signer.address,
            url=config.url,
            chainId=ledger.chain.chain_id,
            dataGrants=ledger.chain.addresses["DataGrants"],
            datasets=infos,
        )
    except LedgerError as exc:
        raise GatewayStartError(f"cannot read the chain at {config.rpc}: {exc}") from None
    # Files left by a gateway that was killed mid-delivery: never recorded, or already sent.
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(config.spool_dir)
    config.spool_dir.mkdir(parents=True)
    nonces = NonceStore(config.nonce_db)
    deliverer = Deliverer(
        ledger,
        signer,
        Checker(ledger, signer.address, sources, nonces, config.max_request_ttl),
        sources,
        keys,
        kept,
        attempts,
        config.spool_dir,
        batch_rows=config.batch_rows,
        max_deliveries=config.max_deliveries,
    )
    app = BodyLimits(
        create_app(deliverer, info, config.attempt_log), MAX_BODY_BYTES, MAX_JSON_DEPTH
    )
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            ssl_certfile=config.tls_cert,
            ssl_keyfile=config.tls_key,
            http="httptools",
            lifespan="off",
            server_header=False,
            log_level="warning",
        )
    )
    log.info("gateway %s serving %s at %s", signer.address, [d.name for d in infos], config.url)
    return Gateway(config, server, anchorer, nonces, attempts)
